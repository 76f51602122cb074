"""`bench validate`: check a data file against a contract, split it into clean and quarantine.

The file is streamed chunk by chunk (memory stays bounded whatever its size). Rows that pass
every check go to `clean.<ext>`; rows that fail go to `quarantine.<ext>` with the input's
columns (values exactly as read) plus `_row` (the 1-based data row of the file: 1 is the
first record after the header; malformed records count and get theirs) and `_reasons` (one reason per failed check, joined by "; "). A CSV line that cannot be
split into columns is quarantined too, with its columns empty and the line in the reason.
Counts always add up: rows_read == rows_clean + rows_quarantined. `summary.json` says which
checks failed how often, and which batch checks (null rates) failed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from benchharness.data.checks import FrameCheck, check_frame, extra_columns, missing_columns
from benchharness.data.contract import Contract
from benchharness.data.parts import output_paths
from benchharness.data.stream import (
    DEFAULT_CHUNK_ROWS,
    ChunkWriter,
    iter_chunks,
    schema_of,
)
from benchharness.errors import DataError
from benchharness.run_folder import write_json

ROW_COLUMN = "_row"
REASONS_COLUMN = "_reasons"

#: called once per chunk with the raw frame and its check (monitor reuses the stream)
ChunkHook = Callable[[pd.DataFrame, FrameCheck], None]


@dataclass
class PartCheck:
    """What checking one file (or one part of a dataset) counted: mergeable by addition."""

    columns: list[str]
    rows_read: int = 0
    rows_clean: int = 0
    chunks: int = 0
    malformed: int = 0
    counts: Counter = field(default_factory=Counter)
    nulls: Counter = field(default_factory=Counter)

    def merge(self, other: PartCheck) -> PartCheck:
        self.columns += [c for c in other.columns if c not in self.columns]
        self.rows_read += other.rows_read
        self.rows_clean += other.rows_clean
        self.chunks += other.chunks
        self.malformed += other.malformed
        self.counts.update(other.counts)
        self.nulls.update(other.nulls)
        return self


def check_part(
    contract: Contract,
    data_path: str | Path,
    outputs: tuple[Path, Path] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_chunk: ChunkHook | None = None,
) -> PartCheck:
    """Check every row of one file; write its clean and quarantined rows to `outputs`.

    The frames `on_chunk` sees are indexed by the file's 1-based data row (`_row`)."""
    data_path = Path(data_path)
    schema = schema_of(data_path)
    q_schema = schema.append(pa.field(ROW_COLUMN, pa.int64())).append(pa.field(REASONS_COLUMN, pa.string()))
    writers = None
    if outputs is not None:
        outputs[0].parent.mkdir(parents=True, exist_ok=True)
        outputs[1].parent.mkdir(parents=True, exist_ok=True)
        writers = ChunkWriter(outputs[0], schema), ChunkWriter(outputs[1], q_schema)
    part = PartCheck(columns=list(schema.names))
    try:
        for chunk in iter_chunks(data_path, chunk_rows):
            part.chunks += 1
            batch = chunk.batch
            frame = batch.to_pandas()
            frame.index = pd.Index(chunk.rows, dtype="int64")
            check = check_frame(frame, contract)
            failed = check.failed
            part.rows_read += len(frame) + len(chunk.malformed)
            part.rows_clean += int((~failed).sum())
            part.counts.update(check.counts)
            part.nulls.update(check.nulls)
            if chunk.malformed:
                part.malformed += len(chunk.malformed)
                part.counts["malformed_row"] += len(chunk.malformed)
            if writers:
                writers[0].write(batch.filter(pa.array(~failed)), plain=not chunk.quoted)
                writers[1].write(_quarantine_batch(batch, failed, check, chunk.malformed, q_schema))
            if on_chunk is not None:
                on_chunk(frame, check)
    finally:
        if writers:
            for w in writers:
                w.close()
    return part


def validate_file(
    contract: Contract,
    data_path: str | Path,
    out_dir: str | Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_chunk: ChunkHook | None = None,
) -> dict:
    """Check every row of `data_path`; write clean/quarantine files when `out_dir` is given.

    Returns the summary (also saved as out_dir/summary.json). Raises DataError when the file
    cannot be read or holds no rows.
    """
    started = time.perf_counter()
    data_path = Path(data_path)
    outputs = output_paths(data_path, out_dir) if out_dir is not None else None
    part = check_part(contract, data_path, outputs, chunk_rows, on_chunk)
    if part.rows_read == 0:
        raise DataError(f"data file {data_path} has a header but no rows")
    summary = summarise(contract, str(data_path), part)
    return finish_summary(summary, started, out_dir, outputs)


def validate_dataset(
    contract: Contract,
    spec: str | Path,
    out_dir: str | Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    scheduler: str | None = None,
) -> dict:
    """`validate_file` over one file, a folder of parts or a glob; with `scheduler`, every part
    is a task on that Dask cluster. The summary's counts are the parts' counts added up, and
    `parts` lists each part's own."""
    from benchharness.data.parts import part_outputs, resolve_parts

    parts = resolve_parts(spec)
    single = parts == [Path(str(spec))]
    if single and scheduler is None:
        return validate_file(contract, parts[0], out_dir, chunk_rows)
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else None
    jobs = [(contract, p, part_outputs(p, out, single) if out is not None else None) for p in parts]
    if scheduler:
        from benchharness.data.distributed import map_parts

        checks = map_parts(scheduler, check_part, jobs, chunk_rows=chunk_rows)
    else:
        checks = [check_part(*job, chunk_rows=chunk_rows) for job in jobs]
    merged = PartCheck(columns=[])
    for c in checks:
        merged.merge(c)
    if merged.rows_read == 0:
        raise DataError(f"{spec} has headers but no rows")
    summary = summarise(contract, str(spec), merged)
    summary["parts"] = [{"path": str(p), "rows_read": c.rows_read, "rows_quarantined": c.rows_read - c.rows_clean}
                        for p, c in zip(parts, checks, strict=True)]
    summary["scheduler"] = scheduler
    outputs = None
    if out is not None:
        outputs = part_outputs(parts[0], out, single) if single else (out / "clean", out / "quarantine")
    return finish_summary(summary, started, out_dir, outputs)


def finish_summary(summary: dict, started: float, out_dir, outputs) -> dict:
    """Add the time and the output paths; save summary.json when there is an `out_dir`."""
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if out_dir is not None:
        summary["clean_path"], summary["quarantine_path"] = (str(p) for p in outputs)
        write_json(Path(out_dir) / "summary.json", summary)
    return summary


def _quarantine_batch(batch: pa.RecordBatch, failed, check: FrameCheck, malformed: list,
                      q_schema: pa.Schema) -> pa.RecordBatch:
    """The chunk's failed rows and its malformed records (columns empty), in file order."""
    bad = batch.filter(pa.array(failed))
    rows = check.typed.index[failed]
    columns = bad.columns + [pa.array(rows, pa.int64()), pa.array(check.reasons.loc[rows].tolist(), pa.string())]
    out = pa.RecordBatch.from_arrays(columns, schema=q_schema)
    if not malformed:
        return out
    n = len(malformed)
    columns = [pa.nulls(n, f.type) for f in q_schema][:-2]
    columns += [pa.array([m.row for m in malformed], pa.int64()), pa.array([m.reason for m in malformed], pa.string())]
    both = pa.Table.from_batches([out, pa.RecordBatch.from_arrays(columns, schema=q_schema)])
    return both.sort_by(ROW_COLUMN).combine_chunks().to_batches()[0]


def summarise(contract: Contract, data_path: str, part: PartCheck) -> dict:
    """The summary of one file or of every part of a dataset (`part` merged over them)."""
    return _summary(contract, data_path, part.columns, part.rows_read, part.rows_clean, part.counts,
                    part.nulls, part.chunks, part.malformed)


def _summary(contract, data_path, columns, rows_read, rows_clean, counts, nulls, chunks, malformed) -> dict:
    null_rates = {c: nulls[c] / rows_read for c in contract.columns}
    batch_failures = [
        {"column": c, "check": "null_rate", "value": round(rate, 6), "max": contract.columns[c].max_null_rate}
        for c, rate in null_rates.items()
        if rate > contract.columns[c].max_null_rate
    ]
    by_check: Counter = Counter()
    for key, n in counts.items():
        by_check[key.rsplit(": ", 1)[-1]] += n
    quarantined = rows_read - rows_clean
    return {
        "data_path": str(data_path),
        "rows_read": rows_read,
        "rows_clean": rows_clean,
        "rows_quarantined": quarantined,
        "quarantined_share": quarantined / rows_read,
        "malformed_rows": malformed,
        "chunks": chunks,
        "missing_columns": missing_columns(columns, contract),
        "extra_columns": extra_columns(columns, contract),
        "extra_columns_policy": contract.extra_columns,
        "failed_checks": dict(counts.most_common()),
        "failed_by_check": dict(by_check.most_common()),
        "null_rates": {c: round(r, 6) for c, r in null_rates.items()},
        "batch_failures": batch_failures,
        "ok": quarantined == 0 and not batch_failures,
    }


def format_summary(summary: dict) -> str:
    """A few lines for the terminal."""
    lines = [
        f"read {summary['rows_read']} rows: {summary['rows_clean']} clean, "
        f"{summary['rows_quarantined']} quarantined ({summary['quarantined_share']:.1%})"
        f" in {summary.get('seconds', 0):.1f} s"
    ]
    if summary.get("parts"):
        where = f" on {summary['scheduler']}" if summary.get("scheduler") else ""
        lines.append(f"{len(summary['parts'])} parts checked{where}; outputs per part")
    if summary["missing_columns"]:
        lines.append(f"missing columns (every row quarantined): {', '.join(summary['missing_columns'])}")
    if summary["extra_columns"] and summary["extra_columns_policy"] != "ignore":
        lines.append(f"extra columns ({summary['extra_columns_policy']}): {', '.join(summary['extra_columns'])}")
    for key, n in list(summary["failed_checks"].items())[:15]:
        lines.append(f"  {n:>8}  {key}")
    for f in summary["batch_failures"]:
        lines.append(f"batch check failed: {f['column']} null rate {f['value']:.2%} > max {f['max']:.2%}")
    if "clean_path" in summary:
        lines.append(f"clean: {summary['clean_path']}")
        lines.append(f"quarantine: {summary['quarantine_path']}")
    return "\n".join(lines)
