"""`bench compare RUN_DIR...`: runs side by side, what changed and whether it is real.

The first run is the reference; each later run is compared with it, candidate by candidate
(matched by name). The variation that matters is between processes, not between the
requests of one process, so a measured figure is judged on its independent trials (each a
fresh child process; `trials` beside the figure in results.json):

- **measured figures** (latency percentiles, qps, open-loop p99 and rate, rows/s, CPU,
  memory, cost): the change is the ratio of the two runs' trial medians; its (1 - alpha)
  interval comes from a seeded bootstrap that resamples the trials of each run, widened by
  both runs' run-level terms (the drift of a whole run that its trials cannot see,
  `measure/run_level.py`; recorded beside each figure as `run_level.cv`). Four outcomes
  (`decide/paired.outcome`): a **regression** when that whole interval lies beyond
  `threshold` in the worse direction, an **improvement** when it lies beyond it in the
  better one, **equivalent** when it lies wholly within +-threshold, else **inconclusive**
  (this comparison cannot tell). Each row also says the smallest change it could have shown
  at its noise (`detectable`). Runs made at different times carry both runs' drift, so this
  sees large changes only; `bench run --against` measures the reference again in the same
  rounds and sees a few percent.
- **not comparable**: a run that has no verdict (it stopped before judging: crashed or
  interrupted) or a candidate that failed in one run and not the other: said, exit 3.
- **too few trials**: with n_a and n_b trials, no change is testable at level alpha unless
  C(n_a + n_b, n_a) >= 2 / alpha (under no change, every ordering of the trials is equally
  likely, and the most extreme one, every trial of one run beyond every trial of the other,
  has probability 1 / C). At the default alpha 0.05 that is 4 + 4 trials (or 3 + 5).
- **quality** (the primary metric, same data split): worse beyond `threshold` and the two
  bootstrap intervals do not overlap.
- a figure **without trials** (results from before trials were kept, or a figure measured
  once) is **untested**: shown, never a regression on its own.

Exit code: 0 no regression, 1 at least one regression, 3 a run or candidate not comparable,
4 no regression but a measured figure inconclusive, 2 usage error.
"""

from __future__ import annotations

import math
from math import comb
from pathlib import Path

import numpy as np

from benchharness import exit_codes, numbers, schema
from benchharness.decide import figures as names
from benchharness.decide import paired
from benchharness.measure.intervals import add_run_level
from benchharness.results import load_results

FIGURES = ("primary", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "mean_ms", "qps", "open_p99_ms",
           "sustainable_rps", "rows_per_s", "cpu_ms_per_prediction", "rss_peak_mb", "usd_per_million")
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
DEFAULT_THRESHOLD = 0.10
DEFAULT_ALPHA = 0.05
ENV_KEYS = ("hostname", "cpu_model", "cpu_count_logical", "memory_total_mb", "os", "python")
WIDTH = 100  # the printed table fits this many columns


def trials_can_show(n_a: int, n_b: int, alpha: float) -> bool:
    """Can n_a and n_b trials show any change at level alpha? (see the module doc)"""
    return n_a >= 2 and n_b >= 2 and comb(n_a + n_b, n_a) >= 2 / alpha


def ratio_interval(before: list[float], after: list[float], confidence: float,
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(ratio, low, high): median(after) / median(before) over trials, and its percentile
    interval from resampling each run's trials with replacement."""
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    rng = np.random.default_rng(seed)
    med_a = np.median(a[rng.integers(0, a.size, (resamples, a.size))], axis=1)
    med_b = np.median(b[rng.integers(0, b.size, (resamples, b.size))], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = med_b / med_a
    ratios = ratios[np.isfinite(ratios)]
    point = float(np.median(b) / np.median(a)) if np.median(a) else float("nan")
    if ratios.size == 0:
        return point, float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return point, float(lo), float(hi)


def _judge_trials(ta: list[float], tb: list[float], higher: bool, threshold: float, alpha: float,
                  run_cvs: tuple[float, float] = (0.0, 0.0)) -> dict:
    if not ta or not tb:
        which = "either run" if not ta and not tb else ("the reference run" if not ta else "this run")
        return {"result": "untested", "test": f"no trials in {which}"}
    if not trials_can_show(len(ta), len(tb), alpha):
        return {"result": "untested",
                "test": f"{len(ta)} + {len(tb)} trials cannot show a change at alpha {alpha:g}"}
    if min(ta) <= 0 or min(tb) <= 0:
        return {"result": "untested", "test": "a trial value is zero or negative: no ratio"}
    ratio, lo, hi = ratio_interval(ta, tb, 1 - alpha)
    # each run also drifted as a whole, by what its trials cannot see (the run level its own
    # intervals were widened by): the ratio's relative std gains both runs' terms
    lo, hi = add_run_level(ratio, [lo, hi], math.hypot(*run_cvs), 1 - alpha)
    half = (math.log(hi) - math.log(lo)) / 2 if lo and lo > 0 and hi > 0 else math.inf
    return {"result": paired.outcome((lo - 1, hi - 1), higher, threshold),
            "change": ratio - 1, "interval": [lo - 1, hi - 1],
            "detectable": paired.detectable(half, threshold) if math.isfinite(half) else None,
            "test": f"bootstrap of the ratio of trial medians, {len(ta)} + {len(tb)} trials, "
                    f"{1 - alpha:.0%} interval, both runs' drift added"}


def _judge_quality(a: dict, b: dict, metric: str, change: float | None, higher: bool, threshold: float,
                   same_split: bool = False) -> dict:
    if same_split and change == 0:  # the same rows scored alike: the sampling of rows is shared
        return {"result": paired.EQUIVALENT, "test": "the same value on the same test rows"}
    ca, cb = names.quality_ci(a, metric), names.quality_ci(b, metric)
    if ca is None or cb is None or change is None:
        return {"result": "untested", "test": "no bootstrap intervals"}
    apart = not (ca[0] <= cb[1] and cb[0] <= ca[1])
    worse = (change < -threshold) if higher else (change > threshold)
    better = (change > threshold) if higher else (change < -threshold)
    # the widest the difference can be while both values stay inside their intervals
    base = abs(names.as_number((ca[0] + ca[1]) / 2) or 0.0) or 1.0
    within = max(abs(cb[1] - ca[0]), abs(cb[0] - ca[1])) / base <= threshold
    result = (paired.REGRESSION if apart and worse else paired.IMPROVEMENT if apart and better
              else paired.EQUIVALENT if within else paired.INCONCLUSIVE)
    return {"result": result, "test": f"intervals [{ca[0]:.4g}, {ca[1]:.4g}] vs [{cb[0]:.4g}, {cb[1]:.4g}]"}


def compare_pair(res_a: dict, res_b: dict, threshold: float, alpha: float) -> list[dict]:
    """One row per (candidate, figure) measured in both runs."""
    rows = []
    same_split = (schema.get_path(res_a, "data.split.split_sha256")
                  == schema.get_path(res_b, "data.split.split_sha256") is not None)
    cands_b = {c["name"]: c for c in schema.candidates(res_b) if c.get("status") == "ok"}
    for a in schema.candidates(res_a):
        b = cands_b.get(a["name"])
        if a.get("status") != "ok" or b is None:
            continue
        for figure in FIGURES:
            va, vb = names.resolve(figure, a, res_a), names.resolve(figure, b, res_b)
            if va is None or vb is None:
                continue
            label = names.primary_metric(a, res_a) if figure == "primary" else figure
            higher = names.better(figure, a, res_a) == "higher"
            change = (vb - va) / abs(va) if va else None
            if figure == "primary":
                judged = _judge_quality(a, b, label, change, higher, threshold, same_split)
            else:
                judged = _judge_trials(names.trial_values(a, figure, res_a), names.trial_values(b, figure, res_b),
                                       higher, threshold, alpha, (names.run_cv(a, figure, res_a), names.run_cv(b, figure, res_b)))
            row = {"candidate": a["name"], "figure": label, "unit": names.unit(figure), "before": va, "after": vb,
                   "change": change, "interval": None, "detectable": None,
                   "better": "higher" if higher else "lower", **judged}
            row["regression"] = row["result"] == paired.REGRESSION
            rows.append(row)
    return rows


def not_comparable(res_a: dict, res_b: dict) -> list[str]:
    """Why two runs (or some of their candidates) cannot be compared: a run that stopped
    before its verdict, a candidate that ran in one and failed in the other."""
    out = []
    for label, res in (("the reference run", res_a), ("this run", res_b)):
        if not schema.verdict(res):
            why = "it was interrupted" if res.get("interrupted") else "it stopped before judging (crashed?)"
            out.append(f"{label} {res.get('run_id', '?')} has no verdict: {why}")
    status_a = {c["name"]: c.get("status") for c in schema.candidates(res_a)}
    for c in schema.candidates(res_b):
        before, after = status_a.get(c["name"]), c.get("status")
        if before is not None and (before == "ok") != (after == "ok"):
            failed, err = ("this run", c.get("error")) if after != "ok" else ("the reference run", None)
            out.append(f"{c['name']} failed in {failed}" + (f": {err}" if err else ""))
    return out


def verdict_changes(res_a: dict, res_b: dict) -> list[str]:
    """What the verdict decided differently: the recommendation, each candidate's status, the exit code."""
    va, vb = schema.verdict(res_a), schema.verdict(res_b)
    if not va or not vb:
        return []
    out = []
    if va.get("recommended") != vb.get("recommended"):
        out.append(f"recommended: {va.get('recommended') or 'none'} -> {vb.get('recommended') or 'none'}")
    before = {r["name"]: r["status"] for r in va.get("candidates", [])}
    for r in vb.get("candidates", []):
        if r["name"] in before and before[r["name"]] != r["status"]:
            out.append(f"{r['name']}: {before[r['name']]} -> {r['status']}")
    if va.get("exit_code") != vb.get("exit_code"):
        out.append(f"exit code: {va.get('exit_code')} -> {vb.get('exit_code')}")
    return out


def environment_changes(res_a: dict, res_b: dict) -> list[str]:
    ea, eb = schema.run_section(res_a, "environment"), schema.run_section(res_b, "environment")
    out = [f"{k}: {ea.get(k)} -> {eb.get(k)}" for k in ENV_KEYS if ea.get(k) != eb.get(k)]
    pa, pb = ea.get("packages") or {}, eb.get("packages") or {}
    out += [f"{k}: {pa.get(k)} -> {pb.get(k)}" for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
    return out


def setup_changes(res_a: dict, res_b: dict) -> list[str]:
    """What makes two runs' figures not comparable besides the machine: --quick, the data, the suite."""
    out = []
    qa, qb = (bool(schema.run_section(r, "suite").get("quick")) for r in (res_a, res_b))
    if qa != qb:
        out.append(f"--quick: {qa} -> {qb} (short windows and fewer resamples: timings and intervals differ by design)")
    sa, sb = (schema.get_path(r, "data.split.split_sha256") for r in (res_a, res_b))
    if sa != sb:
        out.append(f"data split: {str(sa)[:12]} -> {str(sb)[:12]} (other rows: quality figures are not comparable)")
    na, nb = (schema.run_section(r, "suite").get("name") for r in (res_a, res_b))
    if na != nb:
        out.append(f"suite: {na} -> {nb}")
    return out


def compare_results(ref: dict, others: list[dict], threshold: float = DEFAULT_THRESHOLD,
                    alpha: float = DEFAULT_ALPHA) -> dict:
    """Compare loaded results documents with the reference; the document `bench compare` prints."""
    comparisons = []
    for res in others:
        rows = compare_pair(ref, res, threshold, alpha)
        names_a = {c["name"] for c in ref.get("candidates", [])}
        names_b = {c["name"] for c in schema.candidates(res)}
        comparisons.append({
            "run": res.get("run_id", "?"), "rows": rows, "verdict_changes": verdict_changes(ref, res),
            "environment_changes": environment_changes(ref, res), "setup_changes": setup_changes(ref, res),
            "only_in_reference": sorted(names_a - names_b), "only_in_run": sorted(names_b - names_a),
            "regressions": sum(r["regression"] for r in rows),
            "inconclusive": sum(r["result"] == paired.INCONCLUSIVE for r in rows),
            "untested": sum(r["result"] == "untested" for r in rows),
            "not_comparable": not_comparable(ref, res),
        })
    total = sum(c["regressions"] for c in comparisons)
    broken = any(c["not_comparable"] for c in comparisons)
    unsure = any(c["inconclusive"] for c in comparisons)
    code = (exit_codes.CANDIDATE_FAILED if broken else exit_codes.NO if total
            else exit_codes.INCONCLUSIVE if unsure else exit_codes.OK)
    return {"reference": ref.get("run_id", "?"), "threshold": threshold, "alpha": alpha,
            "comparisons": comparisons, "regressions": total, "exit_code": code}


def compare_runs(run_dirs: list[str | Path], threshold: float = DEFAULT_THRESHOLD,
                 alpha: float = DEFAULT_ALPHA) -> dict:
    """Compare every later run folder with the first."""
    results = [load_results(Path(d)) for d in run_dirs]
    for d, res in zip(run_dirs, results, strict=True):
        res.setdefault("run_id", str(d))
    return compare_results(results[0], results[1:], threshold, alpha)


_pct = numbers.change  # the one way a change is printed (the HTML page calls it too)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _summary(comp: dict) -> list[str]:
    regs = [r for r in comp["rows"] if r["regression"]]
    head = f"vs {comp['run']}: {len(regs)} regression{'s' if len(regs) != 1 else ''}"
    head += ("; verdict changed" if comp["verdict_changes"] else "; verdict unchanged")
    out = [head]
    out += [_cut(f"  NOT COMPARABLE: {line}", WIDTH) for line in comp.get("not_comparable", [])]
    out += [f"  verdict: {line}" for line in comp["verdict_changes"]]
    for cand in dict.fromkeys(r["candidate"] for r in regs):  # one line per candidate, in table order
        mine = [r for r in regs if r["candidate"] == cand]
        out.append(_cut(f"  REGRESSION {cand} ({len(mine)}): "
                        + ", ".join(f"{r['figure']} {_pct(r['change'])}" for r in mine), WIDTH))
    out += [_cut(f"  setup changed: {line}", WIDTH) for line in comp.get("setup_changes", [])]
    out += [_cut(f"  machine changed: {line}", WIDTH) for line in comp["environment_changes"]]
    for label, key in (("only in reference", "only_in_reference"), ("only in this run", "only_in_run")):
        if comp[key]:
            out.append(_cut(f"  {label}: {', '.join(comp[key])}", WIDTH))
    return out


def _table(comp: dict) -> list[str]:
    return changes_table(comp["rows"])


def _cells(r: dict) -> tuple[str, str]:
    """Before and after for a table cell: a cost per 1M predictions in the one unit the pair
    reads in ('$0.0307/1B'), any other figure by the number rule."""
    if r["unit"] == numbers.PER_MILLION:
        unit = numbers.money_unit([r["before"], r["after"]])
        return tuple(f"{numbers.money_in(v, unit)}/{unit[1]}" for v in (r["before"], r["after"]))
    unit = r["unit"] if r["unit"].startswith("USD") else ""
    return names.fmt(r["before"], unit), names.fmt(r["after"], unit)


def changes_table(rows: list[dict], width: int = WIDTH) -> list[str]:
    """The rows of changes as a table that fits `width` columns (compare and --against):
    under 100 columns the before and after values are left out (the change, its interval,
    what it could show and the outcome stay)."""
    cw = min(14, max([len(r["candidate"]) for r in rows] + [9]))
    narrow = width < WIDTH
    header = (f"  {'candidate':<{cw}} {'figure':<16} "
              + ("" if narrow else f"{'before':>10} {'after':>10} ")
              + f"{'change':>7} {'interval':>13} {'sees':>5}  result")
    out = [header]
    for r in rows:
        iv = r.get("interval")
        span = f"{_pct(iv[0])}..{_pct(iv[1])}" if iv else numbers.MISSING
        result = r["result"].upper() if r["regression"] else r["result"]
        sees = f"{r['detectable']:.0%}" if r.get("detectable") is not None else numbers.MISSING
        before, after = _cells(r)
        values = "" if narrow else f"{_cut(before, 10):>10} {_cut(after, 10):>10} "
        out.append(f"  {_cut(r['candidate'], cw):<{cw}} {_cut(r['figure'], 16):<16} {values}"
                   f"{_pct(r['change']):>7} {span:>13} {_cut(sees, 5):>5}  {result}")
    reasons = sorted({r["test"] for r in rows if r["result"] == "untested"})
    out += [_cut(f"  untested: {reason}", WIDTH) for reason in reasons]
    return out


def compare_text(doc: dict) -> str:
    """What `bench compare` prints: per compared run a summary (verdict changes, regressions),
    then the table of every figure."""
    out = [_cut(f"reference: {doc['reference']}", WIDTH),
           f"regression: worse by more than {doc['threshold']:.0%} over the whole {1 - doc['alpha']:.0%} "
           "interval of the change;",
           f"equivalent: the whole interval within +-{doc['threshold']:.0%}; inconclusive: neither "
           "(this comparison cannot tell)",
           "sees: the smallest change each row could show at its noise (runs made at different times "
           "carry",
           "both runs' drift; `bench run SUITE --against RUN` measures both in the same rounds and sees "
           "less)"]
    for comp in doc["comparisons"]:
        out += [""] + _summary(comp) + [""] + _table(comp)
    out.append(f"\n{doc['regressions']} regression(s)")
    return "\n".join(out)
