"""The parameter grid: reading cells as values, per-column types, and errors naming row and column."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, Integer

from playground.grid import GridError, ParameterGrid, bindings_from_json, typed_value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("4.5", Decimal("4.5")),
        ("NULL", None),
        ("null", None),
        ("true", True),
        ("FALSE", False),
        ("Петр", "Петр"),
        ("'42'", "42"),
        ("'NULL'", "NULL"),
        ("''", ""),
        ("99999999999999999999", Decimal("99999999999999999999")),
        (" 42 ", 42),
        ("4,5", "4,5"),
    ],
)
def test_auto_reads_numbers_booleans_and_null_and_keeps_the_rest_as_text(raw: str, value: Any) -> None:
    got = typed_value(raw, "auto")
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("42", "text", "42"),
        ("NULL", "text", "NULL"),
        ("42", "decimal", Decimal("42")),
        ("yes", "boolean", True),
        ("1", "boolean", True),
        ("0", "boolean", False),
        ("7", "integer", 7),
        ("true", "text", "true"),
        ("2024-02-29", "date", dt.date(2024, 2, 29)),
        ("2024-02-29 13:45:00", "timestamp", dt.datetime(2024, 2, 29, 13, 45)),
        ("2024-02-29T13:45", "timestamp", dt.datetime(2024, 2, 29, 13, 45)),
        ("", "null", None),
        ("", "text", ""),
        ("NULL", "integer", None),
    ],
)
def test_a_column_type_overrides_the_reading(raw: str, kind: str, value: Any) -> None:
    got = typed_value(raw, kind)
    # The type too: 1 == True and 42 == Decimal("42") in Python, but the driver binds each differently.
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        ("abc", "integer", "is not an integer"),
        ("4.5", "integer", "is not an integer"),
        ("9223372036854775808", "integer", "outside the 64-bit integer range"),
        ("x", "decimal", "is not a decimal"),
        ("maybe", "boolean", "is not a boolean"),
        ("2024-02-30", "date", "is not a date"),
        ("noon", "timestamp", "is not a timestamp"),
        ("5", "null", "NULL column"),
        ("a\x00b", "text", "NUL byte"),
        ("", "auto", "is empty; type NULL to send NULL, or '' \\(two single quotes\\) for an empty text"),
        ("  ", "auto", "is empty"),
        ("", "integer", "is empty"),
        ("", "date", "is empty"),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused(raw: str, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        typed_value(raw, kind)


def test_errors_name_the_row_and_the_column() -> None:
    grid = ParameterGrid(("x", "y"), ("integer", "auto"), (("1", "a"), ("two", "b")))
    with pytest.raises(GridError, match=r"Row 2, column :x: 'two' is not an integer"):
        grid.typed(max_value_bytes=1000)


def test_several_rows_make_an_executemany_with_one_dict_per_row() -> None:
    grid = ParameterGrid(("x", "y"), ("auto", "auto"), (("9", "11"), ("13", "15")))
    bindings = grid.typed(max_value_bytes=1000)
    assert bindings.rows == ({"x": 9, "y": 11}, {"x": 13, "y": 15})
    assert bindings.is_many


def test_bind_types_follow_the_column_types() -> None:
    grid = ParameterGrid(
        ("a", "b", "c", "d"), ("integer", "decimal", "boolean", "date"), (("1", "2.5", "t", "2024-01-01"),)
    )
    bindings = grid.typed(max_value_bytes=1000)
    assert isinstance(bindings.types["a"], Integer)
    assert isinstance(bindings.types["c"], Boolean)
    assert isinstance(bindings.types["d"], Date)
    # No bind type for decimals: SQLAlchemy's Numeric would hand SQLite's driver a float.
    assert "b" not in bindings.types
    assert bindings.rows[0]["b"] == Decimal("2.5") and type(bindings.rows[0]["b"]) is Decimal


def test_an_empty_cell_names_its_row_and_column_and_how_to_send_null_or_empty_text() -> None:
    grid = ParameterGrid(("y", "t"), ("auto", "text"), (("6", ""), ("", "")))
    with pytest.raises(GridError) as failure:
        grid.typed(max_value_bytes=1000)
    assert failure.value.message == (
        "Row 2, column :y: is empty; type NULL to send NULL, or '' (two single quotes) for an empty text."
    )


def test_oversized_cells_are_refused() -> None:
    grid = ParameterGrid(("p",), ("text",), (("x" * 11,),))
    with pytest.raises(GridError, match="longer than 10 bytes"):
        grid.typed(max_value_bytes=10)


def test_with_columns_keeps_values_by_name() -> None:
    grid = ParameterGrid(("a", "b"), ("integer", "text"), (("1", "x"), ("2", "y")))
    moved = grid.with_columns(["b", "c"])
    assert moved.columns == ("b", "c")
    assert moved.types == ("text", "auto")
    assert moved.rows == (("x", ""), ("y", ""))


@pytest.mark.parametrize(
    ("params", "rows"),
    [
        (None, ({},)),
        ([], ({},)),
        ({"y": 6}, ({"y": 6},)),
        ([{"x": 9, "y": 11}, {"x": 13, "y": 15}], ({"x": 9, "y": 11}, {"x": 13, "y": 15})),
        ({"Name": "Петр", "Age": 20}, ({"Name": "Петр", "Age": 20},)),
        ({"a": None, "b": True, "c": 1.5}, ({"a": None, "b": True, "c": 1.5},)),
    ],
)
def test_json_parameters_are_used_as_given(params: Any, rows: tuple[dict[str, Any], ...]) -> None:
    got = bindings_from_json(params, max_rows=10, max_value_bytes=100).rows
    assert got == rows
    assert [[type(v) for v in row.values()] for row in got] == [[type(v) for v in row.values()] for row in rows]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("y=6", "must be an object or a list"),
        ([1, 2], "row 1 must be an object"),
        ({"a": [1]}, "a list cannot be bound"),
        ({"a": {"b": 1}}, "a dict cannot be bound"),
        ([{}] * 11, "At most 10 parameter rows"),
        ({"a": "x" * 101}, "longer than 100 bytes"),
        ({"a": "\x00"}, "NUL byte"),
        ({"a": 2**70}, "64-bit"),
    ],
)
def test_bad_json_parameters_get_a_message(params: Any, message: str) -> None:
    with pytest.raises(GridError, match=message):
        bindings_from_json(params, max_rows=10, max_value_bytes=100)
