"""Read CSV and Parquet files chunk by chunk and write chunks back, in bounded memory.

CSV is read with pyarrow as text (every column a string, nothing inferred), so a value that
does not parse stays visible to the checks and is written back exactly as it came. A CSV
line with the wrong number of fields cannot be split into columns: it is reported as a
`MalformedRow` (never dropped silently). Parquet is read in row batches with its own types.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benchharness.errors import DataError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 100_000


@dataclass
class MalformedRow:
    line: int | None
    text: str
    expected: int
    actual: int

    @property
    def reason(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"malformed_row ({where}expected {self.expected} fields, got {self.actual}: {self.text[:80]!r})"


@dataclass
class Chunk:
    batch: pa.RecordBatch  # the rows as read
    malformed: list[MalformedRow]  # CSV lines met while reading this chunk that had no columns


def file_format(path: str | Path) -> str:
    name = str(path).lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise DataError(f"unsupported data file {path}: allowed suffixes {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}")


def _delimiter(path: Path) -> str:
    return "\t" if str(path).lower().endswith(".tsv") else ","


def _row_end(buf: bytes, last: bool) -> int:
    """Index of the first/last newline that ends a row (not one inside a quoted field), or -1."""
    pos = buf.rfind(b"\n") if last else buf.find(b"\n")
    while pos >= 0 and buf.count(b'"', 0, pos) % 2:  # odd quotes before it: inside a field
        pos = buf.rfind(b"\n", 0, pos) if last else buf.find(b"\n", pos + 1)
    return pos


def _open_csv(path: Path) -> tuple[pa.NativeFile, list[str], bytes, int]:
    """Open the (maybe compressed) file; return it, the column names, the bytes read past
    the header and an estimate of bytes per row."""
    stream = pa.input_stream(str(path), compression="detect")
    head = stream.read(1 << 16)
    end = _row_end(head, last=False)
    while end < 0:  # a header longer than one read
        more = stream.read(1 << 16)
        if not more:
            end = len(head)
            break
        head += more
        end = _row_end(head, last=False)
    text = head[:end].decode("utf-8-sig", errors="replace").rstrip("\r")
    if not text.strip():
        stream.close()
        raise DataError(f"data file {path} is empty: no header, no rows")
    names = [n.strip() for n in next(csv.reader([text], delimiter=_delimiter(path)))]
    rest = head[end + 1:]
    per_row = len(rest) // max(1, rest.count(b"\n")) if rest.count(b"\n") else 64
    return stream, names, rest, max(per_row, 1)


def csv_header(path: Path) -> list[str]:
    stream, names, _, _ = _open_csv(path)
    stream.close()
    return names


def iter_chunks(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
    """Yield the file's rows a chunk at a time; raise DataError when it cannot be read."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        yield from (_iter_csv(path, chunk_rows) if fmt == "csv" else _iter_parquet(path, chunk_rows))
    except DataError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def _iter_csv(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """Cut the byte stream at row ends into pieces of about `chunk_rows` rows and parse each
    piece with pyarrow. (pyarrow's own streaming reader reads ahead without bound: on a
    large file its memory grows with the file.)"""
    stream, names, carry, per_row = _open_csv(path)
    block = max(1 << 16, min(chunk_rows * per_row, 1 << 28))
    malformed: list[MalformedRow] = []

    def on_invalid(row) -> str:
        malformed.append(MalformedRow(row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    read_options = pacsv.ReadOptions(column_names=names, block_size=max(block, 1 << 20))
    parse_options = pacsv.ParseOptions(delimiter=_delimiter(path), invalid_row_handler=on_invalid)
    convert_options = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False,
    )
    with stream:
        while True:
            data = stream.read(block)
            buf = carry + data
            cut = len(buf) - 1 if not data else _row_end(buf, last=True)
            if cut < 0 and data:  # no complete row yet
                carry = buf
                continue
            piece, carry = buf[: cut + 1], buf[cut + 1:]
            if piece.strip():
                table = pacsv.read_csv(pa.py_buffer(piece), read_options, parse_options, convert_options)
                for batch in table.combine_chunks().to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]:
                    yield Chunk(batch, list(malformed))
                    malformed.clear()
            if not data:
                return


def _iter_parquet(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    pf = pq.ParquetFile(path)
    if pf.metadata.num_columns == 0:
        raise DataError(f"data file {path} is empty: no columns")
    for batch in pf.iter_batches(batch_size=chunk_rows):
        yield Chunk(batch, [])


def schema_of(path: str | Path) -> pa.Schema:
    """The schema chunks of this file have (CSV: every column a string)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        if fmt == "csv":
            return pa.schema([(n, pa.string()) for n in csv_header(path)])
        return pq.read_schema(path)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


class ChunkWriter:
    """Append record batches to one CSV or Parquet file (format from the suffix)."""

    def __init__(self, path: str | Path, schema: pa.Schema):
        self.path = Path(path)
        self.schema = schema
        if file_format(self.path) == "csv":
            self._sink = pa.OSFile(str(self.path), "wb")
            options = pacsv.WriteOptions(quoting_style="needed", delimiter=_delimiter(self.path))
            self._writer = pacsv.CSVWriter(self._sink, schema, write_options=options)
        else:
            self._sink = None
            self._writer = pq.ParquetWriter(str(self.path), schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write(pa.Table.from_batches([batch], schema=self.schema))

    def close(self) -> None:
        self._writer.close()
        if self._sink is not None:
            self._sink.close()



class Reservoir:
    """A uniform random sample of at most `max_rows` rows of a stream of frames.

    Each row gets a random key; the rows with the smallest keys are kept (bottom-k sampling),
    so every row of the stream has the same chance whatever chunk it came in, and memory
    stays at `max_rows` rows.
    """

    def __init__(self, max_rows: int, seed: int = 0):
        self.max_rows = max_rows
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self._kept: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self.seen += len(frame)
        keyed = frame.reset_index(drop=True).assign(_key=self.rng.random(len(frame)))
        both = keyed if self._kept is None else pd.concat([self._kept, keyed], ignore_index=True)
        self._kept = both.nsmallest(self.max_rows, "_key") if len(both) > self.max_rows else both

    def frame(self) -> pd.DataFrame:
        if self._kept is None:
            return pd.DataFrame()
        return self._kept.drop(columns="_key").reset_index(drop=True)
