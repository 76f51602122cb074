"""What `bench history` shows: the runs over time, each figure's sequence and its steps.

A sequence is one (suite, candidate, figure) over the runs, oldest first. Its steps come
from `changepoint.detect_steps`; each is named by the run where the figure moved and what
changed there compared with the run before: machine, data, model, harness (our version or
the Python packages), suite file, git commit of the suite's folder, profile, --quick.
"""

from __future__ import annotations

import math

import pandas as pd

from benchharness.decide import figures as names
from benchharness.history.changepoint import MIN_REL_CHANGE, detect_steps
from benchharness.numbers import MISSING, money_column

#: identity columns compared at a step: column -> what a person calls it
CHANGE_KINDS = {
    "machine": "machine", "data_sha256": "data", "split_sha256": "data split",
    "model_sha256": "model", "harness_version": "harness", "software": "packages",
    "suite_sha256": "suite file", "git_commit": "git commit", "profile": "profile", "quick": "--quick",
}
#: the figures the runs table shows when --figure is not given
TABLE_FIGURES = ("primary", "p99_ms", "rows_per_s", "usd_per_million")
TABLE_WIDTH = 100
#: shorter column heads for the runs table (other figures are headed by their name)
SHORT_HEADS = {"usd_per_million": "$/1M", "rows_per_s": "rows/s", "batch_usd_per_million": "batch $/1M",
               "realtime_usd_per_million": "real-time $/1M"}
MONEY = {"usd_per_million", "batch_usd_per_million", "realtime_usd_per_million"}


def select(frame: pd.DataFrame, suite: str | None = None, candidate: str | None = None,
           figure: str | None = None) -> pd.DataFrame:
    out = frame
    for column, wanted in (("suite", suite), ("candidate", candidate), ("figure", figure)):
        if wanted:
            out = out[out[column] == wanted]
    return out


def _changed(prev: pd.Series, row: pd.Series) -> list[str]:
    found = []
    for column, label in CHANGE_KINDS.items():
        a, b = prev.get(column), row.get(column)
        a = None if a is None or (isinstance(a, float) and math.isnan(a)) else a
        b = None if b is None or (isinstance(b, float) and math.isnan(b)) else b
        if a != b and label not in found:
            found.append(label)
    return found


def sequences(frame: pd.DataFrame, min_rel_change: float = MIN_REL_CHANGE) -> list[dict]:
    """Every (suite, candidate, figure) sequence with its points and steps."""
    rows = frame[frame["figure"].notna() & frame["value"].notna()]
    out = []
    for (suite, cand, figure), seq in rows.groupby(["suite", "candidate", "figure"], sort=True):
        seq = seq.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)
        intervals = [None if pd.isna(lo) or pd.isna(hi) else [float(lo), float(hi)]
                     for lo, hi in zip(seq["lo"], seq["hi"])]
        steps = detect_steps(seq["value"].to_numpy(float), [i or [None, None] for i in intervals],
                             min_rel_change=min_rel_change)
        points = [{"run_id": r.run_id, "started_at": r.started_at, "value": float(r.value),
                   "interval": iv, "machine": r.machine, "machine_label": r.machine_label,
                   "quick": bool(r.quick)}
                  for r, iv in zip(seq.itertuples(), intervals)]
        changes = []
        for s in steps:
            prev, row = seq.iloc[s.index - 1], seq.iloc[s.index]
            changes.append({
                "run_id": row["run_id"], "started_at": row["started_at"], "index": s.index,
                "before": s.before, "after": s.after,
                "rel_change": None if math.isinf(s.rel_change) else s.rel_change,
                "worse": (s.after > s.before) == (names.better(figure) == "lower"),
                "changed": _changed(prev, row),
            })
        out.append({"suite": suite, "candidate": cand, "figure": figure, "unit": names.unit(figure),
                    "better": names.better(figure), "points": points, "change_points": changes})
    return out


def change_lines(seqs: list[dict]) -> list[str]:
    """One line per step: where a figure moved, by how much, and what changed there."""
    lines = []
    for seq in seqs:
        for c in seq["change_points"]:
            size = f"{c['rel_change']:+.0%}" if c["rel_change"] is not None else "from 0"
            what = ", ".join(c["changed"]) if c["changed"] else "nothing recorded changed"
            when = str(c["started_at"] or "")[5:16].replace("T", " ")
            lines.append(
                f"{seq['candidate']} {seq['figure']}: {names.fmt(c['before'], seq['unit'])} -> "
                f"{names.fmt(c['after'], seq['unit'])} ({size}, {'worse' if c['worse'] else 'better'}) "
                f"at run {_short_run(c['run_id'])} ({when}); changed there: {what}")
    return lines


def _primary_figure(frame: pd.DataFrame) -> str | None:
    quality = [f for f in frame["figure"].dropna().unique() if names.is_quality_name(f)]
    for metric in ("accuracy", "r2", "roc_auc", "f1"):
        if metric in quality:
            return metric
    return quality[0] if quality else None


def runs_table(frame: pd.DataFrame, figure: str | None = None, width: int | None = None) -> str:
    """The runs over time, newest first: one line per run x candidate, at most `width`
    columns (the terminal's): names are never cut; the least needed columns give way."""
    from benchharness.report.console import terminal_width

    width = width or terminal_width()
    if frame.empty:
        return "no runs in the history index"
    shown = [figure] if figure else [f for f in TABLE_FIGURES if f != "primary"]
    if not figure:
        primary = _primary_figure(frame)
        shown = ([primary] if primary else []) + shown
    several_suites = frame["suite"].nunique() > 1
    keys = ["started_at", "run_id", "suite", "candidate"]
    heads = ["started", "run", *(["suite"] if several_suites else []), "candidate",
             *(SHORT_HEADS.get(f, f) for f in shown), "machine", "quick"]
    lines = []
    for (started, run_id, suite, cand), grp in frame.groupby(keys, sort=False, dropna=False):
        values = dict(zip(grp["figure"], grp["value"]))
        first = grp.iloc[0]
        cells = [str(started or "")[5:16].replace("T", " "), _short_run(run_id),
                 *([str(suite)] if several_suites else []), str(cand)]
        if first["status"] != "ok":
            cells += ["FAILED"] + [""] * (len(shown) - 1)
        else:
            cells += [values.get(f) if f in MONEY else _cell(values.get(f), f) for f in shown]
        cells += [str(first["machine"] or MISSING)[:8], "yes" if first["quick"] else "no"]
        lines.append((started, run_id, cells))
    lines.sort(key=lambda t: (str(t[0]), str(t[1])), reverse=True)
    rows = [c for _, _, c in lines]
    for f in shown:  # a money column in the one unit its figures read in
        if f in MONEY:
            col = heads.index(SHORT_HEADS.get(f, f))
            unit, cells = money_column(r[col] if r[col] != "" else None for r in rows)
            heads[col] = heads[col].replace("/1M", f"/{unit}")
            for r, cell in zip(rows, cells, strict=True):
                r[col] = "" if r[col] == "" else cell
    table = [heads] + rows
    cand_col = heads.index("candidate")
    keep = list(range(len(heads)))
    # what gives way when the line is too long: quick, machine, the run id, then the figures
    # from the right; the start, the suite and the candidate's name never do
    give_way = [heads.index("quick"), heads.index("machine"), heads.index("run"),
                *range(len(heads) - 3, cand_col, -1)]
    dropped = []
    while give_way and _line_width(table, keep) > width:
        col = give_way.pop(0)
        keep.remove(col)
        dropped.append(heads[col])
    widths = {i: max(len(r[i]) for r in table) for i in keep}
    out = []
    for r in table:
        out.append("  ".join(r[i].ljust(widths[i]) if i <= cand_col else r[i].rjust(widths[i])
                             for i in keep).rstrip())
    if dropped:
        out.append(f"(left out at {width} columns: {', '.join(dropped)})")
    return "\n".join(out)


def _line_width(table: list[list[str]], keep: list[int]) -> int:
    return sum(max(len(r[i]) for r in table) for i in keep) + 2 * (len(keep) - 1)


def _short_run(run_id) -> str:
    """The run id's random suffix (the start time is its own column)."""
    return str(run_id).rsplit("-", 1)[-1]


def _cell(value, figure: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return names.fmt(float(value), names.unit(figure))
