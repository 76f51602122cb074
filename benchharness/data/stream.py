"""Read CSV and Parquet files chunk by chunk and write chunks back, in bounded memory.

CSV is read with pyarrow as text (every column a string, nothing inferred), so a value that
does not parse stays visible to the checks and is written back exactly as it came. A CSV
line with the wrong number of fields cannot be split into columns: it is reported as a
`MalformedRow` (never dropped silently). Parquet is read in row batches with its own types.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benchharness.errors import DataError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 100_000


@dataclass
class MalformedRow:
    row: int | None  # 1-based data row of the file (see Chunk.rows)
    text: str
    expected: int
    actual: int

    @property
    def reason(self) -> str:
        return f"malformed_row (expected {self.expected} fields, got {self.actual}: {self.text[:80]!r})"


@dataclass
class Chunk:
    """Rows read at once. `rows` numbers them as data rows of the file: 1 is the first record
    after the header, every record counts (a malformed one too), blank lines do not; a quoted
    field spanning lines is one record."""

    batch: pa.RecordBatch  # the well-formed rows as read
    malformed: list[MalformedRow]  # CSV records met while reading this chunk that had no columns
    rows: np.ndarray | None = None  # int64 data row of each row of `batch`
    # False when the CSV text of this chunk held no quote: then no field holds a delimiter, a
    # quote or a line break (each would have needed quotes), so it can be written unquoted
    quoted: bool = True

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = np.arange(1, self.batch.num_rows + 1, dtype=np.int64)


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
    read_options = pacsv.ReadOptions(column_names=names, block_size=max(block, 1 << 20))
    convert_options = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False,
    )
    delimiter = _delimiter(path)
    done = 0  # data rows (records) before this piece
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
                table, malformed = _parse_piece(piece, read_options, convert_options, delimiter)
                quoted = b'"' in piece
                good = _good_rows(table.num_rows, malformed) + done
                for m in malformed:
                    m.row = None if m.row is None else m.row + done
                done += table.num_rows + len(malformed)
                at = 0
                for batch in table.combine_chunks().to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]:
                    rows = good[at: at + batch.num_rows]
                    last = rows[-1] if len(rows) else done
                    mine = [m for m in malformed if m.row is not None and m.row <= last]
                    malformed = [m for m in malformed if m not in mine]
                    at += batch.num_rows
                    yield Chunk(batch, mine, rows, quoted)
                if malformed:
                    yield Chunk(pa.RecordBatch.from_pylist([], schema=table.schema), malformed)
            if not data:
                return


def _parse_piece(piece: bytes, read_options, convert_options, delimiter: str):
    """(table of the well-formed records, malformed records numbered 1.. within the piece).

    The parallel parser cannot tell where a bad record was; a piece that has one is parsed
    again on one thread, which numbers records (rare, so the fast path stays fast)."""
    malformed: list[MalformedRow] = []

    def on_invalid(row) -> str:
        malformed.append(MalformedRow(row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid)
    table = pacsv.read_csv(pa.py_buffer(piece), read_options, parse, convert_options)
    if malformed and any(m.row is None for m in malformed):
        malformed.clear()
        one_thread = pacsv.ReadOptions(column_names=read_options.column_names,
                                       block_size=read_options.block_size, use_threads=False)
        table = pacsv.read_csv(pa.py_buffer(piece), one_thread, parse, convert_options)
    return table, malformed


def _good_rows(n_good: int, malformed: list[MalformedRow]) -> np.ndarray:
    """1-based positions in the piece of its well-formed records: every position but the
    malformed ones."""
    bad = np.array(sorted(m.row for m in malformed if m.row is not None), dtype=np.int64)
    positions = np.arange(1, n_good + len(bad) + 1, dtype=np.int64)
    return positions[~np.isin(positions, bad)] if len(bad) else positions


def _iter_parquet(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    pf = pq.ParquetFile(path)
    if pf.metadata.num_columns == 0:
        raise DataError(f"data file {path} is empty: no columns")
    done = 0
    for batch in pf.iter_batches(batch_size=chunk_rows):
        yield Chunk(batch, [], np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64))
        done += batch.num_rows


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
    """Append record batches to one CSV or Parquet file (format from the suffix).

    CSV is written like a plain input: a field is quoted only when it holds the delimiter, a
    quote or a line break (pyarrow's own writer quotes every text field, a third more bytes).
    A batch with no such field goes through pyarrow unquoted; one that has goes through the
    csv module, which quotes just those fields."""

    def __init__(self, path: str | Path, schema: pa.Schema):
        self.path = Path(path)
        self.schema = schema
        if file_format(self.path) == "csv":
            self.delimiter = _delimiter(self.path)
            self._sink = open(self.path, "wb")  # noqa: SIM115 (closed by close())
            header = io.StringIO()
            csv.writer(header, delimiter=self.delimiter, lineterminator="\n").writerow(schema.names)
            self._sink.write(header.getvalue().encode())
            self._special = "[" + re.escape(self.delimiter + '"') + "\\r\\n]"
            self._writer = None
        else:
            self._sink = None
            self._writer = pq.ParquetWriter(str(self.path), schema)

    def write(self, batch: pa.RecordBatch, plain: bool = False) -> None:
        """Append `batch`; `plain`: the caller knows no field needs quotes (see Chunk.quoted)."""
        if not batch.num_rows:
            return
        if self._writer is not None:
            self._writer.write(pa.Table.from_batches([batch], schema=self.schema))
            return
        text_columns = [] if plain else [c for c in batch.columns if pa.types.is_string(c.type)
                                         or pa.types.is_large_string(c.type)]
        if any(pc.any(pc.match_substring_regex(c, self._special)).as_py() for c in text_columns):
            out = io.StringIO()
            writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\n")
            writer.writerows(zip(*(["" if v is None else v for v in c.to_pylist()] for c in batch.columns)))
            self._sink.write(out.getvalue().encode())
        else:
            options = pacsv.WriteOptions(include_header=False, quoting_style="none", delimiter=self.delimiter)
            pacsv.write_csv(pa.Table.from_batches([batch], schema=self.schema), self._sink, options)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._sink is not None:
            self._sink.close()


class Reservoir:
    """A uniform random sample of at most `max_rows` rows of a stream of frames.

    Each row gets a random key; the rows with the smallest keys are kept (bottom-k sampling),
    so every row of the stream has the same chance whatever chunk it came in, and memory
    stays at `max_rows` rows.
    """

    def __init__(self, max_rows: int, seed: int | list[int] = 0):
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

    def merge(self, other: Reservoir) -> Reservoir:
        """The sample of both streams: the smallest keys of the union are exactly what one
        reservoir over both would keep, so parts sampled apart (on other machines) merge into a
        uniform sample. Give each part its own seed."""
        self.seen += other.seen
        if other._kept is not None:
            both = other._kept if self._kept is None else pd.concat([self._kept, other._kept], ignore_index=True)
            self._kept = both.nsmallest(self.max_rows, "_key") if len(both) > self.max_rows else both
        return self

    def frame(self) -> pd.DataFrame:
        if self._kept is None:
            return pd.DataFrame()
        return self._kept.drop(columns="_key").reset_index(drop=True)
