"""The runtime's own Parquet writer: pyarrow and pandas read back exactly what was written."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from jetson_runtime.parquet import Column, ParquetError, encode_table


def _read(data: bytes):
    return pq.read_table(io.BytesIO(data))


@pytest.mark.parametrize("rows", [0, 1, 7, 8, 9, 1000, 70_000])  # bit-packing edges, big pages
def test_round_trip_all_kinds(rows: int) -> None:
    start = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    columns = [
        Column("name", "string", [f"row-{i}-é" for i in range(rows)]),
        Column("count", "int", [i * 3 - 7 for i in range(rows)]),
        Column("score", "float", [math.nan if i % 5 == 0 else i / 7 for i in range(rows)]),
        Column("empty", "bool", [i % 3 == 0 for i in range(rows)]),
        Column("ts", "timestamp", [start + timedelta(microseconds=i * 1001) for i in range(rows)]),
    ]
    table = _read(encode_table(columns))
    assert table.num_rows == rows
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    frame = table.to_pandas()
    for column in columns:
        values = list(frame[column.name])
        if column.kind == "float":
            assert all((math.isnan(a) and math.isnan(b)) or a == b
                       for a, b in zip(values, column.values, strict=True))  # fmt: skip
        elif column.kind == "timestamp":
            assert [v.to_pydatetime() for v in values] == list(column.values)
        else:
            assert values == list(column.values)


def test_nulls_and_many_columns() -> None:
    columns = [Column(f"c{i}", "int", [i, None, 3]) for i in range(20)]  # > 15: long list header
    columns.append(Column("camera", "string", ["a", None, "c"], nullable=True))
    table = _read(encode_table(columns)).to_pandas()
    assert table["c7"].isna().tolist() == [False, True, False]
    assert table["camera"].tolist() == ["a", None, "c"]
    assert _read(encode_table(columns)).schema.field("camera").nullable


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([], "at least one column"),
        ([Column("a", "int", [1]), Column("b", "int", [1, 2])], "different lengths"),
        ([Column("a", "decimal", [1])], "kind"),
        ([Column("a", "int", [None], nullable=False)], "not nullable"),
        ([Column("t", "timestamp", [datetime(2025, 1, 1)])], "no time zone"),
    ],
)
def test_bad_tables_are_refused(columns, message: str) -> None:
    with pytest.raises(ParquetError, match=message):
        encode_table(columns)
