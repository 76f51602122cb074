"""Pickles run code on load: one warning for every path that loads one, and one switch that
refuses them.

A `sklearn` model (a .pkl/.pickle/.joblib file, or any file given `format: sklearn` /
`--format sklearn`) is unpickled, which runs whatever code the file holds. Every command
that loads one calls `guard_pickle` before loading: it warns in the same words everywhere,
or, when pickles are refused, raises a ModelError that names the safe formats.

The switch: `bench --no-pickle <command>`, or the environment variable BENCH_NO_PICKLE=1
(children inherit it, so a model loaded in a measurement child is refused too).
"""

from __future__ import annotations

import os
import sys

from benchharness.errors import ModelError

NO_PICKLE_ENV = "BENCH_NO_PICKLE"
PICKLE_FORMATS = frozenset({"sklearn"})

PICKLE_WARNING = (
    "loading {path}: pickle/joblib files run code on load; load only files you trust "
    "(safe alternatives: a .skops file, or export to ONNX; `bench --no-pickle` refuses pickles)"
)


def pickles_refused() -> bool:
    return os.environ.get(NO_PICKLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def refuse_pickles() -> None:
    """Refuse pickles in this process and every child it starts."""
    os.environ[NO_PICKLE_ENV] = "1"


def is_pickle(source: str, fmt: str | None = None) -> bool:
    from benchharness.adapters.registry import find_format

    try:
        return find_format(source, fmt).format in PICKLE_FORMATS
    except ModelError:
        return False  # an unknown format is reported by the loader itself


def refusal(path: str) -> str:
    return (f"refusing to load {path}: it is a pickle (runs code on load) and pickles are refused "
            f"(--no-pickle or {NO_PICKLE_ENV}=1); give a .skops file or an ONNX export instead")


def guard_pickle(source: str, fmt: str | None = None, warn=None) -> None:
    """Before loading `source`: warn if it is a pickle, or raise if pickles are refused.

    `warn` takes the one-line warning (default: stderr)."""
    if not is_pickle(source, fmt):
        return
    if pickles_refused():
        raise ModelError(refusal(source))
    message = "warning: " + PICKLE_WARNING.format(path=source)
    if warn is None:
        print(message, file=sys.stderr, flush=True)
    else:
        warn(message)
