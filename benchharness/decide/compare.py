"""`bench compare RUN_DIR...`: runs side by side, what changed and whether it is real.

The first run is the reference; each later run is compared with it, candidate by candidate
(matched by name). For every figure: the two values, the change, and whether the change is
significant:

- the centre of the closed loop (p50, mean, qps) and batch throughput: Mann-Whitney U
  (two-sided, scipy) on the raw latency samples saved beside each results.json (per request;
  per call at the best batch size). It tests a shift of the whole distribution, so it can miss
  a regression only in the tail;
- the tail of the closed loop (p90, p95, p99, p99.9): a seeded bootstrap of the difference of
  that nearest-rank percentile between the two runs' raw samples; significant when the
  (1 - alpha) interval of the difference excludes zero;
- quality figures: the two bootstrap intervals do not overlap;
- other figures (throughput, memory, cost) carry no interval: not tested.

A **regression** is a change in the worse direction larger than `threshold` (relative) that
is not shown insignificant (significant, or untested for lack of samples or intervals).
Exit code: 0 none, 1 at least one regression, 2 usage error.
"""

from __future__ import annotations

from pathlib import Path

from scipy.stats import mannwhitneyu

from benchharness.decide import figures as names
from benchharness.measure.stats import PERCENTILES, bootstrap_percentile_difference, percentile_key
from benchharness.report.samples import latency_samples
from benchharness.results import load_results

#: (figure, real-time mode whose raw samples test it, or None)
FIGURES = [
    ("primary", None), ("p50_ms", "closed_loop"), ("p90_ms", "closed_loop"), ("p95_ms", "closed_loop"),
    ("p99_ms", "closed_loop"), ("p999_ms", "closed_loop"), ("mean_ms", "closed_loop"), ("qps", "closed_loop"), ("open_p99_ms", None), ("sustainable_rps", None), ("rows_per_s", "batch"),
    ("cpu_ms_per_prediction", None), ("rss_peak_mb", None), ("usd_per_million", None),
]
#: tail figures judged by their own percentile's bootstrap, not by Mann-Whitney
TAIL_PERCENTILES = {percentile_key(q): q for q in PERCENTILES if q > 50}
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_MAX_SAMPLES = 10_000  # per run and resample: bounds the cost; larger runs get wider intervals
BOOTSTRAP_SEED = 0
ENV_KEYS = ("hostname", "cpu_model", "cpu_count_logical", "memory_total_mb", "os", "python")


def _quality_significance(a: dict, b: dict, metric: str) -> tuple[bool | None, str]:
    ca, cb = names.quality_ci(a, metric), names.quality_ci(b, metric)
    if ca is None or cb is None:
        return None, "no intervals"
    overlap = ca[0] <= cb[1] and cb[0] <= ca[1]
    return (not overlap), f"intervals [{ca[0]:.4g}, {ca[1]:.4g}] vs [{cb[0]:.4g}, {cb[1]:.4g}]"


def _mann_whitney(sa, sb, alpha: float) -> dict:
    p = float(mannwhitneyu(sa, sb, alternative="two-sided").pvalue)
    return {"significant": p < alpha, "method": "mann-whitney", "p_value": p,
            "test": f"Mann-Whitney U, n={sa.size}/{sb.size}"}


def _tail_tests(sa, sb, alpha: float) -> dict[str, dict]:
    """Each tail percentile's own test: bootstrap interval of after - before (one resampling for all)."""
    found = bootstrap_percentile_difference(
        sa, sb, tuple(TAIL_PERCENTILES.values()), confidence=1 - alpha,
        resamples=BOOTSTRAP_RESAMPLES, max_samples=BOOTSTRAP_MAX_SAMPLES, seed=BOOTSTRAP_SEED)
    out = {}
    for figure, q in TAIL_PERCENTILES.items():
        diff, lo, hi = found[q]
        out[figure] = {"significant": not lo <= 0 <= hi, "method": "bootstrap-percentile", "p_value": None,
                       "interval": [lo, hi],
                       "test": f"bootstrap p{q:g} difference {diff:+.4g} ms, {1 - alpha:.0%} interval "
                               f"[{lo:+.4g}, {hi:+.4g}], n={sa.size}/{sb.size}"}
    return out


class _LatencyTests:
    """The tests of one candidate's latency figures, each run once and only when asked for."""

    def __init__(self, dir_a: Path, a: dict, dir_b: Path, b: dict, alpha: float):
        self.dirs, self.cands, self.alpha = (dir_a, dir_b), (a, b), alpha
        self.cache: dict[str, dict] = {}

    def __call__(self, figure: str, mode: str) -> dict:
        kind = "tail" if mode == "closed_loop" and figure in TAIL_PERCENTILES else "centre"
        key = f"{mode}:{kind}"
        if key not in self.cache:
            sa, sb = (latency_samples(d, c, mode) for d, c in zip(self.dirs, self.cands, strict=True))
            if sa is None or sb is None:
                self.cache[key] = {"significant": None, "method": None, "p_value": None, "test": "no raw samples"}
            elif kind == "tail":
                self.cache[key] = _tail_tests(sa, sb, self.alpha)
            else:
                self.cache[key] = _mann_whitney(sa, sb, self.alpha)
        found = self.cache[key]
        return found.get(figure, found) if kind == "tail" else found


def compare_pair(dir_a: Path, res_a: dict, dir_b: Path, res_b: dict, threshold: float, alpha: float) -> list[dict]:
    """One row per (candidate, figure) measured in both runs."""
    rows = []
    cands_b = {c["name"]: c for c in res_b.get("candidates", []) if c.get("status") == "ok"}
    for a in res_a.get("candidates", []):
        b = cands_b.get(a["name"])
        if a.get("status") != "ok" or b is None:
            continue
        latency_tests = _LatencyTests(dir_a, a, dir_b, b, alpha)
        for figure, mode in FIGURES:
            va, vb = names.resolve(figure, a, res_a), names.resolve(figure, b, res_b)
            if va is None or vb is None:
                continue
            label = names.primary_metric(a, res_a) if figure == "primary" else figure
            higher = names.better(figure, a, res_a) == "higher"
            change = (vb - va) / abs(va) if va else None
            worse = (vb < va) if higher else (vb > va)
            if figure == "primary":
                significant, test = _quality_significance(a, b, label)
                judged = {"significant": significant, "test": test, "p_value": None,
                          "method": "intervals" if significant is not None else None}
            elif mode:
                judged = latency_tests(figure, mode)
            else:
                judged = {"significant": None, "method": None, "p_value": None, "test": "no interval"}
            beyond = change is not None and abs(change) > threshold
            rows.append({
                "candidate": a["name"], "figure": label, "unit": names.unit(figure), "before": va, "after": vb,
                "change": change, "better": "higher" if higher else "lower", "worse": worse, **judged,
                "regression": bool(worse and beyond and judged["significant"] is not False),
            })
    return rows


def environment_changes(res_a: dict, res_b: dict) -> list[str]:
    ea, eb = res_a.get("environment") or {}, res_b.get("environment") or {}
    out = [f"{k}: {ea.get(k)} -> {eb.get(k)}" for k in ENV_KEYS if ea.get(k) != eb.get(k)]
    pa, pb = ea.get("packages") or {}, eb.get("packages") or {}
    out += [f"{k}: {pa.get(k)} -> {pb.get(k)}" for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
    return out


def setup_changes(res_a: dict, res_b: dict) -> list[str]:
    """What makes two runs' figures not comparable besides the machine: --quick, the data, the suite."""
    out = []
    qa, qb = bool((res_a.get("suite") or {}).get("quick")), bool((res_b.get("suite") or {}).get("quick"))
    if qa != qb:
        out.append(f"--quick: {qa} -> {qb} (short windows and fewer resamples: timings and intervals differ by design)")
    sa, sb = names.get_path(res_a, "data.split.split_sha256"), names.get_path(res_b, "data.split.split_sha256")
    if sa != sb:
        out.append(f"data split: {str(sa)[:12]} -> {str(sb)[:12]} (other rows: quality figures are not comparable)")
    na, nb = (res_a.get("suite") or {}).get("name"), (res_b.get("suite") or {}).get("name")
    if na != nb:
        out.append(f"suite: {na} -> {nb}")
    return out


def compare_runs(run_dirs: list[str | Path], threshold: float = 0.10, alpha: float = 0.01) -> dict:
    """Compare every later run with the first; the document `bench compare` prints."""
    dirs = [Path(d) for d in run_dirs]
    results = [load_results(d) for d in dirs]
    ref_dir, ref = dirs[0], results[0]
    comparisons = []
    for d, res in zip(dirs[1:], results[1:], strict=True):
        rows = compare_pair(ref_dir, ref, d, res, threshold, alpha)
        names_a = {c["name"] for c in ref.get("candidates", [])}
        names_b = {c["name"] for c in res.get("candidates", [])}
        comparisons.append({
            "run": res.get("run_id", str(d)), "rows": rows, "environment_changes": environment_changes(ref, res),
            "setup_changes": setup_changes(ref, res),
            "only_in_reference": sorted(names_a - names_b), "only_in_run": sorted(names_b - names_a),
            "regressions": sum(r["regression"] for r in rows),
        })
    total = sum(c["regressions"] for c in comparisons)
    return {"reference": ref.get("run_id", str(ref_dir)), "threshold": threshold, "alpha": alpha,
            "comparisons": comparisons, "regressions": total, "exit_code": 1 if total else 0}


def compare_text(doc: dict) -> str:
    """The table `bench compare` prints."""
    out = [f"reference: {doc['reference']}  (regression: worse by > {doc['threshold']:.0%}, "
           f"not shown insignificant at alpha {doc['alpha']:g})"]
    for comp in doc["comparisons"]:
        out.append(f"\nvs {comp['run']}")
        out += [f"  setup changed: {line}" for line in comp.get("setup_changes", [])]
        out += [f"  machine changed: {line}" for line in comp["environment_changes"]]
        for label, key in (("only in reference", "only_in_reference"), ("only in this run", "only_in_run")):
            if comp[key]:
                out.append(f"  {label}: {', '.join(comp[key])}")
        width = max([len(r["candidate"]) for r in comp["rows"]] + [9])
        for r in comp["rows"]:
            change = f"{r['change']:+.1%}" if r["change"] is not None else "n/a"
            sig = {True: "significant", False: "not significant", None: "untested"}[r["significant"]]
            p = f" p={r['p_value']:.2g}" if r["p_value"] is not None else ""
            flag = "REGRESSION" if r["regression"] else ""
            out.append(f"  {r['candidate']:<{width}}  {r['figure']:<22} {names.fmt(r['before'], r['unit']):>14} -> "
                       f"{names.fmt(r['after'], r['unit']):<14} {change:>8}  {sig}{p} ({r['test']})  {flag}")
    out.append(f"\n{doc['regressions']} regression(s)")
    return "\n".join(out)
