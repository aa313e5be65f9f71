"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks``).

* ``changelog.md`` shows ``CHANGELOG.md`` of the repository root, its links read relative to
  the root.
* A link from a page to a source file or folder of the package (``../trialstore/...``, as the
  Markdown pages use for readers of the repository) becomes a link to the API reference page
  that documents that module. A link to any other file outside ``docs/`` is left alone, and
  MkDocs then reports it (a warning, so the strict build fails).
* After the build, every public name of trialstore (``_griffe.public_api``) must be in the
  site's inventory (``objects.inv``): a public name left out of the reference is a warning.
"""

from __future__ import annotations

import importlib.util
import logging
import posixpath
import re
import zlib
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.trialstore")

ROOT = Path(__file__).resolve().parents[1]

#: Package paths (longest prefix wins) -> the reference page documenting them.
MODULE_PAGES = {
    "trialstore/storage/base.py": "reference/storage.md",
    "trialstore/storage/_memory.py": "reference/memory.md",
    "trialstore/storage/journal": "reference/journal.md",
    "trialstore/storage/rdb": "reference/rdb.md",
    "trialstore/storage/grpc": "reference/grpc.md",
    "trialstore/storage": "reference/storage.md",
    "trialstore/study": "reference/study.md",
    "trialstore/trial": "reference/trial.md",
    "trialstore/samplers": "reference/samplers-pruners.md",
    "trialstore/pruners": "reference/samplers-pruners.md",
    "trialstore/distributions.py": "reference/distributions.md",
    "trialstore/exceptions.py": "reference/exceptions.md",
    "trialstore/logging.py": "reference/logging.md",
    "trialstore/conformance": "reference/conformance.md",
    "trialstore/stress": "reference/stress.md",
    "trialstore/interop": "reference/interop-optuna.md",
}

_LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def _reference_page(repo_path: str) -> str | None:
    for prefix in sorted(MODULE_PAGES, key=len, reverse=True):
        if repo_path == prefix or repo_path.startswith(prefix.rstrip("/") + "/"):
            return MODULE_PAGES[prefix]
    return None


#: Pages whose text is a file of the repository root; that file's links are written relative
#: to the root, so ``docs/x.md`` there means the page ``x.md``.
ROOT_FILE_PAGES = {"changelog.md": "CHANGELOG.md"}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Point links to the package's source files at their reference pages."""
    page_dir = posixpath.dirname(page.file.src_uri)
    if page.file.src_uri in ROOT_FILE_PAGES:
        text = (ROOT / ROOT_FILE_PAGES[page.file.src_uri]).read_text(encoding="utf-8")
        markdown = text.replace("](docs/", "](")

    def replace(match: re.Match[str]) -> str:
        target = match.group("target")
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        in_repo = posixpath.normpath(posixpath.join("docs", page_dir, target))
        if in_repo.startswith("docs/") or not (ROOT / in_repo).exists():
            return match.group(0)
        reference = _reference_page(in_repo.rstrip("/"))
        if reference is None:
            return match.group(0)
        return f"]({posixpath.relpath(reference, page_dir or '.')})"

    return _LINK.sub(replace, markdown)


def _inventory(path: Path) -> set[str]:
    """The object names of a Sphinx inventory (version 2) such as mkdocstrings writes."""
    data = path.read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = data.index(b"\n", header_end) + 1
    names = set()
    for line in zlib.decompress(data[header_end:]).decode().splitlines():
        if line.strip():
            names.add(line.split(" ", 1)[0])
    return names


def _public_api() -> set[str]:
    import griffe

    spec = importlib.util.spec_from_file_location(
        "_trialstore_griffe", Path(__file__).with_name("_griffe.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    package = griffe.load("trialstore", search_paths=[str(ROOT)])
    module.add_comment_docstrings(package)
    api: set[str] = module.public_api(package)
    return api


def on_post_build(config: Any) -> None:
    """Warn about each public name the reference does not render."""
    inventory_file = Path(config["site_dir"]) / "objects.inv"
    if not inventory_file.exists():
        log.warning("no objects.inv in the site: the API reference was not built")
        return
    rendered = _inventory(inventory_file)
    for name in sorted(_public_api() - rendered):
        log.warning("public name %s is missing from the API reference", name)
