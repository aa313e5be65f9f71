"""Reads the code blocks of the guides (docs/guides/*.md) and runs them as a reader would.

Each fenced block has a language. ``python`` blocks are saved as a script and run with
``python SCRIPT``; ``sh`` and ``bash`` blocks run with ``bash -e``; blocks in another
language (output, configuration) are only shown (:data:`SHOWN`). Both run in a scratch
directory, with ``trialstore``, ``python`` and the test environment's other scripts on the
``PATH``, as a reader has them.

An HTML comment on the line right above a fence, invisible on the site, directs the run:

* ``<!-- test: continue -->``: the block goes on from the one before: same scratch directory,
  and a python block right after a python block extends the same script. Blocks joined this
  way form a *chain*, which is one test, run in order;
* ``<!-- test: needs postgresql -->`` (``mysql``, ``redis``, or a module to import): the chain
  runs only when that server's ``TRIALSTORE_TEST_*`` URL is set (then it is required, as in
  the rest of the suite) or the module imports;
* ``<!-- test: exit 1 -->``: the block is expected to end with that exit code;
* ``<!-- test: file NAME -->``: the block is saved as NAME (as the text asks the reader to)
  instead of being run; later blocks of the chain use it;
* ``<!-- test: skip REASON -->``: the block is not run, for the reason given (shown by
  pytest; the rest of the comment). Only for what cannot run on the test machine at all.

Several directives go in one comment, separated by ``;``.

The guides name servers and ports as a reader would (:data:`DOC_URLS`, port ``13000``). A
chain gets its own resources in their place: a new database on the test server (dropped
afterwards), a fresh Redis key prefix (deleted afterwards), a free port. Processes a chain
leaves running (``trialstore grpc-proxy ... &``) are stopped when it ends.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from trialstore.stress._procs import processes

__all__ = [
    "DOC_URLS",
    "RUN",
    "SHOWN",
    "Block",
    "Chain",
    "ChainFailed",
    "parse_page",
    "run_chain",
]

ROOT = Path(__file__).resolve().parents[2]
RUN = {"python", "sh", "bash"}
SHOWN = {"text", "console", "json", "yaml", "toml", "ini", "dockerfile"}
SERVERS = {
    "postgresql": "TRIALSTORE_TEST_POSTGRES_URL",
    "mysql": "TRIALSTORE_TEST_MYSQL_URL",
    "redis": "TRIALSTORE_TEST_REDIS_URL",
}
#: How the guides name each server (what the Docker commands of the getting-started guide
#: start); a chain that needs the server gets its own database or key prefix in their place.
DOC_URLS = {
    "postgresql": re.compile(
        r"postgresql(\+psycopg)?://postgres:secret@127\.0\.0\.1:5432/trialstore"
    ),
    "mysql": re.compile(r"mysql(\+pymysql)?://root:secret@127\.0\.0\.1:3306/trialstore"),
    "redis": re.compile(r"journal\+redis://127\.0\.0\.1:6379/0\?prefix=([\w-]+)"),
}
DOC_PORT = "13000"
STEP_TIMEOUT = 300.0

_FENCE = re.compile(r"^```(\S*)")
_DIRECTIVE = re.compile(r"^<!--\s*test:\s*(.*?)\s*-->$")


@dataclasses.dataclass
class Block:
    """One fenced block of a page."""

    page: Path
    line: int
    lang: str
    code: str
    chained: bool = False
    needs: tuple[str, ...] = ()
    skip: str | None = None
    exit_code: int = 0
    file: str | None = None


@dataclasses.dataclass
class Chain:
    """Blocks run one after the other in one scratch directory: one test."""

    blocks: list[Block]

    @property
    def name(self) -> str:
        first = self.blocks[0]
        return f"{first.page.stem}:{first.line}"

    @property
    def needs(self) -> set[str]:
        return {need for block in self.blocks for need in block.needs}


class ChainFailed(AssertionError):
    """A block of a chain did not end as expected."""


def _directives(comment: str, block: Block) -> None:
    parts = [p.strip() for p in comment.split(";")]
    for index, part in enumerate(parts):
        if part.startswith("skip "):  # the reason is the rest of the comment
            parts[index:] = ["; ".join(parts[index:])]
            break
    for part in filter(None, parts):
        word, _, rest = part.partition(" ")
        rest = rest.strip()
        if word == "continue" and not rest:
            block.chained = True
        elif word == "needs" and rest:
            block.needs = (*block.needs, *rest.split())
        elif word == "exit" and rest.isdigit():
            block.exit_code = int(rest)
        elif word == "skip" and rest:
            block.skip = rest
        elif word == "file" and rest and "/" not in rest:
            block.file = rest
        else:
            raise ValueError(f"{block.page.name}:{block.line}: unknown test directive {part!r}")


def parse_page(page: Path) -> list[Block]:
    """Every fenced block of ``page`` with the directives above it.

    Raises:
        ValueError: a fence without a language, or an unknown directive.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        lang = match.group(1)
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if not lang:
            raise ValueError(f"{page.name}:{start + 1}: a code block without a language")
        block = Block(page, start + 1, lang, "\n".join(body) + "\n")
        directive = _DIRECTIVE.match(lines[start - 1].strip()) if start else None
        if directive:
            _directives(directive.group(1), block)
        blocks.append(block)
    return blocks


def chains(blocks: list[Block]) -> list[Chain]:
    """The runnable blocks grouped into chains (``continue`` joins a block to the one before).

    Raises:
        ValueError: a shown-only block in a chain, or a chain that starts with ``continue``.
    """
    found: list[Chain] = []
    for block in blocks:
        if block.lang not in RUN:
            if block.chained:
                raise ValueError(
                    f"{block.page.name}:{block.line}: a {block.lang} block is not run"
                )
            continue
        if block.chained:
            if not found or found[-1].blocks[-1].page != block.page:
                raise ValueError(f"{block.page.name}:{block.line}: nothing to continue")
            found[-1].blocks.append(block)
        else:
            found.append(Chain([block]))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _fresh_database(kind: str, url: str) -> Iterator[str]:
    import sqlalchemy as sa

    base = sa.engine.make_url(url)
    name = f"ts_guide_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if kind == "postgresql" else ""
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


@contextmanager
def _fresh_prefix(url: str) -> Iterator[str]:
    import redis

    prefix = f"ts-guide-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def _server_substitutions(
    kind: str, url: str, stack: ExitStack
) -> list[tuple[re.Pattern[str], str]]:
    """What to put in place of the guides' URL of ``kind`` (see :data:`DOC_URLS`)."""
    if kind == "redis":
        prefix = stack.enter_context(_fresh_prefix(url))
        hostport = url.partition("://")[2]
        return [(DOC_URLS["redis"], rf"journal+redis://{hostport}?prefix={prefix}-\1")]
    fresh = stack.enter_context(_fresh_database(kind, url))
    rest = fresh.partition("://")[2]
    scheme = "postgresql" if kind == "postgresql" else "mysql"
    return [(DOC_URLS[kind], rf"{scheme}\1://{rest}")]


def _shim_bin(directory: Path) -> Path:
    """A directory with ``trialstore`` and ``python`` for the interpreter running the tests."""
    directory.mkdir(exist_ok=True)
    for name, command in (("trialstore", "-m trialstore.cli"), ("python", "")):
        path = directory / name
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" {command} "$@"\n')
        path.chmod(0o755)
    return directory


def _stop_group(pgid: int) -> None:
    """SIGTERM the group (a server stops gracefully), SIGKILL what is left after 15 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not processes(group=pgid):
            return
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while processes(group=pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def _steps(chain: Chain) -> list[tuple[Block, str]]:
    """The chain as steps: consecutive python blocks joined into one script."""
    steps: list[tuple[Block, str]] = []
    for block in chain.blocks:
        joins = block.lang == "python" and block.file is None
        previous = steps[-1][0] if steps else None
        if (
            previous
            and block.chained
            and joins
            and previous.lang == "python"
            and not previous.file
        ):
            steps[-1] = (block, steps[-1][1] + "\n" + block.code)
        else:
            steps.append((block, block.code))
    return steps


def missing_requirement(chain: Chain) -> str | None:
    """Why the chain cannot run here (a server not configured, a module missing), or None."""
    for need in sorted(chain.needs):
        if need in SERVERS:
            if not os.environ.get(SERVERS[need]):
                return f"{need} suite not run: set {SERVERS[need]} to enable it"
        elif importlib.util.find_spec(need) is None:
            return f"needs the module {need}"
    return None


def run_chain(chain: Chain, scratch: Path) -> None:
    """Run the chain's blocks in order in ``scratch``.

    Raises:
        ChainFailed: a block ended with another exit code than expected (the message holds its
            output), or a block that needs a server does not name it as the guides do.
    """
    with ExitStack() as stack:
        substitutions: list[tuple[re.Pattern[str], str]] = []
        for need in sorted(chain.needs & SERVERS.keys()):
            if not any(DOC_URLS[need].search(block.code) for block in chain.blocks):
                raise ChainFailed(f"{chain.name} needs {need} but names no {need} URL")
            substitutions += _server_substitutions(need, os.environ[SERVERS[need]], stack)
        port = str(_free_port())
        bin_dir = _shim_bin(scratch / ".bin")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALSTORE_GRPC")}
        # The shims first, then the test environment's scripts (optuna-dashboard, ...).
        scripts = os.path.dirname(sys.executable)
        env["PATH"] = os.pathsep.join([str(bin_dir), scripts, env.get("PATH", "")])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        groups: list[int] = []
        try:
            for index, (block, code) in enumerate(_steps(chain)):
                code = code.replace(DOC_PORT, port)
                for pattern, replacement in substitutions:
                    code = pattern.sub(replacement, code)
                if block.file:
                    (scratch / block.file).write_text(code)
                    continue
                if block.lang == "python":
                    script = scratch / f"step_{index}.py"
                    script.write_text(code)
                    command = [sys.executable, script.name]
                else:
                    command = ["bash", "-e", "-c", code]
                # Output goes to files, not pipes: a process left running in the background
                # would keep a pipe open, and reading it would wait for that process.
                out_path, err_path = scratch / f".step_{index}.out", scratch / f".step_{index}.err"
                with out_path.open("w") as out_file, err_path.open("w") as err_file:
                    process = subprocess.Popen(
                        command,
                        cwd=scratch,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out_file,
                        stderr=err_file,
                        start_new_session=True,
                    )
                    groups.append(process.pid)
                    try:
                        process.wait(timeout=STEP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        _stop_group(process.pid)
                        process.wait()
                out, err = out_path.read_text(), err_path.read_text()
                if process.returncode != block.exit_code:
                    raise ChainFailed(
                        f"{block.page.name}:{block.line} ({block.lang}) exited with "
                        f"{process.returncode}, expected {block.exit_code}\n--- code\n{code}"
                        f"--- stdout\n{out[-4000:]}\n--- stderr\n{err[-4000:]}"
                    )
        finally:
            for pgid in groups:
                _stop_group(pgid)
