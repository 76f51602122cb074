"""The layout of a run folder, and the one way any file of benchharness is written.

A run folder (`<out>/<run_id>/`) holds `results.json` (the one document every reader loads
through `results.load_results`), `results.csv`, the history index part `history.parquet`,
the report, charts, raw samples under `samples/`, and the children's inputs under `work/`.
Their names live here and nowhere else.

Every file benchharness writes (a run's files, `bench validate`/`monitor`/`history`/`compare`/
`fleet` outputs, a child's outcome) goes through `atomic_write`: a temporary file beside the
target, then `os.replace`, so a reader sees the old file or the new one, never half of one. The
temporary file is created like a normal `open()` does (mode 0666 less the umask), so every file
gets the one rule: readable by group and others as the umask allows (0644 under umask 022),
never private because a temporary file was.

A leaf module (standard library only): the measurement children import it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

# -- the names of a run folder ----------------------------------------------------------------
RESULTS_FILE = "results.json"
CSV_FILE = "results.csv"
INDEX_FILE = "history.parquet"  # this run's part of the history index (history/store.py)
CONTRACT_FILE = "contract.yaml"
INTERNAL_ERROR_FILE = "internal-error.txt"
WORK_DIR = "work"  # the children's inputs; removed from fleet copies
SAMPLES_DIR = "samples"
CHARTS_DIR = "charts"
MODELS_DIR = "models"  # a copy of each candidate's model file (against/keep.py)

#: a new file's mode before the umask, as `open()` creates one
FILE_MODE = 0o666


def results_path(run_dir: str | Path) -> Path:
    """The results file of a run folder (or the file itself when given one)."""
    path = Path(run_dir)
    return path / RESULTS_FILE if path.is_dir() else path


def has_results(folder: str | Path) -> bool:
    return (Path(folder) / RESULTS_FILE).is_file()


def run_folders(root: str | Path) -> list[Path]:
    """The folders directly under `root` that hold a results file."""
    return sorted(p.parent for p in Path(root).glob(f"*/{RESULTS_FILE}"))


# -- per-candidate file names -----------------------------------------------------------------
_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def safe_name(name: str) -> str:
    """A file name that is the candidate's own, on every file system.

    A plain lower-case name (letters, digits, '_', '-') is used as is; any other name gets
    a safe stem plus a short hash of the exact name, so `m/1` and `m_1`, `Model` and `model`
    (on a case-insensitive disk), `.` and `..`, or two names in different scripts never
    share a file."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "candidate"
    return f"{stem[:60]}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


# -- the one writer ---------------------------------------------------------------------------
Writer = Callable[[IO[bytes]], Any]


def atomic_write(path: str | Path, data: str | bytes | Writer) -> Path:
    """Write `data` to `path` atomically: text (UTF-8), bytes, or a function that writes into
    the open binary file it is given (Parquet, npz, pickle). The file's mode is what `open()`
    gives a new file under the current umask."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, str):
                fh.write(data.encode("utf-8"))
            elif isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                data(fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def plain(obj: Any) -> Any:
    """Make numpy scalars/arrays and non-finite floats JSON-safe (NaN/inf -> null)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    np = sys.modules.get("numpy")  # no numpy loaded: no numpy value to convert
    if np is not None:
        if isinstance(obj, np.ndarray):
            return plain(obj.tolist())
        if isinstance(obj, np.generic):
            return plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, doc: Any, default: Callable[[Any], Any] | None = None) -> Path:
    """Write a JSON document atomically (numpy values made plain, NaN/inf as null, indent 2;
    `default` turns any other value into JSON, as in `json.dumps`)."""
    return atomic_write(path, json.dumps(plain(doc), indent=2, allow_nan=False, default=default))


# -- paths a user names for a command's output ------------------------------------------------
def ensure_out_dir(out_dir: str | Path, flag: str = "--out") -> Path:
    """Create the output folder `out_dir`; an empty one, one that is a file or lies under one,
    or one that cannot be written is a user error naming the path (checked before any work)."""
    from benchharness.errors import UserError

    if not str(out_dir).strip():
        raise UserError(f"{flag} is empty; give a folder (e.g. {flag} results)")
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {str(out_dir)!r} is an existing file, not a folder; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{secrets.token_hex(4)}"  # root can mkdir on a read-only mount
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"cannot write results under {flag} {str(out_dir)!r}: {exc.strerror or exc} "
                        f"({exc.filename or out_dir}); give a writable folder") from None
    return path


def check_output_file(path: str | Path, flag: str) -> Path:
    """A file a command will write where the user said (`--json`, `--html`, `--out` of a
    page): its folder must exist and be writable, and it must not be a folder. Checked before
    any work, so a bad path is one line (a UserError, exit 2) and nothing is lost."""
    from benchharness.errors import UserError

    text = str(path)
    if not text.strip():
        raise UserError(f"{flag} is empty; give a file path")
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {text!r} is a folder; give a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{flag} {text!r}: the folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{flag} {text!r}: cannot write there (permission denied)")
    try:  # /proc, a read-only mount: only trying tells
        probe = parent / f".{path.name}.{secrets.token_hex(4)}.probe"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{flag} {text!r}: cannot write there ({exc.strerror or exc})") from None
    return path


def write_output(path: str | Path, data: str | bytes | Writer, flag: str) -> Path:
    """`atomic_write` to a path the user gave: a failure is one line naming the flag."""
    from benchharness.errors import UserError

    try:
        return atomic_write(path, data)
    except OSError as exc:
        raise UserError(f"cannot write {flag} {str(path)!r}: {exc.strerror or exc}") from None
