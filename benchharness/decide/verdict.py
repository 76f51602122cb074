"""The decision: which candidates meet every hard limit, how they rank, which one to ship.

Reads only saved results (plus the suite's `limits`, `objective` and `plan`, which the stage
copies into results.json so that `bench report` can remake everything from a run dir).

- A candidate **qualifies** when it ran (status ok) and every hard (`fail`) limit is met.
  A hard limit whose figure was not measured is `unknown` and blocks: a limit that cannot be
  checked is not met. Warn-level limits never block.
- **Ranking** of the qualifying candidates by the suite's `objective`, a list of terms
  `max NAME`, `min NAME`, `best NAME` or `NAME` (best: the figure's own better direction), each optionally `within X` (values within X of the best
  count as tied and the next term decides). Default: the primary metric, then lowest batch
  cost, then lowest p99 latency.
- **Pareto front** over quality (primary metric), p99 latency and cost, among every candidate
  that ran, on the axes measured for all of them.
- **Exit codes**: 0 a candidate qualifies; 1 none does (with --strict: also when any limit of
  any candidate is not `pass`, warnings included); 3 a candidate crashed. The CLI adds 2 for
  usage and suite errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from benchharness.decide import figures as names
from benchharness.decide import limits as limits_mod
from benchharness.errors import SuiteError
from benchharness.exit_codes import CANDIDATE_FAILED as EXIT_CRASH
from benchharness.exit_codes import NO as EXIT_NONE
from benchharness.exit_codes import OK as EXIT_OK

# "best": the metric's own better direction (lower RMSE, higher accuracy)
DEFAULT_OBJECTIVE = ["best primary", "min usd_per_million", "min p99_ms"]
PARETO_AXES = (("primary", "higher"), ("p99_ms", "lower"), ("usd_per_million", "lower"))

_TERM = re.compile(r"^\s*(?:(max|min|maximize|minimize|best)\s+)?([A-Za-z_][\w.]*)(?:\s+within\s+([0-9.eE+-]+))?\s*$")


@dataclass(frozen=True)
class Term:
    name: str
    sense: str | None  # "max" | "min" | None (the figure's own better direction)
    within: float = 0.0

    def direction(self, cand: dict, results: dict) -> str:
        if self.sense:
            return "higher" if self.sense == "max" else "lower"
        return names.better(self.name, cand, results)

    def __str__(self) -> str:
        text = f"{self.sense or 'best'} {self.name}"
        return f"{text} within {self.within:g}" if self.within else text


def parse_objective(spec: Any) -> list[Term]:
    """`objective`: one term or a list of terms; raise SuiteError naming the bad one."""
    if spec is None or spec == []:
        spec = DEFAULT_OBJECTIVE
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, list):
        raise SuiteError(f"'objective' must be a term or a list of terms like 'max accuracy', got {spec!r}")
    terms = []
    for item in items:
        m = _TERM.match(item) if isinstance(item, str) else None
        name = m.group(2) if m else None
        if not m or not (name in names.MEASURES or names.is_quality_name(name) or "." in name):
            raise SuiteError(
                f"'objective' term {item!r} is not understood; allowed: [max|min|best] NAME [within NUMBER], "
                f"NAME one of primary, {', '.join(list(names.MEASURES)[:8])}, ... or a quality metric"
            )
        sense = {"maximize": "max", "minimize": "min", "best": None}.get(m.group(1), m.group(1))
        terms.append(Term(name, sense, float(m.group(3)) if m.group(3) else 0.0))
    return terms


def rank(cands: list[dict], terms: list[Term], results: dict) -> list[dict]:
    """Lexicographic ranking with ties: within a term's tolerance the next term decides."""
    if len(cands) <= 1 or not terms:
        return list(cands)
    term = terms[0]

    def key(c):
        v = names.resolve(term.name, c, results)
        if v is None:
            return (1, 0.0)  # not measured: after every measured value
        return (0, -v if term.direction(c, results) == "higher" else v)

    ordered = sorted(cands, key=key)
    best = key(ordered[0])
    if best[0] == 1:
        return rank(ordered, terms[1:], results)
    tied = [c for c in ordered if key(c)[0] == 0 and key(c)[1] - best[1] <= term.within + 1e-12]
    rest = [c for c in ordered if c not in tied]
    return rank(tied, terms[1:], results) + rank(rest, terms, results)


def pareto_front(points: dict[str, tuple[float, ...]], senses: tuple[str, ...]) -> list[str]:
    """Names of the points no other point dominates (as good on every axis, better on one).

    senses: "higher" or "lower" per axis.
    """
    def as_max(p):  # flip "lower is better" axes so that larger is better everywhere
        return tuple(v if s == "higher" else -v for v, s in zip(p, senses, strict=True))

    flipped = {n: as_max(p) for n, p in points.items()}
    front = []
    for n, p in flipped.items():
        dominated = any(
            all(a >= b for a, b in zip(q, p, strict=True)) and any(a > b for a, b in zip(q, p, strict=True))
            for m, q in flipped.items() if m != n
        )
        if not dominated:
            front.append(n)
    return front


def pareto(cands: list[dict], results: dict) -> tuple[list[str], list[str]]:
    """(front, axes used): the axes are those measured for every candidate that ran."""
    axes = [(a, s) for a, s in PARETO_AXES
            if cands and all(names.resolve(a, c, results) is not None for c in cands)]
    if not axes:
        return [], []
    senses = tuple(names.better(a, cands[0], results) if a == "primary" else s for a, s in axes)
    points = {c["name"]: tuple(names.resolve(a, c, results) for a, _ in axes) for c in cands}
    return pareto_front(points, senses), [a for a, _ in axes]


def judge(results: dict, suite_limits: Any = None, cand_limits: dict | None = None,
          objective: Any = None) -> dict:
    """Build the verdict section from saved results; also writes each candidate's `limits`."""
    cand_limits = cand_limits or {}
    terms = parse_objective(objective)
    ran, rows = [], []
    for cand in results.get("candidates", []):
        if cand.get("role", "candidate") == "baseline":
            continue
        row = {"name": cand["name"], "status": "crashed", "blocking": [], "warnings": []}
        if cand.get("status") != "ok":
            row["blocking"] = [f"crashed: {cand.get('error') or 'unknown error'}"]
            rows.append(row)
            continue
        ran.append(cand)
        checks = limits_mod.evaluate_all(limits_mod.limits_for(suite_limits, cand_limits.get(cand["name"])), cand, results)
        cand["limits"] = [r.to_dict() for r in checks]
        row["blocking"] = [_why(r) for r in checks if r.severity == "fail" and r.status != "pass"]
        row["warnings"] = [_why(r) for r in checks if r.status == "warn" or (r.severity == "warn" and r.status == "unknown")]
        row["status"] = "blocked" if row["blocking"] else "qualifies"
        hard = [r for r in checks if r.severity == "fail"]
        row["limits_passed"] = sum(r.status == "pass" for r in hard)  # hard limits only
        row["limits_total"] = len(hard)
        row["warn_limits_total"] = len(checks) - len(hard)
        rows.append(row)
    qualifying = [c for c in ran if next(r for r in rows if r["name"] == c["name"])["status"] == "qualifies"]
    ranking = [c["name"] for c in rank(qualifying, terms, results)]
    front, axes = pareto(ran, results)
    for row in rows:
        row["on_pareto_front"] = row["name"] in front
    crashed = any(r["status"] == "crashed" for r in rows)
    code = EXIT_CRASH if crashed else (EXIT_OK if ranking else EXIT_NONE)
    any_not_pass = any(lim["status"] != "pass" for c in ran for lim in c.get("limits", []))
    strict = code if code != EXIT_OK else (EXIT_NONE if any_not_pass else EXIT_OK)
    return {
        "inputs": {"limits": suite_limits, "candidate_limits": cand_limits, "objective": [str(t) for t in terms]},
        "candidates": rows,
        "ranking": ranking,
        "recommended": ranking[0] if ranking else None,
        "pareto_front": front,
        "pareto_axes": axes,
        "sentence": recommendation(results, rows, ranking, terms),
        "exit_code": code,
        "exit_code_strict": strict,
    }


def _why(r: limits_mod.LimitResult) -> str:
    if r.status == limits_mod.INCONCLUSIVE:
        return f"{r.expression}: {r.note}"
    if r.status == "unknown":
        return f"{r.expression}: unknown ({r.note})"
    measured = names.fmt(r.value, r.unit)
    if r.judged != r.value:  # a baseline comparison: say which interval end was judged
        measured += f", judged on {names.fmt(r.judged, r.unit)}"
    return f"{r.expression}: measured {measured}, {'missed' if r.margin < 0 else 'met'} by {names.fmt(abs(r.margin), r.unit)}"


def recommendation(results: dict, rows: list[dict], ranking: list[str], terms: list[Term]) -> str:
    """One sentence: what to ship and why, or that nothing qualifies and what blocks each."""
    by_name = {c["name"]: c for c in results.get("candidates", [])}
    if ranking:
        best = by_name[ranking[0]]
        row = next(r for r in rows if r["name"] == ranking[0])
        n = row["limits_total"]
        limits_txt = ((f"meets all {n} hard limits" if n > 1 else "meets its hard limit") if n
                      else "ran cleanly (the suite sets no hard limits)")
        if row["warnings"]:
            limits_txt += f" ({len(row['warnings'])} warning{'s' if len(row['warnings']) > 1 else ''})"
        facts = _facts(best, results)
        others = [n for n in ranking[1:]]
        tail = f" Also qualifying: {', '.join(others)}." if others else ""
        q = best.get("quality") or {}
        if q.get("beats_baseline") is False and q.get("baseline_statement"):
            # the checklist's first question: shipping a model that a stupid one matches
            tail += f" Caution: {q['baseline_statement']}."
        return (f"Ship {best['name']}: it {limits_txt} and ranks first by "
                f"{describe_objective(terms, results, best)}{' (' + facts + ')' if facts else ''}.{tail}")
    if not rows:
        return "No candidate to judge: the suite lists only baselines."
    blocks = "; ".join(f"{r['name']} — {'; '.join(r['blocking'][:3])}" for r in rows)
    keep = [c["name"] for c in results.get("candidates", []) if c.get("role") == "baseline"]
    tail = f" Keep {keep[0]} (the declared baseline) until one does." if keep else ""
    return f"No candidate qualifies: {blocks}.{tail}"


def describe_objective(terms: list[Term] | list[str], results: dict, cand: dict | None = None) -> str:
    """The ranking as a reader says it: 'min rmse, then min usd_per_million' (never 'best primary')."""
    parsed = parse_objective(terms) if terms and isinstance(terms[0], str) else terms
    if cand is None:  # any scored candidate knows the primary metric
        cand = next((c for c in results.get("candidates", []) if (c.get("quality") or {}).get("primary_metric")), {})
    out = []
    for t in parsed:
        name = (names.primary_metric(cand, results) or "primary") if t.name == "primary" else t.name
        sense = t.sense or ("max" if t.direction(cand, results) == "higher" else "min")
        out.append(str(Term(name, sense, t.within)))
    return ", then ".join(out)


def _facts(cand: dict, results: dict) -> str:
    metric = names.primary_metric(cand, results)
    parts = []
    value = names.quality_value(cand, metric)
    if value is not None:
        ci = names.quality_ci(cand, metric)
        parts.append(f"{metric} {value:.4g}" + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""))
    for name, label in (("p99_ms", "p99"), ("usd_per_million", "per 1M predictions")):
        v = names.resolve(name, cand, results)
        if v is not None:
            parts.append(f"{label} {names.fmt(v, names.unit(name))}" if name == "p99_ms"
                         else f"{names.fmt(v, 'USD')} {label}")
    return ", ".join(parts)


def suite_inputs(suite: dict) -> tuple[Any, dict, Any]:
    """(limits, per-candidate limits, objective) from a validated suite."""
    cand_limits = {c["name"]: c["limits"] for c in suite.get("candidates", []) if c.get("limits")}
    return suite.get("limits"), cand_limits, suite.get("objective")


def verdict_stage(ctx) -> None:
    """Run stage: judge every candidate, keep the plan, print the sentence."""
    lim, cand_limits, objective = suite_inputs(ctx.suite)
    ctx.results["plan"] = ctx.suite.get("plan") or {}
    ctx.results["verdict"] = judge(ctx.results, lim, cand_limits, objective)


def rejudge(results: dict, suite: dict) -> None:
    """Judge saved results again with another suite's limits, objective and plan."""
    lim, cand_limits, objective = suite_inputs(suite)
    results["plan"] = suite.get("plan") or {}
    results["verdict"] = judge(results, lim, cand_limits, objective)


def summary_lines(results: dict) -> list[str]:
    """The verdict as the terminal shows it: one line per candidate, then the sentence."""
    v = results.get("verdict") or {}
    lines = ["", "verdict:"]
    for row in v.get("candidates", []):
        detail = "; ".join(row["blocking"][:2]) or (
            f"{row['limits_passed']}/{row['limits_total']} hard limits met" if row.get("limits_total") else "no hard limits set")
        lines.append(f"  {row['name']:<16} {row['status'].upper():<10} {detail}")
        lines += [f"  {'':<16} {'warning':<10} {w}" for w in row["warnings"][:3]]
        if len(row["warnings"]) > 3:
            lines.append(f"  {'':<16} {'':<10} ... and {len(row['warnings']) - 3} more (see the report)")
    lines.append(v.get("sentence", ""))
    return lines
