"""A griffe extension for the API reference: reads trialstore's docstrings as written.

The docstrings are Google style with a few reST habits, which mkdocstrings would show
literally. On the loaded package this extension rewrites, in memory only:

* roles (``:class:`Name```, ``:meth:`~pkg.Cls.meth```, ``:func:``, ``:attr:``, ``:mod:``,
  ``:data:``, ``:exc:``, ``:obj:``) into links to the named object's reference entry, resolved
  from the docstring's own scope (a method without a docstring links to the base-class method
  whose docstring states its contract); a name that is not part of the public API
  (:func:`public_api`) stays a code span;
* a paragraph ending in ``::`` followed by an indented block into a fenced Python block;
* a ``#:`` comment above an attribute into its docstring;
* an ``Args:`` entry documenting several parameters at once (``host, port: ...``) into one
  entry per parameter with the same text.

A link to an object the site does not render fails the strict build (mkdocs-autorefs warns),
and so does a public name missing from the reference (``_hooks.py`` checks the inventory).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj|const):`(~?)\.?([^`<>]+)`")
_SHARED_ARG = re.compile(r"^(\s+)(\w+(?:, \w+)+):(\s.*)?$")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Attributes):\s*$")


def _comment_docstring(obj: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above an attribute's assignment (Sphinx's form of an
    attribute docstring), or None."""
    if obj.lineno is None or obj.filepath is None or isinstance(obj.filepath, list):
        return None
    try:
        lines = obj.filepath.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    comment: list[str] = []
    i = obj.lineno - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#:"):
        comment.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return " ".join(comment) or None


def add_comment_docstrings(obj: griffe.Object, seen: set[int] | None = None) -> None:
    """Give every attribute of ``obj`` (recursively) without a docstring its ``#:`` comment."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if obj.is_attribute and obj.docstring is None:
        text = _comment_docstring(obj)
        if text:
            obj.docstring = griffe.Docstring(text, parent=obj)
    for member in obj.members.values():
        if not member.is_alias:
            add_comment_docstrings(member, seen)  # type: ignore[arg-type]


def _is_private(path: str) -> bool:
    return any(part.startswith("_") for part in path.split("."))


#: Public modules that are no library API: the command line (documented by the guides and
#: ``trialstore COMMAND --help``) and the database migration scripts.
NOT_LIBRARY_API = {"trialstore.cli", "trialstore.storage.rdb.alembic"}


def public_api(pkg: griffe.Module) -> set[str]:
    """The canonical paths of trialstore's public API: every name in the ``__all__`` of a
    public module (no ``_`` in its path; not the command line), and the public members of
    those classes that have a docstring of their own."""
    found: set[str] = set()

    def add_class_members(cls: griffe.Class) -> None:
        for name, member in cls.members.items():
            if name.startswith("_") or member.is_alias or member.docstring is None:
                continue
            found.add(member.path)
            if member.is_class:
                add_class_members(member)  # type: ignore[arg-type]

    def visit(module: griffe.Module) -> None:
        if _is_private(module.path) or module.path in NOT_LIBRARY_API:
            return
        for name in module.exports or ():
            if not isinstance(name, str) or name not in module.members:
                continue
            try:
                member = module.members[name]
                target = member.final_target if isinstance(member, griffe.Alias) else member
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            if not target.path.startswith("trialstore") or target.is_module:
                continue
            found.add(target.path)
            if target.is_class:
                add_class_members(target)  # type: ignore[arg-type]
        for member in module.members.values():
            if not member.is_alias and member.is_module:
                visit(member)  # type: ignore[arg-type]

    visit(pkg)
    return found


def _documented(obj: griffe.Object) -> griffe.Object:
    """``obj``, or for a method without a docstring the nearest base-class method of the
    same name that has one (where its contract is written)."""
    parent = obj.parent
    if obj.docstring is not None or not isinstance(parent, griffe.Class):
        return obj
    try:
        bases = parent.mro()
    except (griffe.AliasResolutionError, griffe.CyclicAliasError, ValueError):
        return obj
    for base in bases:
        member = base.members.get(obj.name)
        if isinstance(member, griffe.Object) and member.docstring is not None:
            return member
    return obj


def _resolve(obj: griffe.Object, target: str, api: set[str]) -> str | None:
    """The canonical path of the public object ``target`` names in ``obj``'s scope, or None
    (nothing found, or not part of the public API and so not in the reference)."""
    first, _, rest = target.partition(".")
    candidates = [target]
    try:
        scope = obj if isinstance(obj, (griffe.Module, griffe.Class)) else obj.parent
        if scope is not None:
            resolved = scope.resolve(first)
            candidates.insert(0, f"{resolved}.{rest}" if rest else resolved)
    except (griffe.NameResolutionError, AttributeError):
        pass
    for path in candidates:
        try:
            found = obj.modules_collection[path]
            found = found.final_target if found.is_alias else found
        except (
            KeyError,
            ValueError,
            AttributeError,
            griffe.AliasResolutionError,
            griffe.CyclicAliasError,
        ):
            continue
        found = _documented(found)
        if found.path in api:
            return found.path
    return None


def _roles(text: str, obj: griffe.Object, api: set[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        short, target = match.group(1), match.group(2).strip()
        shown = target.rsplit(".", 1)[-1] if short else target
        path = _resolve(obj, target, api)
        return f"[`{shown}`][{path}]" if path else f"`{shown}`"

    return _ROLE.sub(replace, text)


def _literal_blocks(text: str) -> str:
    """``text::`` + blank line + indented block -> ``text:`` + a fenced Python block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            indent = len(line) - len(line.lstrip())
            j = i + 2
            block: list[str] = []
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
            ):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                depth = min(len(b) - len(b.lstrip()) for b in block if b.strip())
                pad = " " * indent
                head = line.rstrip()[:-1]
                out += [head, "", f"{pad}```python"]
                out += [pad + b[depth:] if b.strip() else "" for b in block]
                out += [f"{pad}```", ""]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _shared_args(text: str) -> str:
    """``host, port: text`` in an Args section -> one entry per name, each with the text."""
    lines = text.split("\n")
    out: list[str] = []
    in_args = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _SECTION.match(line):
            in_args = True
        elif line.strip() and not line.startswith((" ", "\t")):
            in_args = False
        match = _SHARED_ARG.match(line) if in_args else None
        if match:
            indent, names, first = match.group(1), match.group(2), match.group(3) or ""
            j = i + 1
            more: list[str] = []
            while (
                j < len(lines)
                and lines[j].strip()
                and (len(lines[j]) - len(lines[j].lstrip()) > len(indent))
            ):
                more.append(lines[j])
                j += 1
            for name in names.split(", "):
                out.append(f"{indent}{name}:{first}")
                out.extend(more)
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class TrialstoreDocstrings(griffe.Extension):
    """Rewrites the docstrings of the loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != "trialstore":
            return
        add_comment_docstrings(pkg)
        self._api = public_api(pkg)
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if obj.docstring is not None:
            value = _shared_args(_literal_blocks(obj.docstring.value))
            obj.docstring.value = _roles(value, obj, self._api)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]
