"""The guides run as written: every code block of docs/guides/*.md (see _guide_blocks.py for
how blocks are run, chained and given servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _guide_blocks import (
    RUN,
    SHOWN,
    ChainFailed,
    chains,
    missing_requirement,
    parse_page,
    run_chain,
)

GUIDES = sorted((Path(__file__).resolve().parents[2] / "docs" / "guides").glob("*.md"))
CHAINS = [chain for page in GUIDES for chain in chains(parse_page(page))]


def test_every_guide_has_code_and_every_block_a_known_language() -> None:
    assert GUIDES
    for page in GUIDES:
        blocks = parse_page(page)
        assert any(block.lang in RUN for block in blocks), f"{page.name} has no code to run"
        for block in blocks:
            assert block.lang in RUN | SHOWN, f"{page.name}:{block.line}: {block.lang!r}"


@pytest.mark.parametrize("chain", CHAINS, ids=[chain.name for chain in CHAINS])
def test_guide_code_runs(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    skipped = [block for block in chain.blocks if block.skip]
    if skipped:
        assert len(chain.blocks) == 1, f"{chain.name}: a skipped block cannot be chained"
        pytest.skip(f"not run: {skipped[0].skip}")
    why = missing_requirement(chain)
    if why:
        pytest.skip(why)
    run_chain(chain, tmp_path)


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_a_failing_block_fails_its_chain(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "```python\nopen('made', 'w').close()\n```\n\n<!-- test: continue -->\n```sh\n"
        "test -e made\nfalse\n```\n",
    )
    (chain,) = chains(parse_page(page))
    (tmp_path / "run").mkdir()
    with pytest.raises(ChainFailed, match=r"page.md:6 \(sh\) exited with 1, expected 0"):
        run_chain(chain, tmp_path / "run")


def test_continued_python_blocks_form_one_script_and_exit_codes_are_checked(
    tmp_path: Path,
) -> None:
    page = _page(
        tmp_path,
        "```python\nx = 41\n```\n<!-- test: continue -->\n```python\nassert x == 41\n"
        "import sys; sys.exit(3)\n```\n\n```python\nx\n```\n",
    )
    first, second = chains(parse_page(page))
    (tmp_path / "a").mkdir()
    with pytest.raises(ChainFailed, match="exited with 3, expected 0"):
        run_chain(first, tmp_path / "a")
    first.blocks[-1].exit_code = 3
    run_chain(first, tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(ChainFailed, match="NameError"):
        run_chain(second, tmp_path / "b")


def test_background_processes_of_a_chain_are_stopped(tmp_path: Path) -> None:
    page = _page(tmp_path, "```sh\nsleep 600 &\necho $! > pid\n```\n")
    (chain,) = chains(parse_page(page))
    run_chain(chain, tmp_path)
    pid = int((tmp_path / "pid").read_text())
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] == "Z"


def test_unknown_directives_and_unlabelled_blocks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown test directive 'sometimes'"):
        parse_page(_page(tmp_path, "<!-- test: sometimes -->\n```python\npass\n```\n"))
    with pytest.raises(ValueError, match="without a language"):
        parse_page(_page(tmp_path, "```\npass\n```\n"))
