"""get_storage and URL handling (trialstore/storage/_url.py)."""

from __future__ import annotations

import pytest

from trialstore.storage import BaseStorage, InMemoryStorage, get_storage
from trialstore.storage._url import mask_password


def test_none_gives_a_new_in_memory_storage() -> None:
    first, second = get_storage(None), get_storage(None)
    assert isinstance(first, InMemoryStorage)
    assert first is not second


def test_a_storage_is_returned_unchanged() -> None:
    storage = InMemoryStorage()
    assert get_storage(storage) is storage


@pytest.mark.parametrize("url", ["nonsense://x", "NONSENSE://x", "gopher://host/path"])
def test_unknown_scheme_is_a_value_error_listing_known_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="not supported") as info:
        get_storage(url)
    assert "known:" in str(info.value)


def test_url_without_scheme_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no scheme"):
        get_storage("just-a-path.db")


@pytest.mark.parametrize("bad", [3, 1.5, b"sqlite://", object()])
def test_other_types_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="storage must be"):
        get_storage(bad)  # type: ignore[arg-type]


def test_unknown_scheme_error_masks_the_password() -> None:
    with pytest.raises(ValueError) as info:
        get_storage("nonsense://user:s3cret@host/db")
    assert "s3cret" not in str(info.value)
    assert "user:***@host" in str(info.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("mysql+pymysql://root:p@ss:w@h/db", "mysql+pymysql://root:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        ("no-scheme", "no-scheme"),
    ],
)
def test_mask_password(url: str, masked: str) -> None:
    assert mask_password(url) == masked


def test_base_storage_is_abstract() -> None:
    with pytest.raises(TypeError):
        BaseStorage()  # type: ignore[abstract]
