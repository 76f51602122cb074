"""The decision: which candidates meet every hard limit, how they rank, which one to ship.

Reads only saved results (plus the suite's `limits`, `objective` and `plan`, which the stage
copies into results.json so that `bench report` can remake everything from a run dir).
docs/decisions.md explains it for users.

- A candidate **qualifies** when it ran (status ok) and every hard (`fail`) limit passes.
  A hard limit that fails, or whose figure was not measured (`unknown`), **blocks**. A hard
  limit whose figure's interval straddles the threshold is `inconclusive`: it blocks too,
  and a candidate whose only unmet hard limits are inconclusive is itself `inconclusive`:
  it could still qualify (more trials, a quieter machine would decide). Warn-level limits
  never block.
- **Ranking** of the qualifying candidates by the suite's `objective`, a list of terms
  `max NAME`, `min NAME`, `best NAME` or `NAME` (best: the figure's own better direction),
  each optionally `within X`. On each term the candidates tied with the best go on to the
  next term: those within X of it and those not shown worse than it: on a figure measured in
  the run's rounds, by the per-round ratios (decide/paired.py: the run's drift is shared, so
  no run-level term; a difference under 2% never decides); otherwise (quality) by 95%
  intervals that do not overlap. So noise cannot order them; a tie on every term keeps the
  suite's order. When the winner tied, on a measured
  term, with a candidate better there by its point value, the run adds trials of that term
  (measure/trials.py) and, if the tie stands, the sentence calls it a close call
  (`close_call`). Default: the primary metric, then lowest batch
  cost, then lowest p99 latency.
- **Pareto front** over quality (primary metric), p99 latency and cost, among every candidate
  that ran, on the axes measured for all of them.
- **Exit codes** (exit_codes.py): 3 a candidate crashed; else 0 a candidate qualifies; else
  4 (inconclusive) when one could still qualify, so CI can retry rather than fail; else 1.
  With --strict a qualifying run also exits non-zero when any limit of any candidate is not
  `pass` (warnings included): 4 when all of those are inconclusive, else 1. The CLI adds 2
  for usage and suite errors.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from benchharness import numbers, schema
from benchharness.decide import figures as names
from benchharness.decide import limits as limits_mod
from benchharness.decide import paired
from benchharness.errors import SuiteError
from benchharness.exit_codes import CANDIDATE_FAILED as EXIT_CRASH
from benchharness.exit_codes import INCONCLUSIVE as EXIT_INCONCLUSIVE
from benchharness.exit_codes import NO as EXIT_NONE
from benchharness.exit_codes import OK as EXIT_OK
from benchharness.quality import sample_size
from benchharness.suite import Suite

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


def _overlap(a: tuple | None, b: tuple | None) -> bool:
    """Do two intervals (a bound may be None: unbounded) share a point?"""
    lo_a, hi_a = (-math.inf if a[0] is None else a[0]), (math.inf if a[1] is None else a[1])
    lo_b, hi_b = (-math.inf if b[0] is None else b[0]), (math.inf if b[1] is None else b[1])
    return lo_a <= hi_b and lo_b <= hi_a


def _paired_term(a: dict, b: dict, term: Term, results: dict) -> tuple[paired.PairedChange, bool] | None:
    """(b against a on a measured term, judged on their per-round ratios, whether higher is
    better), or None when they have no rounds in common to judge on (a quality term, figures
    from before rounds, a fleet's candidates on other machines)."""
    if term.name not in names.TRIAL_FIGURES:
        return None
    change = paired.compare(a, b, term.name, results)
    return None if change is None else (change, term.direction(a, results) == "higher")


def _paired_worse(best: dict, c: dict, term: Term, results: dict) -> bool | None:
    """Is c shown worse than best beyond `paired.RANK_MIN_CHANGE` on their rounds? None: no
    rounds in common (see _paired_term)."""
    found = _paired_term(best, c, term, results)
    return None if found is None else paired.worse_beyond(found[0], found[1], paired.RANK_MIN_CHANGE)


def rank(cands: list[dict], terms: list[Term], results: dict, trace: list | None = None,
         same_run: bool = True) -> list[dict]:
    """Lexicographic ranking in which noise cannot decide a term.

    On each term the candidates tied with the best one go on to the next term: those within
    the term's `within` tolerance of it, and those not shown worse than it. Shown worse, on a
    figure measured in trials of the same run (`same_run`): the per-round ratio's interval
    lies wholly beyond `paired.RANK_MIN_CHANGE` on the worse side (the run's drift is shared,
    so no run-level term). Otherwise (quality metrics: their bootstrap intervals; figures of
    other runs): the two 95% intervals are apart. A tied group keeps the suite's order, so
    when every term ties the first listed candidate leads whatever the point values did.
    `trace` collects the tied groups (term, names) for the sentence.
    """
    if len(cands) <= 1 or not terms:
        return list(cands)
    term = terms[0]

    def key(c):
        v = names.resolve(term.name, c, results)
        if v is None:
            return (1, 0.0)  # not measured: after every measured value
        return (0, -v if term.direction(c, results) == "higher" else v)

    ordered = sorted(cands, key=key)
    best = ordered[0]
    if key(best)[0] == 1:
        return rank(cands, terms[1:], results, trace, same_run)
    best_iv = names.interval(best, term.name, results)

    def ties_best(c) -> bool:
        if key(c)[0] == 1:
            return False
        if key(c)[1] - key(best)[1] <= term.within + 1e-12:
            return True
        worse = _paired_worse(best, c, term, results) if same_run and c is not best else None
        if worse is not None:
            return not worse
        iv = names.interval(c, term.name, results)
        return best_iv is not None and iv is not None and _overlap(best_iv, iv)

    tied = [c for c in cands if ties_best(c)]  # suite order, not the noisy point order
    rest = [c for c in ordered if c not in tied]
    if trace is not None and len(tied) > 1:
        trace.append((term, [c["name"] for c in tied]))
    return rank(tied, terms[1:], results, trace, same_run) + rank(rest, terms, results, trace, same_run)


def unsettled_terms(qualifying: list[dict], terms: list[Term], results: dict) -> list[tuple[Term, list[str]]]:
    """[(term, [ranked first, better by points])] for each term on which the winner tied with a
    candidate whose point value is better by more than the term's `within`, and that more
    rounds could still show better (`_could_be_better`): narrower intervals there could change
    the winner. In the order of the objective; the
    caller keeps the terms that more trials can narrow (`decide/sequential.unsettled_ranking`).
    Empty when every tie the winner went through is a tie by points too."""
    if len(qualifying) < 2 or not terms:
        return []
    trace: list = []
    first = rank(qualifying, terms, results, trace)[0]
    by_name = {c["name"]: c for c in qualifying}
    found = []
    for term, group in trace:
        if first["name"] not in group:
            continue
        mine = names.resolve(term.name, first, results)
        if mine is None:
            continue
        sign = -1.0 if term.direction(first, results) == "higher" else 1.0
        better = [(sign * (v - mine), n) for n in group if n != first["name"]
                  for v in [names.resolve(term.name, by_name[n], results)]
                  if v is not None and sign * (mine - v) > term.within + 1e-12
                  and _could_be_better(first, by_name[n], term, results)]
        if better:
            found.append((term, [first["name"], min(better)[1]]))
    return found


def _could_be_better(first: dict, other: dict, term: Term, results: dict) -> bool:
    """Could more rounds show `other` better than `first` on the term? Judged on their
    per-round ratios when they have them: only while the paired interval still reaches beyond
    `paired.RANK_MIN_CHANGE` on other's better side (a tie shown to lie within it is settled:
    identical copies do not ask for trials up to the cap). Without rounds: yes."""
    found = _paired_term(first, other, term, results)
    if found is None:
        return True
    change, higher = found
    return change.high > paired.RANK_MIN_CHANGE if higher else change.low < -paired.RANK_MIN_CHANGE


def close_call(qualifying: list[dict], terms: list[Term], results: dict) -> tuple[str, list[str]] | None:
    """(term, [first, other]) when the winner tied, on a measured term (one more trials can
    narrow), with a candidate better there by its point value: the tie stood after the trials
    the run added to settle it, so the lead is the next term's, not shown on this one."""
    for term, pair in unsettled_terms(qualifying, terms, results):
        if term.name in names.TRIAL_FIGURES:
            return term.name, pair
    return None


def paired_comparisons(qualifying: list[dict], ranking: list[str], terms: list[Term],
                       results: dict) -> list[dict]:
    """What the ranking judged each qualifying candidate on against the recommended one: per
    measured term, the paired change (decide/paired.py) and whether it shows it worse."""
    if len(ranking) < 2:
        return []
    by_name = {c["name"]: c for c in qualifying}
    first = by_name[ranking[0]]
    out = []
    for term in terms:
        if term.name not in names.TRIAL_FIGURES:
            continue
        higher = term.direction(first, results) == "higher"
        for other in ranking[1:]:
            change = paired.compare(first, by_name[other], term.name, results)
            if change is None:
                continue
            out.append({"term": str(term), "candidate": other, "against": first["name"], **change.to_dict(),
                        "shown_worse": paired.worse_beyond(change, higher, paired.RANK_MIN_CHANGE)})
    return out


def pareto_front(points: dict[str, tuple[float, ...]], senses: tuple[str, ...],
                 order=None) -> list[str]:
    """Names of the points no other point dominates (as good on every axis, better on one).

    senses: "higher" or "lower" per axis. `order(q, p, axis)`, when given, says how q stands
    against p on one axis (1 better, 0 tied, -1 worse) instead of their point values (the
    run's verdict: paired per-round ratios, so noise does not push a candidate off the front).
    """
    def by_points(q: str, p: str, axis: int) -> int:
        a, b = points[q][axis], points[p][axis]
        if a == b:
            return 0
        return 1 if (a > b) == (senses[axis] == "higher") else -1

    order = order or by_points
    front = []
    for n in points:
        dominated = False
        for m in points:
            if m == n:
                continue
            signs = [order(m, n, axis) for axis in range(len(senses))]
            if all(s >= 0 for s in signs) and any(s > 0 for s in signs):
                dominated = True
                break
        if not dominated:
            front.append(n)
    return front


def pareto(cands: list[dict], results: dict, same_run: bool = True) -> tuple[list[str], list[str]]:
    """(front, axes used): the axes are those measured for every candidate that ran. Inside
    one run a measured axis orders two candidates only when their per-round ratio shows it
    (`decide/paired.py`); other axes, and figures without rounds, by their point values."""
    axes = [(a, s) for a, s in PARETO_AXES
            if cands and all(names.resolve(a, c, results) is not None for c in cands)]
    if not axes:
        return [], []
    senses = tuple(names.better(a, cands[0], results) if a == "primary" else s for a, s in axes)
    points = {c["name"]: tuple(names.resolve(a, c, results) for a, _ in axes) for c in cands}
    by_name = {c["name"]: c for c in cands}

    def order(q: str, p: str, axis: int) -> int:
        a, b = points[q][axis], points[p][axis]
        higher = senses[axis] == "higher"
        term = Term(axes[axis][0], "max" if higher else "min")
        if same_run:
            if _paired_worse(by_name[p], by_name[q], term, results):
                return -1
            if _paired_worse(by_name[q], by_name[p], term, results):
                return 1
            if paired.compare(by_name[p], by_name[q], term.name, results) is not None:
                return 0
        return 0 if a == b else (1 if (a > b) == higher else -1)

    return pareto_front(points, senses, order), [a for a, _ in axes]


HARD_BLOCKING = ("fail", "unknown", "inconclusive")  # statuses of a hard limit that block
DECIDE_HINT = "more trials or a quieter machine would decide it"
DECIDE_HINT_QUALITY = "a larger test split would decide it"


def _hint(metric: str) -> str:
    return DECIDE_HINT_QUALITY if names.is_quality_name(metric) or metric == "primary" else DECIDE_HINT


def _exit_codes(rows: list[dict], ranking: list[str], ran: list[dict]) -> tuple[int, int]:
    """(exit code, exit code with --strict).

    3 a candidate crashed; else 0 one qualifies; else 4 when one could still qualify (its only
    unmet hard limits are inconclusive: rerun with more trials); else 1. --strict: also no
    zero when any limit of any candidate is not a pass, 4 when all such are inconclusive.
    """
    if any(r["status"] == "crashed" for r in rows):
        code = EXIT_CRASH
    elif ranking:
        code = EXIT_OK
    elif any(r["status"] == "inconclusive" for r in rows):
        code = EXIT_INCONCLUSIVE
    else:
        code = EXIT_NONE
    if code != EXIT_OK:
        return code, code
    not_pass = [lim["status"] for c in ran for lim in schema.limits(c) if lim["status"] != "pass"]
    if not not_pass:
        return code, EXIT_OK
    return code, EXIT_INCONCLUSIVE if all(st == "inconclusive" for st in not_pass) else EXIT_NONE


def judge(results: dict, suite_limits: Any = None, cand_limits: dict | None = None,
          objective: Any = None) -> dict:
    """Build the verdict section from saved results; also writes each candidate's `limits`."""
    cand_limits = cand_limits or {}
    terms = parse_objective(objective)
    checks = {c["name"]: limits_mod.evaluate_all(limits_mod.limits_for(suite_limits, cand_limits.get(c["name"])),
                                                 c, results)
              for c in schema.candidates(results)
              if c.get("role", "candidate") != "baseline" and c.get("status") == "ok"}
    inputs = {"limits": suite_limits, "candidate_limits": cand_limits, "objective": [str(t) for t in terms]}
    return decide(results, checks, terms, inputs)


def decide(results: dict, checks_by_name: dict[str, list], terms: list[Term],
           inputs: dict | None = None) -> schema.Verdict:
    """The verdict from each candidate's limit outcomes (pass/warn/fail/unknown/inconclusive)."""
    ran, rows = [], []
    for cand in schema.candidates(results):
        if cand.get("role", "candidate") == "baseline":
            continue
        row = {"name": cand["name"], "status": "crashed", "blocking": [], "inconclusive": [],
               "to_change": [], "warnings": []}
        if cand.get("status") != "ok":
            row["blocking"] = [f"crashed: {cand.get('error') or 'unknown error'}"]
            row["to_change"] = ["fix the crash: " + (cand.get("error") or "unknown error")]
            rows.append(row)
            continue
        ran.append(cand)
        checks = checks_by_name.get(cand["name"], [])
        cand["limits"] = [r.to_dict() for r in checks]
        hard_unmet = [r for r in checks if r.severity == "fail" and r.status in HARD_BLOCKING]
        row["blocking"] = [why(r, cand, results) for r in hard_unmet]
        row["inconclusive"] = [why(r, cand, results) for r in hard_unmet if r.status == "inconclusive"]
        changes = sorted((_change(r, cand, results) for r in hard_unmet), key=lambda ch: ch[0])
        row["to_change"] = [text for _, text in changes]
        row["distance"] = _distance([d for d, _ in changes])
        guard = schema.parity(cand).get("quality_guard") or {}
        if guard.get("beyond_tolerance"):  # a tuned variant that lost the original's quality
            row["blocking"].append(guard.get("why") or "quality not kept against the original")
            row["to_change"].append("keep the original's quality: " + (guard.get("why") or ""))
        row["warnings"] = [why(r, cand, results) for r in checks
                           if r.severity == "warn" and r.status in ("warn", "unknown", "inconclusive")]
        if not hard_unmet and not guard.get("beyond_tolerance"):
            row["status"] = "qualifies"
        elif not guard.get("beyond_tolerance") and all(r.status == "inconclusive" for r in hard_unmet):
            row["status"] = "inconclusive"
        else:
            row["status"] = "blocked"
        hard = [r for r in checks if r.severity == "fail"]
        row["limits_passed"] = sum(r.status == "pass" for r in hard)  # hard limits only
        row["limits_total"] = len(hard)
        row["warn_limits_total"] = len(checks) - len(hard)
        rows.append(row)
    status = {r["name"]: r["status"] for r in rows}
    qualifying = [c for c in ran if status[c["name"]] == "qualifies"]
    trace: list = []
    ranking = [c["name"] for c in rank(qualifying, terms, results, trace)]
    front, axes = pareto(ran, results)
    for row in rows:
        row["on_pareto_front"] = row["name"] in front
    code, strict = _exit_codes(rows, ranking, ran)
    ties = [{"term": str(t), "candidates": group} for t, group in trace]
    comparisons = paired_comparisons(qualifying, ranking, terms, results)
    close = close_call(qualifying, terms, results)
    sentence = recommendation(results, rows, ranking, terms, trace)
    if close:
        sentence += (f" A close call: {close[1][1]} has the better {close[0]} by its point value, but "
                     "the rounds do not show it, even with the trials added to settle it; more trials or "
                     "a quieter machine would show whether it should lead.")
    unmet = sorted((r for r in rows if r["status"] in ("inconclusive", "blocked")),
                   key=lambda r: r["distance"]) + [r for r in rows if r["status"] == "crashed"]
    what_to_change = [{"candidate": r["name"], "changes": r["to_change"]} for r in unmet]
    for row in rows:
        row.pop("distance", None)  # a sort key, not a result
    return {
        "inputs": inputs or {"limits": None, "candidate_limits": {}, "objective": [str(t) for t in terms]},
        "candidates": rows,
        "ranking": ranking,
        "ties": ties,
        "paired": comparisons,
        "recommended": ranking[0] if ranking else None,
        "close_call": close[1] if close else [],
        "could_qualify": [r["name"] for r in rows if r["status"] == "inconclusive"],
        "what_to_change": what_to_change,
        "pareto_front": front,
        "pareto_axes": axes,
        "sentence": sentence,
        "exit_code": code,
        "exit_code_strict": strict,
    }


def _span(lo: float | None, hi: float | None, unit: str) -> str:
    """'45–62 ms', '50 ms or more' (an interval with an open end)."""
    if lo is None and hi is None:
        return "not pinned down (too few trials)"
    if lo is None:
        return f"{names.fmt(hi, unit)} or less"
    if hi is None:
        return f"{names.fmt(lo, unit)} or more"
    if unit == numbers.PER_MILLION:
        return numbers.money_span(lo, hi)
    if unit in ("USD", "share", "%"):
        return f"{names.fmt(lo, unit)}–{names.fmt(hi, unit)}"
    return f"{names.fmt(lo)}–{names.fmt(hi, unit)}"


def _baseline_context(r: limits_mod.LimitResult, cand: dict, results: dict) -> dict | None:
    """For a limit against a baseline: which baseline, its value, and what was judged."""
    try:
        lim = limits_mod.parse_limit(r.expression, r.severity)
    except SuiteError:
        return None
    if lim.baseline is None:
        return None
    base = limits_mod.pick_baseline(results, r.metric, lim.baseline)
    if base is None:
        return None
    base_name, base_value = base
    delta = limits_mod._paired_delta(cand, r.metric, base_name)
    own = names.quality_ci(cand, r.metric) if names.is_quality_name(r.metric) else None
    kind = "paired" if delta is not None else ("own" if own is not None else "point")
    return {"limit": lim, "name": base_name, "value": base_value, "kind": kind, "delta": delta}


def _resolution(r: limits_mod.LimitResult, cand: dict, results: dict, ctx: dict):
    """Can the test split show the margin this baseline limit asks for? (paired intervals only)"""
    rows = names.as_number((schema.quality(cand).get("rows") or {}).get("test"))
    if ctx["kind"] != "paired" or not rows or r.value is None or r.threshold is None:
        return None
    confidence = names.as_number((schema.run_quality(results).get("bootstrap") or {}).get("confidence")) or 0.95
    up = ctx["limit"].op in (">=", ">")
    sign = 1.0 if up else -1.0
    margin = sign * (r.threshold - ctx["value"])  # required difference, in the better direction
    measured = sign * (r.value - ctx["value"])
    return sample_size.resolution(int(rows), ctx["delta"], confidence, margin, measured)


def why(r: limits_mod.LimitResult, cand: dict | None = None, results: dict | None = None) -> str:
    """One limit's outcome in words: what was measured, against what, and what it means."""
    cand, results = cand or {}, results or {}
    unit = r.unit
    if r.status == "unknown":
        return f"{r.expression}: unknown ({r.note})"
    ctx = _baseline_context(r, cand, results)
    if r.status == "inconclusive":
        iv = names.interval(cand, r.metric, results) if cand else None
        if ctx is not None and ctx["kind"] == "paired":  # where the candidate lies, from the paired interval
            iv = (ctx["value"] + ctx["delta"][0], ctx["value"] + ctx["delta"][1])
        span = _span(*iv, unit) if iv else None
        if span and r.threshold is not None:
            return (f"{r.expression}: {r.metric} {span} straddles the {names.fmt(r.threshold, unit)} limit: "
                    f"inconclusive ({_hint(r.metric)})")
        return f"{r.expression}: inconclusive ({r.note or _hint(r.metric)})"
    verb = "missed" if r.margin < 0 else "met"
    if ctx is None:
        measured = names.fmt(r.value, unit)
        iv = names.interval(cand, r.metric, results) if cand else None
        if iv and not names.is_quality_name(r.metric):
            measured += f" (95% interval {_span(*iv, unit)})"
        return f"{r.expression}: measured {measured}, {verb} by {names.fmt(abs(r.margin), unit)}"
    lim = ctx["limit"]
    need = f"needs {names.fmt(r.threshold, unit)} ({ctx['name']} {names.fmt(ctx['value'], unit)}"
    need += (f" {lim.arith} {lim.number:g})" if lim.arith else ")")
    end = "lower" if lim.op in (">=", ">") else "upper"
    basis = {"paired": f"the {end} end of the 95% paired interval vs {ctx['name']}",
             "own": f"the {end} end of its own 95% interval",
             "point": "the point value, no interval"}[ctx["kind"]]
    if ctx["kind"] == "point":
        text = f"{r.expression}: {need}; measured {names.fmt(r.value, unit)} ({basis})"
    else:
        text = (f"{r.expression}: {need}; judged at {names.fmt(r.judged, unit)}, {basis} "
                f"(measured {names.fmt(r.value, unit)})")
    text += f": {verb} by {names.fmt(abs(r.margin), unit)}"
    res = _resolution(r, cand, results, ctx) if r.margin < 0 else None
    if res is not None and res.too_small:
        text += f". {sample_size.describe(res, lambda v: names.fmt(v, unit))}"
    return text


def _change(r: limits_mod.LimitResult, cand: dict, results: dict) -> tuple[float, str]:
    """(how far, what to change) for one unmet hard limit: the shortest changes sort first."""
    unit = r.unit
    if r.status == "unknown":
        return math.inf, f"measure {r.metric} ({r.note.replace(f'{r.metric} was not measured', 'not measured')})"
    if r.status == "inconclusive":
        iv = names.interval(cand, r.metric, results)
        where = f"{r.metric} {_span(*iv, unit)} vs {names.fmt(r.threshold, unit)}" if iv else r.metric
        return 0.0, f"decide {where}: {_hint(r.metric).replace(' would decide it', '')}"
    rel = abs(r.margin) / abs(r.value) if r.value else abs(r.margin)  # the change, relative to now
    if names.is_quality_name(r.metric) and "baseline" in r.expression:
        ctx = _baseline_context(r, cand, results)
        res = _resolution(r, cand, results, ctx) if ctx else None
        if res is not None and res.too_small and res.rows_needed:
            return rel, (f"{r.metric}: {names.fmt(abs(r.margin), unit)} short, but the test split is too small "
                         f"to show the margin (about {res.rows_needed:,} rows needed, {res.rows:,} used)")
        return rel, f"{r.metric}: {names.fmt(abs(r.margin), unit)} short of {r.expression} at the cautious end"
    lower = r.metric and names.better(r.metric, cand, results) == "lower"
    target = f"{'≤' if lower else '≥'} {names.fmt(r.threshold, unit)}"
    return rel, f"{r.metric} {names.fmt(r.value, unit)} → {target} ({rel:.0%} {'less' if lower else 'more'})"


def _distance(parts: list[float]) -> list[float]:
    """Sort key of a blocked candidate: fewest hard changes (inconclusive ones free), then the largest."""
    hard = [p for p in parts if p > 0]
    return [len(hard), max(hard, default=0.0)]


def _surely_worse(cand: dict, metric: str) -> bool:
    """The paired interval of candidate minus baseline lies wholly on the worse side of zero."""
    ci = names.read_interval((schema.quality(cand).get("delta_vs_best_baseline") or {}).get("ci"))
    if ci is None:
        return False
    return ci[1] < 0 if names.better(metric) == "higher" else ci[0] > 0


def _baseline_as_good(results: dict, cands: list[dict]) -> str:
    """'' or a sentence when no candidate is shown better than the best baseline."""
    judged = [(c, schema.quality(c).get("beats_baseline")) for c in cands]
    judged = [(c, b) for c, b in judged if b is not None]
    if not judged or any(b for _, b in judged):
        return ""
    best = schema.run_quality(results).get("best_baseline") or {}
    first = schema.quality(judged[0][0]).get("delta_vs_best_baseline") or {}
    base_name = best.get("name") or first.get("baseline") or "the baseline"
    metric = best.get("metric") or first.get("metric") or names.primary_metric(judged[0][0], results) or "the metric"
    value = names.as_number(best.get("value", first.get("baseline_value")))
    sign = 1 if names.better(metric) == "higher" else -1

    def score(cb) -> float:
        v = names.quality_value(cb[0], metric)
        return -math.inf if v is None else sign * v

    top = max(judged, key=score)[0]
    top_value = names.quality_value(top, metric)
    figures = (f" ({base_name} {value:.4g}, best candidate {top['name']} {top_value:.4g})"
               if value is not None and top_value is not None else "")
    if all(_surely_worse(c, metric) for c, _ in judged):
        how = f"is better than every candidate on {metric}{figures}: every candidate's paired interval lies below it"
        if sign < 0:
            how = how.replace("below it", "above it")
    else:
        how = (f"is as good as every candidate on {metric}{figures}: no candidate's paired interval lies on "
               f"the better side of it")
    return f"The baseline {base_name} {how}, so {base_name}, the simpler model, is an option."


def recommendation(results: dict, rows: list[dict], ranking: list[str], terms: list[Term],
                   trace: list | None = None) -> str:
    """What to ship and why; or that nothing qualifies, and per candidate what to change."""
    by_name = {c["name"]: c for c in schema.candidates(results)}
    ran = [by_name[r["name"]] for r in rows if r["status"] != "crashed"]
    as_good = _baseline_as_good(results, ran)
    if ranking:
        best = by_name[ranking[0]]
        row = next(r for r in rows if r["name"] == ranking[0])
        n = row["limits_total"]
        limits_txt = ((f"meets all {n} hard limits" if n > 1 else "meets its hard limit") if n
                      else "ran cleanly (the suite sets no hard limits)")
        if row["warnings"]:
            limits_txt += f" ({len(row['warnings'])} warning{'s' if len(row['warnings']) > 1 else ''})"
        facts = _facts(best, results)
        lead = (f"it {limits_txt} and ranks first by {describe_objective(terms, results, best)}"
                f"{' (' + facts + ')' if facts else ''}.")
        metric = names.primary_metric(best, results) or "primary"
        tie = _tie_note(ranking[0], trace or [], terms, lambda n: metric if n == "primary" else n)
        others = ranking[1:]
        tail = (" " + tie if tie else "") + (f" Also qualifying: {', '.join(others)}." if others else "")
        maybe = [r["name"] for r in rows if r["status"] == "inconclusive"]
        if maybe:
            tail += f" Not yet decided: {', '.join(maybe)} (an interval straddles a limit)."
        if as_good:
            return f"{as_good} If a candidate must ship, take {best['name']}: {lead}{tail}"
        q = schema.quality(best)
        if q.get("beats_baseline") is False and q.get("baseline_statement"):
            tail += f" Caution: {q['baseline_statement']}."
        return f"Ship {best['name']}: {lead}{tail}"
    if not rows:
        return "No candidate to judge: the suite lists only baselines."
    judged = [r for r in rows if r["status"] != "crashed"]
    crashed = [r for r in rows if r["status"] == "crashed"]
    maybe = [r for r in judged if r["status"] == "inconclusive"]
    order = sorted(judged, key=lambda r: r.get("distance") or [math.inf])
    parts = []
    for r in order + crashed:
        shown = r["to_change"][:2] + ([f"and {len(r['to_change']) - 2} more"] if len(r["to_change"]) > 2 else [])
        parts.append(f"{r['name']} — {'; '.join(shown)}")
    head = ("No candidate qualifies for certain: the intervals of " + ", ".join(r["name"] for r in maybe)
            + " straddle a limit: measuring more would decide (exit code 4: retry)."
            if maybe else "No candidate qualifies.")
    head += " What to change, closest first: " + " | ".join(parts) + "."
    keep = [c["name"] for c in schema.candidates(results) if c.get("role") == "baseline"]
    if keep:
        head += f" Keep {keep[0]} (the declared baseline) until one does."
    elif as_good:
        head += " " + as_good
    return head


def _tie_note(first: str, trace: list, terms: list[Term], label=lambda name: name) -> str:
    """How ties on the objective's terms were broken for the recommended candidate."""
    groups = [(t, g) for t, g in trace if first in g]
    if not groups:
        return ""
    term, group = groups[-1]  # the deepest term on which it still tied
    others = [n for n in group if n != first]
    tied_on = ", ".join(label(t.name) for t, _ in groups)
    # measured figures tie on their rounds (decide/paired.py), quality on its intervals
    how = ("intervals overlap" if not any(t.name in names.TRIAL_FIGURES for t, _ in groups)
           else "no difference shown")
    if term == terms[-1]:
        return (f"It ties with {', '.join(others)} on every term of the objective ({how}): "
                f"it leads only by its place in the suite, so either is defensible.")
    decider = label(terms[terms.index(term) + 1].name)
    return f"It ties on {tied_on} ({how}); {decider} decided."


def describe_objective(terms: list[Term] | list[str], results: dict, cand: dict | None = None) -> str:
    """The ranking as a reader says it: 'min rmse, then min usd_per_million' (never 'best primary')."""
    parsed = parse_objective(terms) if terms and isinstance(terms[0], str) else terms
    if cand is None:  # any scored candidate knows the primary metric
        cand = next((c for c in schema.candidates(results) if schema.quality(c).get("primary_metric")), {})
    out = []
    for t in parsed:
        name = (names.primary_metric(cand, results) or "primary") if t.name == "primary" else t.name
        sense = t.sense or ("max" if t.direction(cand, results) == "higher" else "min")
        out.append(str(Term(name, sense, t.within)))
    return ", then ".join(out)


def _facts(cand: dict, results: dict, short: bool = False) -> str:
    """The figures a reader weighs: quality with its interval, p99, the cost in the suite's
    mode. `short`: the one-line answer's form ('accuracy 0.937 [0.9, 0.97], p99 1.1 ms, $4.28
    per 1M predictions in real time': 3 significant digits, 2 for the interval's ends)."""
    from benchharness import numbers

    metric = names.primary_metric(cand, results)
    parts = []
    value = names.quality_value(cand, metric)
    if value is not None:
        ci = names.quality_ci(cand, metric)
        if short:
            parts.append(f"{metric} {numbers.number(value, 3)}"
                         + (f" [{numbers.number(ci[0], 2)}, {numbers.number(ci[1], 2)}]" if ci else ""))
        else:
            parts.append(f"{metric} {value:.4g}" + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""))
    p99 = names.resolve("p99_ms", cand, results)
    if p99 is not None:
        parts.append(f"p99 {numbers.ms(p99, 2) if short else names.fmt(p99, 'ms')}")
    cost = names.resolve("usd_per_million", cand, results)
    if cost is not None:
        word = "in real time" if names.cost_mode_word("usd_per_million", results) == "real-time" else "in batch"
        parts.append(f"{numbers.money_per(cost)} {word}")
    return ", ".join(parts)


def headline(results: dict) -> str:
    """The one line a manager can forward, before the reasoning: 'Ship logreg on
    aws-c7i-large: accuracy 0.937 [0.9, 0.97], p99 1.1 ms, $4.28 per 1M predictions in real
    time', 'Inconclusive: ...' or 'Nothing qualifies: ...'. Built from the saved verdict."""
    v = schema.verdict(results)
    if not v:
        return "No verdict: the verdict stage did not run"
    by_name = {c["name"]: c for c in schema.candidates(results)}
    rec = v.get("recommended")
    if rec and rec in by_name:
        cand = by_name[rec]
        profile = schema.cost(cand).get("profile")
        where = f" on {profile}" if profile and profile != "local" else ""
        facts = _facts(cand, results, short=True)
        return f"Ship {rec}{where}" + (f": {facts}" if facts else "")
    rows = v.get("candidates", [])
    maybe = [r for r in rows if r["status"] == "inconclusive"]
    if maybe:
        first = maybe[0]
        why = first["blocking"][0] if first.get("blocking") else "a hard limit is not settled"
        return (f"Inconclusive: {', '.join(r['name'] for r in maybe)} may qualify, not shown yet "
                f"({first['name']}: {why.split(':')[0]}); more trials or a quieter machine would decide")
    changes = v.get("what_to_change") or []
    if changes and changes[0].get("changes"):
        return f"Nothing qualifies: closest is {changes[0]['candidate']} ({changes[0]['changes'][0]})"
    return "Nothing qualifies: no candidate ran" if not rows else "Nothing qualifies"


def suite_inputs(suite: Suite) -> tuple[Any, dict, Any]:
    """(limits, per-candidate limits, objective) from a validated suite."""
    cand_limits = {c.name: c.limits for c in suite.candidates if c.limits}
    return suite.limits, cand_limits, suite.objective


def verdict_stage(ctx) -> None:
    """Run stage: judge every candidate, keep the plan, print the sentence."""
    lim, cand_limits, objective = suite_inputs(ctx.suite)
    ctx.results["plan"] = ctx.suite.plan
    ctx.results["verdict"] = judge(ctx.results, lim, cand_limits, objective)


def rejudge(results: dict, suite: Suite) -> None:
    """Judge saved results again with another suite's limits, objective and plan."""
    lim, cand_limits, objective = suite_inputs(suite)
    results["plan"] = suite.plan
    results["verdict"] = judge(results, lim, cand_limits, objective)


WIDTH = 100  # terminal lines of the verdict fit this many columns when the terminal does not say


def _wrapped(first: str, text: str, indent: int, width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=" " * indent,
                         break_on_hyphens=False) or [first.rstrip()]


def summary_lines(results: dict, width: int | None = None) -> list[str]:
    """The verdict as the terminal shows it, wrapped once to the terminal's width: the
    one-line answer, a line per candidate and unmet limit, then the reasoning."""
    import functools

    from benchharness.report.console import terminal_width

    width = width or terminal_width()
    _wrap = functools.partial(_wrapped, width=width)
    v = schema.verdict(results)
    lines = ["", *_wrap("verdict: ", headline(results), 9)]
    rows = v.get("candidates", [])
    # the name column as wide as the longest name, up to a third of the line; a longer name
    # gets a line of its own so the status column stays in line
    name_w = max(8, min(max((len(r["name"]) for r in rows), default=8), width // 3))
    pad = 2 + name_w + 1 + 13 + 1
    for row in rows:
        if len(row["name"]) > name_w:
            lines.append(f"  {row['name']}")
            head = f"  {'':<{name_w}} {row['status'].upper():<13} "
        else:
            head = f"  {row['name']:<{name_w}} {row['status'].upper():<13} "
        details = row["blocking"][:3] or [
            f"{row['limits_passed']}/{row['limits_total']} hard limits met" if row.get("limits_total")
            else "no hard limits set"]
        if len(row["blocking"]) > 3:
            details.append(f"... and {len(row['blocking']) - 3} more (see the report)")
        for i, text in enumerate(details):
            lines += _wrap(head if i == 0 else " " * pad, text, pad)
        warns = row["warnings"][:3] + ([f"... and {len(row['warnings']) - 3} more (see the report)"]
                                       if len(row["warnings"]) > 3 else [])
        for text in warns:
            lines += _wrap(f"  {'':<{name_w}} {'warning':<13} ", text, pad)
    sentence = v.get("sentence", "")
    marker = " What to change, closest first: "
    if v.get("recommended") is None and marker in sentence and v.get("what_to_change"):
        # nothing qualifies: the headline, then one line per candidate instead of one long paragraph
        lines += _wrap("", sentence.split(marker)[0], 0) + ["What to change, closest first:"]
        for item in v["what_to_change"]:
            lines += _wrap(f"  {item['candidate']}: ", "; ".join(item["changes"]), 4)
        after = sentence.split(marker, 1)[1]
        ends = [i for i in (after.find(". Keep "), after.find(". The baseline ")) if i >= 0]
        if ends:  # the closing advice (keep the declared baseline, or the baseline as an option)
            lines += _wrap("", after[min(ends) + 2:], 0)
        return lines
    lines += _wrap("", sentence, 0)
    return lines
