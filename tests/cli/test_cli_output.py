"""The output formats (trialstore/cli/_output.py): YAML that any parser reads back, tables,
value lines and ``--flatten``. tests/cli/test_cli_optuna_parity.py compares whole commands
with Optuna's."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialstore.cli._output import render, to_yaml

yaml = pytest.importorskip("yaml", reason="PyYAML (an optuna dependency) is not installed")

AWKWARD = [
    "",
    " ",
    " lead",
    "trail ",
    "y",
    "n",
    "Yes",
    "off",
    "NULL",
    "~",
    "true",
    "1",
    "1.5",
    "1e3",
    "0x1f",
    "0o17",
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    "2026-12-07 07:01:38",
    "12:30:45",
    "a: b",
    "a #b",
    "#c",
    "- x",
    "? x",
    ": x",
    "[1]",
    "{a: 1}",
    "&anchor",
    "*alias",
    "!tag",
    "%YAML",
    "@x",
    "`x",
    "|",
    ">",
    "<<",
    "'",
    '"',
    "it's",
    "back\\slash",
    "line\nbreak",
    "\r\n",
    "tab\there",
    "\x00\x07\x1b\x7f\x85\x9f",
    "é ü 中文",
    "😀",
    "\u2028\u2029",
    "\ufeff",
    "\ufffe\uffff",
    "---",
    "...",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_yaml_strings_read_back(text: str) -> None:
    data = {text: text, "list": [text, {text: [text]}]}
    assert yaml.safe_load(to_yaml(data)) == data
    assert yaml.safe_load(to_yaml(text)) == text


@pytest.mark.parametrize(
    "number", [0.0, -0.0, 1.0, -1e-07, 1e16, 1.5e300, 5e-324, 2**53 + 1, -(2**70), True, False]
)
def test_yaml_numbers_read_back_with_their_type(number: float) -> None:
    loaded = yaml.safe_load(to_yaml({"v": number}))["v"]
    assert loaded == number and type(loaded) is type(number)


def test_yaml_special_floats_and_empty_containers() -> None:
    loaded = yaml.safe_load(to_yaml([math.inf, -math.inf, math.nan, {}, [], None]))
    assert loaded[:2] == [math.inf, -math.inf] and math.isnan(loaded[2])
    assert loaded[3:] == [{}, [], None]


def test_yaml_shape_is_block_style_with_sorted_keys() -> None:
    """As Optuna's (PyYAML's default) output: keys sorted, a list under a key not indented."""
    text = to_yaml([{"name": "a", "direction": ("MINIMIZE",), "user_attrs": {}, "m": [[1, 2]]}])
    assert text == (
        "- direction:\n  - MINIMIZE\n  m:\n  - - 1\n    - 2\n  name: a\n  user_attrs: {}\n"
    )


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_like)
def test_yaml_reads_back_whatever_json_holds(data: Any) -> None:
    assert yaml.safe_load(to_yaml(data)) == data


RECORDS: list[dict[str, Any]] = [
    {"number": 0, "value": 1.5, "params": {"b": 1, "a": "s"}, "state": "COMPLETE"},
    {"number": 1, "value": None, "params": {"c": None}, "state": "FAIL"},
]


def test_table_right_aligns_numeric_columns_only() -> None:
    table = render(RECORDS, "table", ["number", "value", "params", "state"])
    assert table.splitlines() == [
        "+--------+-------+--------------------+----------+",
        "| number | value | params             | state    |",
        "+--------+-------+--------------------+----------+",
        "|      0 |   1.5 | {'b': 1, 'a': 's'} | COMPLETE |",
        "|      1 |       | {'c': None}        | FAIL     |",
        "+--------+-------+--------------------+----------+",
    ]


def test_value_lines_leave_none_empty() -> None:
    assert render(RECORDS, "value", ["number", "value", "state"]) == "0 1.5 COMPLETE\n1  FAIL\n"
    assert render([], "value", ["number"]) == ""


def test_flatten_splits_only_the_nested_columns_given() -> None:
    flat = render(RECORDS, "json", ["number", "params"], flatten=True, nested={"params"})
    assert [list(r) for r in json.loads(flat)] == [
        ["number", "value", "params_b", "params_a", "state"],
        ["number", "value", "params_c", "state"],
    ]
    table = render(RECORDS, "table", ["number", "params"], flatten=True, nested={"params"})
    assert table.splitlines()[1].split() == "| number | params_a | params_b | params_c |".split()
    unsorted = render(
        RECORDS[:1], "value", ["params"], flatten=True, nested={"params"}, sort_nested=False
    )
    assert unsorted == "1 s\n"  # the record's own order (ask: the search space's)
    kept = render(RECORDS, "json", ["params"], flatten=True, nested=())
    assert json.loads(kept)[0]["params"] == {"b": 1, "a": "s"}


def test_flatten_takes_columns_from_column_records() -> None:
    """best-trial: one record, with the columns of the study's whole table."""
    text = render(
        RECORDS[1:],
        "value",
        ["number", "params"],
        flatten=True,
        nested={"params"},
        column_records=RECORDS,
    )
    assert text == "1   \n"  # number, then params_a, params_b (empty) and params_c (None)


def test_single_record_is_an_object() -> None:
    assert json.loads(render(RECORDS[:1], "json", ["number"], single=True))["number"] == 0
    assert yaml.safe_load(render(RECORDS[:1], "yaml", ["number"], single=True))["number"] == 0
    with pytest.raises(ValueError, match="single: expected one record, got 2"):
        render(RECORDS, "json", ["number"], single=True)
    with pytest.raises(ValueError, match="format: expected one of json, table, value, yaml"):
        render(RECORDS, "xml", ["number"])  # type: ignore[arg-type]
