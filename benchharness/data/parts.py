"""A dataset given as one file, a folder of parts or a glob; each part's outputs.

`bench validate` and `bench monitor` take any of the three. Parts are CSV or Parquet files
(one format per dataset), in sorted path order; every part is checked on its own and the
counts are added (`validate.PartCheck.merge`). One file keeps its outputs as
`clean.<ext>` / `quarantine.<ext>`; parts get theirs per part, `clean/<part file name>` and
`quarantine/<part file name>`, with `_row` the data row within that part.
"""

from __future__ import annotations

import glob
from pathlib import Path

from benchharness.data.stream import CSV_SUFFIXES, PARQUET_SUFFIXES, file_format
from benchharness.errors import DataError

DATA_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES


def special_kind(path: str | Path) -> str | None:
    """What a path that exists but is neither a regular file nor a folder is (a FIFO blocks a
    reader until something writes to it), else None."""
    import stat

    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def require_regular(path: str | Path, what: str) -> None:
    """A DataError for a path that is a FIFO, socket or device: reading it would block or never end."""
    kind = special_kind(path)
    if kind:
        raise DataError(f"{what} {str(path)!r} is {kind}, not a regular file; give a CSV or "
                        "Parquet file (copy what the pipe carries into one first)")


def resolve_parts(spec: str | Path) -> list[Path]:
    """The files `spec` names: itself, the data files in a folder (not recursive), or the
    matches of a glob. Raises DataError naming what was wrong."""
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES)
                       and not p.name.startswith((".", "_")))
        if not parts:
            raise DataError(f"folder {spec} holds no data files (allowed: {', '.join(DATA_SUFFIXES)})")
    elif any(ch in text for ch in "*?["):
        parts = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not parts:
            raise DataError(f"no file matches {spec}")
    else:
        require_regular(path, "data file")
        return [path]
    formats = {file_format(p) for p in parts}
    if len(formats) > 1:
        raise DataError(f"{spec} mixes CSV and Parquet parts; give one format per dataset")
    names = [p.name for p in parts]
    if len(set(names)) < len(names):
        raise DataError(f"{spec} has two parts with one file name; outputs are written per part name")
    return parts


def part_outputs(part: Path, out_dir: Path, single: bool) -> tuple[Path, Path]:
    """(clean, quarantine) paths of one part."""
    if single:

        return output_paths(part, out_dir)
    name = part.name[:-3] if part.name.lower().endswith(".gz") else part.name  # written uncompressed
    return out_dir / "clean" / name, out_dir / "quarantine" / name


def output_paths(data_path: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    ext = ".csv" if file_format(data_path) == "csv" else ".parquet"
    out_dir = Path(out_dir)
    return out_dir / f"clean{ext}", out_dir / f"quarantine{ext}"
