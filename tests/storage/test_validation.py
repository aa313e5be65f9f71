"""The protocol's argument checks (trialstore/storage/validation.py) not covered through the
conformance suite."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from trialstore.storage import validation


class _Id(enum.IntEnum):
    SEVEN = 7


@pytest.mark.parametrize(
    "value",
    [0, 7, -1, validation.MAX_ID, -validation.MAX_ID - 1],
)
def test_check_id_returns_ints_in_the_64_bit_range(value: int) -> None:
    for kind in ("study", "trial"):
        checked = validation.check_id(value, kind)
        assert checked == value
        assert type(checked) is int


def test_check_id_returns_a_plain_int_for_an_int_subclass() -> None:
    checked = validation.check_id(_Id.SEVEN, "trial")
    assert checked == 7
    assert type(checked) is int


@pytest.mark.parametrize(
    "value",
    [True, False, 1.0, "1", None, [1], validation.MAX_ID + 1, -validation.MAX_ID - 2, 2**70],
    ids=repr,
)
@pytest.mark.parametrize("kind", ["study", "trial"])
def test_check_id_raises_the_key_error_of_a_missing_id(value: Any, kind: Any) -> None:
    with pytest.raises(KeyError) as info:
        validation.check_id(value, kind)
    assert info.value.args == (f"No {kind} with id {value!r}.",)


@pytest.mark.parametrize("value", [0, 7, validation.MAX_ID, _Id.SEVEN], ids=repr)
def test_check_trial_number_returns_a_plain_int(value: int) -> None:
    checked = validation.check_trial_number(value, 3)
    assert checked == value
    assert type(checked) is int


@pytest.mark.parametrize(
    "value", [-1, validation.MAX_ID + 1, 2**70, True, 0.0, "0", None], ids=repr
)
def test_check_trial_number_raises_the_key_error_of_a_missing_number(value: Any) -> None:
    with pytest.raises(KeyError) as info:
        validation.check_trial_number(value, 3)
    assert info.value.args == (f"No trial with number {value!r} in study 3.",)
    assert validation.missing_trial_number(value, 3).args == info.value.args


def test_check_id_takes_the_range_of_the_backend() -> None:
    """A backend with 32-bit id columns passes ``max_id``: beyond it, no id exists."""
    limit = 2**31 - 1
    assert validation.check_id(limit, "study", max_id=limit) == limit
    assert validation.check_id(-limit - 1, "trial", max_id=limit) == -limit - 1
    for value in (limit + 1, -limit - 2, 2**40):
        with pytest.raises(KeyError) as info:
            validation.check_id(value, "trial", max_id=limit)
        assert info.value.args == (f"No trial with id {value!r}.",)
