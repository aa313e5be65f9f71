"""What a test does when this machine lacks something it needs (test helper)."""

from __future__ import annotations

import os

import pytest

__all__ = ["require_or_skip"]


def require_or_skip(missing: str | None) -> None:
    """Skip the calling test because of ``missing`` (what it needs and this machine lacks);
    in CI (``TRIALSTORE_CI`` set) fail it instead. Does nothing when ``missing`` is None."""
    if missing is None:
        return
    if os.environ.get("TRIALSTORE_CI"):
        pytest.fail(f"required in CI (TRIALSTORE_CI is set): {missing}")
    pytest.skip(missing)
