"""A small Parquet writer in the standard library, for the device's telemetry batches.

The runtime may depend only on numpy, OpenCV, ONNX Runtime and tuf, so it cannot take pyarrow
along. Telemetry needs little of the format: flat tables of strings, integers, floats, booleans
and UTC timestamps, one row group, one plain-encoded uncompressed data page per column. This
module writes exactly that; pyarrow and pandas read the result like any other Parquet file.

Format reference: the Apache Parquet specification (``parquet.thrift``) and the Thrift compact
protocol. Field ids and enum values below are the specification's.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

MAGIC = b"PAR1"

# Thrift compact protocol type codes.
_T_TRUE, _T_FALSE, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 1, 2, 5, 6, 8, 9, 12

# Parquet enums.
_BOOLEAN, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 2, 5, 6
_REQUIRED, _OPTIONAL = 0, 1
_PLAIN, _RLE = 0, 3
_UNCOMPRESSED = 0
_DATA_PAGE = 0
_CONVERTED_UTF8, _CONVERTED_TIMESTAMP_MICROS = 0, 10

# datetime.UTC is Python 3.11+; the runtime also runs on JetPack 6 (Python 3.10).
UTC = timezone.utc  # noqa: UP017

KINDS = ("string", "int", "float", "bool", "timestamp")


class ParquetError(ValueError):
    """A table that cannot be written (unknown column kind, ragged columns, bad value)."""


@dataclass(frozen=True)
class Column:
    """One column of a flat table.

    Attributes:
        name: Column name.
        kind: One of ``string``, ``int``, ``float``, ``bool``, ``timestamp`` (aware or UTC
            datetimes, stored as microseconds adjusted to UTC).
        values: The values in row order; ``None`` is a null (floats use NaN for "unknown").
        nullable: Whether the column may hold nulls; decided from the values when None. Fix it
            for columns that must read the same in every file of a dataset.
    """

    name: str
    kind: str
    values: Sequence[object]
    nullable: bool | None = None


class _Thrift:
    """Writes one Thrift compact-protocol struct (fields in increasing id order)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self._last = [0]

    @staticmethod
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    @staticmethod
    def zigzag(value: int) -> int:
        return (value << 1) ^ (value >> 63)

    def _header(self, field_id: int, type_code: int) -> None:
        delta = field_id - self._last[-1]
        if 0 < delta <= 15:
            self.out.append((delta << 4) | type_code)
        else:
            self.out.append(type_code)
            self.out += self.varint(self.zigzag(field_id))
        self._last[-1] = field_id

    def i32(self, field_id: int, value: int) -> None:
        self._header(field_id, _T_I32)
        self.out += self.varint(self.zigzag(value))

    def i64(self, field_id: int, value: int) -> None:
        self._header(field_id, _T_I64)
        self.out += self.varint(self.zigzag(value))

    def boolean(self, field_id: int, value: bool) -> None:
        self._header(field_id, _T_TRUE if value else _T_FALSE)

    def binary(self, field_id: int, value: bytes) -> None:
        self._header(field_id, _T_BINARY)
        self.out += self.varint(len(value)) + value

    def begin_struct(self, field_id: int) -> None:
        self._header(field_id, _T_STRUCT)
        self._last.append(0)

    def end_struct(self) -> None:
        self.out.append(0)
        self._last.pop()

    def list_header(self, field_id: int, elem_type: int, size: int) -> None:
        self._header(field_id, _T_LIST)
        if size < 15:
            self.out.append((size << 4) | elem_type)
        else:
            self.out.append(0xF0 | elem_type)
            self.out += self.varint(size)

    def begin_list_struct(self) -> None:
        self._last.append(0)

    def list_i32(self, field_id: int, values: Sequence[int]) -> None:
        self.list_header(field_id, _T_I32, len(values))
        for value in values:
            self.out += self.varint(self.zigzag(value))

    def list_binary(self, field_id: int, values: Sequence[bytes]) -> None:
        self.list_header(field_id, _T_BINARY, len(values))
        for value in values:
            self.out += self.varint(len(value)) + value

    def stop(self) -> bytes:
        self.out.append(0)
        return bytes(self.out)


def _physical(kind: str) -> int:
    return {"string": _BYTE_ARRAY, "int": _INT64, "float": _DOUBLE, "bool": _BOOLEAN}.get(
        kind, _INT64
    )


def _micros(value: object) -> int:
    if not isinstance(value, datetime):
        raise ParquetError(f"timestamp value {value!r} is not a datetime")
    if value.tzinfo is None:
        raise ParquetError(f"timestamp {value.isoformat()} has no time zone; pass UTC datetimes")
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _plain(kind: str, values: list[object]) -> bytes:
    if kind == "string":
        parts = [str(v).encode("utf-8") for v in values]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    if kind == "int":
        ints = [int(v) for v in values]  # type: ignore[arg-type]
        return struct.pack(f"<{len(ints)}q", *ints)
    if kind == "float":
        floats = [float(v) for v in values]  # type: ignore[arg-type]
        return struct.pack(f"<{len(floats)}d", *floats)
    if kind == "bool":
        return _bitpack([bool(v) for v in values])
    return struct.pack(f"<{len(values)}q", *(_micros(v) for v in values))


def _bitpack(bits: list[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for index, bit in enumerate(bits):
        if bit:
            out[index // 8] |= 1 << (index % 8)
    return bytes(out)


def _definition_levels(present: list[bool]) -> bytes:
    """RLE/bit-packed hybrid of 1-bit levels, as one bit-packed run, with its length prefix."""
    groups = (len(present) + 7) // 8
    run = _Thrift.varint((groups << 1) | 1) + _bitpack(present)
    return struct.pack("<I", len(run)) + run


def _is_null(value: object) -> bool:
    return value is None


def _column_chunk(column: Column, nullable: bool) -> bytes:
    """Return the page header and data page of one column."""
    values = list(column.values)
    present = [not _is_null(v) for v in values]
    body = (_definition_levels(present) if nullable else b"") + _plain(
        column.kind, [v for v, p in zip(values, present, strict=True) if p]
    )

    header = _Thrift()
    header.i32(1, _DATA_PAGE)
    header.i32(2, len(body))
    header.i32(3, len(body))
    header.begin_struct(5)
    header.i32(1, len(values))
    header.i32(2, _PLAIN)
    header.i32(3, _RLE)
    header.i32(4, _RLE)
    header.end_struct()
    return header.stop() + body


def _schema_element(meta: _Thrift, column: Column, nullable: bool) -> None:
    meta.begin_list_struct()
    meta.i32(1, _physical(column.kind))
    meta.i32(3, _OPTIONAL if nullable else _REQUIRED)
    meta.binary(4, column.name.encode("utf-8"))
    if column.kind == "string":
        meta.i32(6, _CONVERTED_UTF8)
        meta.begin_struct(10)
        meta.begin_struct(1)  # LogicalType.STRING
        meta.end_struct()
        meta.end_struct()
    elif column.kind == "timestamp":
        meta.i32(6, _CONVERTED_TIMESTAMP_MICROS)
        meta.begin_struct(10)
        meta.begin_struct(8)  # LogicalType.TIMESTAMP
        meta.boolean(1, True)  # isAdjustedToUTC
        meta.begin_struct(2)  # unit
        meta.begin_struct(2)  # MICROS
        meta.end_struct()
        meta.end_struct()
        meta.end_struct()
        meta.end_struct()
    meta.end_struct()


def _column_meta(meta: _Thrift, column: Column, offset: int, size: int, rows: int) -> None:
    meta.begin_list_struct()
    meta.i64(2, offset)  # file_offset
    meta.begin_struct(3)  # meta_data
    meta.i32(1, _physical(column.kind))
    meta.list_i32(2, [_PLAIN, _RLE])
    meta.list_binary(3, [column.name.encode("utf-8")])
    meta.i32(4, _UNCOMPRESSED)
    meta.i64(5, rows)
    meta.i64(6, size)
    meta.i64(7, size)
    meta.i64(9, offset)  # data_page_offset
    meta.end_struct()
    meta.end_struct()


def _check(columns: Sequence[Column]) -> int:
    if not columns:
        raise ParquetError("a table needs at least one column")
    rows = {len(c.values) for c in columns}
    if len(rows) != 1:
        raise ParquetError(f"columns have different lengths {sorted(rows)}; pass equal lengths")
    for column in columns:
        if column.kind not in KINDS:
            raise ParquetError(f"column {column.name!r}: kind {column.kind!r} not in {KINDS}")
    return rows.pop()


def encode_table(columns: Sequence[Column], created_by: str = "jetson_runtime") -> bytes:
    """Encode a flat table as one Parquet file (one row group, uncompressed, plain encoding).

    Args:
        columns: The columns, all of the same length. A column with any ``None`` is nullable.
        created_by: Written into the file footer.

    Returns:
        The file's bytes.

    Raises:
        ParquetError: When the columns are ragged, of an unknown kind or hold a bad value.
    """
    rows = _check(columns)
    out = bytearray(MAGIC)
    chunks: list[tuple[Column, bool, int, int]] = []
    for column in columns:
        has_null = any(_is_null(v) for v in column.values)
        if has_null and column.nullable is False:
            raise ParquetError(f"column {column.name!r} holds None but is not nullable")
        nullable = has_null if column.nullable is None else column.nullable
        chunk = _column_chunk(column, nullable)
        chunks.append((column, nullable, len(out), len(chunk)))
        out += chunk

    meta = _Thrift()
    meta.i32(1, 1)  # version
    meta.list_header(2, _T_STRUCT, len(columns) + 1)
    meta.begin_list_struct()
    meta.binary(4, b"schema")
    meta.i32(5, len(columns))
    meta.end_struct()
    for column, nullable, _, _ in chunks:
        _schema_element(meta, column, nullable)
    meta.i64(3, rows)
    meta.list_header(4, _T_STRUCT, 1)
    meta.begin_list_struct()
    meta.list_header(1, _T_STRUCT, len(chunks))
    for column, _, offset, size in chunks:
        _column_meta(meta, column, offset, size, rows)
    meta.i64(2, sum(size for *_, size in chunks))
    meta.i64(3, rows)
    meta.end_struct()
    meta.binary(6, created_by.encode("utf-8"))
    footer = meta.stop()

    out += footer + struct.pack("<I", len(footer)) + MAGIC
    return bytes(out)


def nan_if_none(value: float | None) -> float:
    """Return ``value`` as a float, NaN when it is None (for "unknown" float columns)."""
    return math.nan if value is None else float(value)
