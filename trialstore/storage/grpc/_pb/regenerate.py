"""Regenerate ``storage_pb2.py`` and ``extensions_pb2.py`` (and their ``.pyi``) from the protos.

Run from the repository root (needs ``grpcio-tools``, a test dependency)::

    .venv/bin/python -m trialstore.storage.grpc._pb.regenerate

protoc's output is post-processed in two ways, both checked by ``tests/storage/grpc/test_grpc_pb.py``:

* the ``runtime_version`` gate is removed, so the modules load on every protobuf runtime from
  4.25 on (they use only the descriptor-builder API, which 4.21+ has), not only on runtimes at
  least as new as the protoc that generated them;
* the ``.pyi`` stubs get ``# mypy: ignore-errors`` (protoc's stubs are not strict-clean);
* the files are added to this package's private ``POOL`` instead of protobuf's default pool,
  because Optuna's generated module defines the same ``optuna.*`` names there.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[3]
PROTOS = ("storage.proto", "extensions.proto")
_GATE = re.compile(
    r"from google\.protobuf import runtime_version as _runtime_version\n|"
    r"_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:.*\n)*?\)\n"
)


def postprocess(source: str) -> str:
    """Return protoc's Python output with the version gate removed and the private pool."""
    source = _GATE.sub("", source)
    source = source.replace(
        "from google.protobuf.internal import builder as _builder\n",
        "from google.protobuf.internal import builder as _builder\n"
        "from trialstore.storage.grpc._pb import POOL as _POOL\n",
    )
    return source.replace("_descriptor_pool.Default().AddSerializedFile(", "_POOL.AddSerializedFile(")


def generate(out_dir: pathlib.Path) -> None:
    """Write the generated modules for every proto into ``out_dir`` (as a package tree)."""
    from grpc_tools import protoc  # noqa: PLC0415 (test dependency)

    rel = HERE.relative_to(ROOT)
    args = [
        "protoc",
        f"-I{ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *(str(rel / name) for name in PROTOS),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in (out_dir / rel).glob("*_pb2.py"):
        path.write_text(postprocess(path.read_text()))
    for path in (out_dir / rel).glob("*_pb2.pyi"):
        # mypy follows imports into the stubs; they are protoc's, not ours to fix.
        path.write_text("# mypy: ignore-errors\n" + path.read_text())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        generate(out)
        for path in (out / HERE.relative_to(ROOT)).iterdir():
            (HERE / path.name).write_text(path.read_text())
            print(f"wrote {HERE / path.name}")
    subprocess.run([sys.executable, "-c", "import trialstore.storage.grpc._pb.extensions_pb2"], check=True)


if __name__ == "__main__":
    main()
