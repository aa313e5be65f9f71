"""The generated protobuf modules of the gRPC proxy (trialstore/storage/grpc/_pb)."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

pytest.importorskip("grpc")

from trialstore.storage.grpc._pb import POOL, storage_pb2
from trialstore.storage.grpc._pb import regenerate as regen


def test_checked_in_modules_match_the_protos(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("grpc_tools")
    regen.generate(tmp_path)
    produced = tmp_path / regen.HERE.relative_to(regen.ROOT)
    names = sorted(p.name for p in produced.iterdir())
    assert names == [
        "extensions_pb2.py",
        "extensions_pb2.pyi",
        "storage_pb2.py",
        "storage_pb2.pyi",
    ]
    for name in names:
        assert (produced / name).read_text() == (regen.HERE / name).read_text(), name


def test_postprocessing_removes_the_version_gate_and_uses_the_private_pool() -> None:
    source = (regen.HERE / "storage_pb2.py").read_text()
    assert "runtime_version" not in source and "Default().AddSerializedFile" not in source
    assert storage_pb2.DESCRIPTOR.pool is POOL


def _repeated(field: Any) -> bool:
    """Whether a protobuf field descriptor is repeated (``is_repeated`` since protobuf 5.29,
    ``label`` before)."""
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == field.LABEL_REPEATED)


def test_the_wire_format_equals_optunas() -> None:
    """Every message, field number, type and enum value of optuna.StorageService."""
    optuna_pb2 = pytest.importorskip("optuna.storages._grpc.auto_generated.api_pb2")

    def shape(file: object) -> dict[str, object]:
        result: dict[str, object] = {}
        for name, message in file.message_types_by_name.items():  # type: ignore[attr-defined]
            result[name] = sorted(
                (
                    f.name,
                    f.number,
                    f.type,
                    _repeated(f),
                    f.message_type.full_name if f.message_type else None,
                    f.enum_type.full_name if f.enum_type else None,
                )
                for f in message.fields
            )
        for name, enum in file.enum_types_by_name.items():  # type: ignore[attr-defined]
            result[name] = sorted((v.name, v.number) for v in enum.values)
        for name, service in file.services_by_name.items():  # type: ignore[attr-defined]
            result[name] = sorted(
                (m.name, m.input_type.full_name, m.output_type.full_name) for m in service.methods
            )
        return result

    ours, theirs = storage_pb2.DESCRIPTOR, optuna_pb2.DESCRIPTOR
    assert ours.package == theirs.package == "optuna"
    assert shape(ours) == shape(theirs)
