"""Hard limits: readable expressions -> pass / warn / fail / unknown, with value and margin.

A limit reads like the sentence a team would write down::

    p99_ms <= 20                      # absolute ceiling (closed-loop p99, milliseconds)
    usd_per_million <= 1.5            # cost per 1M predictions
    accuracy >= 0.9                   # absolute quality floor (point value)
    accuracy >= baseline + 0.02       # beat the best baseline by 0.02 ...
    accuracy >= baseline * 1.01       # ... or by 1 %, judged on the interval's cautious end
    rmse <= baseline[production] * 0.95   # against one named baseline
    subgroup_gap <= 0.05              # worst subgroup within 0.05 of overall

Grammar (a tiny hand-written parser; nothing is ever eval'ed)::

    limit := NAME OP rhs        OP  := <= | < | >= | >
    rhs   := NUMBER | baseline [ '[' NAME ']' | '(' NAME ')' ] [ (+ | - | *) NUMBER ]

NAME is a name from `decide/figures.py` (the documented table), a quality metric, or a dotted
path into the candidate's results section. A suite gives limits as a list (all hard) or as
`{fail: [...], warn: [...]}`; a limit that is not met gives `fail` or `warn` by that list, and
a figure that was not measured gives `unknown` (a hard limit that cannot be checked is not
met; the verdict says so).

Baseline comparisons are judged on the cautious end of the interval: the lower end for
`>=`/`>` and the upper end for `<=`/`<`. With a paired bootstrap of candidate minus baseline
(quality.delta_vs_best_baseline) the judged value is baseline + that end of the delta's interval;
otherwise the end of the candidate's own interval; with no interval, the point value (noted).

A limit on a MEASURED figure (latency, qps, rows/s, sustainable rate, CPU per prediction,
cost: `figures.TRIAL_FIGURES`) has three outcomes, judged on the figure's 95% interval across
trials: `pass` only when the whole interval is on the passing side, `fail` (or `warn`) only
when the whole interval is on the failing side, otherwise `inconclusive`: the interval
touches or straddles the threshold (a limit set exactly at the measured value is
inconclusive), or a bound is unknown. Inconclusive blocks qualification like a miss, but
says what would decide it: more trials or a quieter machine.
"""

from __future__ import annotations

import operator
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from benchharness import numbers, schema
from benchharness.decide import figures as names
from benchharness.errors import SuiteError
from benchharness.numbers import MISSING
from benchharness.suite import Suite

OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
INCONCLUSIVE = "inconclusive"
SEVERITIES = ("fail", "warn")
FORM = "NAME (<= | < | >= | >) NUMBER, or NAME OP baseline [[NAME] or (NAME)] [(+ | - | *) NUMBER]"

_TOKEN = re.compile(
    r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<op><=|>=|<|>)|"
    r"(?P<name>[A-Za-z_][\w.]*)|(?P<sym>[-+*\[\]()]))"
)


@dataclass(frozen=True)
class Limit:
    """One parsed limit expression."""

    text: str
    metric: str
    op: str
    number: float | None = None  # absolute threshold, or the adjustment for a baseline
    baseline: str | None = None  # None (absolute), "best", or a baseline's name
    arith: str | None = None  # "+", "-" or "*" applied to the baseline value
    severity: str = "fail"

    def threshold(self, base_value: float | None = None) -> float | None:
        if self.baseline is None:
            return self.number
        if base_value is None:
            return None
        if self.arith == "+":
            return base_value + self.number
        if self.arith == "-":
            return base_value - self.number
        if self.arith == "*":
            return base_value * self.number
        return base_value


@dataclass
class LimitResult:
    expression: str
    metric: str
    severity: str
    status: str  # pass | warn | fail | unknown | inconclusive
    value: float | None  # the measured point value
    judged: float | None  # the value compared (an interval end for baseline comparisons)
    threshold: float | None
    margin: float | None  # headroom: > 0 passes by that much, < 0 misses by that much
    unit: str
    note: str = ""
    interval: list | None = None  # the measured figure's 95% interval across trials, if judged on it

    def to_dict(self) -> schema.LimitResult:
        return asdict(self)


def _bad(text: str, why: str) -> SuiteError:
    some = ", ".join(list(names.MEASURES)[:12])
    return SuiteError(
        f"limit {text!r}: {why}; allowed: {FORM}, where NAME is one of {some}, ... "
        f"(see docs/limits.md), a quality metric such as accuracy or rmse, or a dotted results path"
    )


def _unknown_name(text: str, metric: str) -> SuiteError:
    """A name no stage computes: say so, suggest the closest, list every allowed name."""
    import difflib

    known = [*names.MEASURES, *names.QUALITY_METRICS]
    close = difflib.get_close_matches(metric, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return SuiteError(
        f"limit {text!r}: unknown name {metric!r}{hint}: nothing computes it; allowed: measured "
        f"figures {', '.join(names.MEASURES)}; quality metrics {', '.join(names.QUALITY_METRICS)} "
        "(train_<metric> for the train split); or a dotted path into a candidate's results"
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _bad(text, f"cannot read {text[pos:].strip()!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse_limit(text: str, severity: str = "fail") -> Limit:
    """Parse one expression; raise SuiteError that shows it and the allowed form."""
    if not isinstance(text, str) or not text.strip():
        raise _bad(str(text), "a limit must be a non-empty string")
    toks = _tokens(text)
    if len(toks) < 3 or toks[0][0] != "name" or toks[1][0] != "op":
        raise _bad(text, "expected NAME, a comparison and a right-hand side")
    metric, op, rest = toks[0][1], toks[1][1], toks[2:]
    if metric == "baseline" or not (metric in names.MEASURES or names.is_quality_name(metric) or "." in metric):
        raise _unknown_name(text, metric)
    if len(rest) == 1 and rest[0][0] == "num":
        return Limit(text.strip(), metric, op, float(rest[0][1]), severity=severity)
    if len(rest) == 2 and rest[0][0] == "num" and rest[1][0] == "name":
        raise _bad(text, f"write the number without a unit ({metric} {op} {rest[0][1]}): "
                         f"the unit is in the name ({metric})")
    if rest[0] != ("name", "baseline"):
        raise _bad(text, "the right-hand side must be a number or 'baseline'")
    which, rest = "best", rest[1:]
    if rest[:1] in ([("sym", "[")], [("sym", "(")]):  # baseline[NAME], or baseline(NAME) in flow-style YAML
        close = "]" if rest[0][1] == "[" else ")"
        if len(rest) < 3 or rest[1][0] != "name" or rest[2] != ("sym", close):
            raise _bad(text, "write a named baseline as baseline[NAME] or baseline(NAME)")
        which, rest = rest[1][1], rest[3:]
    if not rest:
        return Limit(text.strip(), metric, op, None, which, severity=severity)
    if len(rest) == 1 and rest[0][0] == "num" and rest[0][1][0] in "+-":
        rest = [("sym", rest[0][1][0]), ("num", rest[0][1][1:])]  # "baseline +0.02" tokenises as a signed number
    if len(rest) != 2 or rest[0][0] != "sym" or rest[0][1] not in "+-*" or rest[1][0] != "num":
        raise _bad(text, "after 'baseline' only '+ NUMBER', '- NUMBER' or '* NUMBER' may follow")
    return Limit(text.strip(), metric, op, float(rest[1][1]), which, rest[0][1], severity)


def parse_spec(spec: Any, where: str = "limits") -> list[Limit]:
    """A suite's `limits`: a list of expressions (all hard) or {fail: [...], warn: [...]}."""
    if spec is None:
        return []
    if isinstance(spec, list):
        spec = {"fail": spec}
    if not isinstance(spec, dict):
        raise SuiteError(f"{where!r} must be a list of expressions or a mapping with fail/warn lists, got {spec!r}")
    unknown = [k for k in spec if k not in SEVERITIES]
    if unknown:
        raise SuiteError(f"unknown key '{where}.{unknown[0]}'; allowed: fail, warn")
    out = []
    for severity in SEVERITIES:
        items = spec.get(severity) or []
        if not isinstance(items, list):
            raise SuiteError(f"'{where}.{severity}' must be a list of expressions, got {items!r}")
        for item in items:
            try:
                out.append(parse_limit(item, severity))
            except SuiteError as exc:
                raise SuiteError(f"{where}: {exc}") from None
    return out


def check_spec(spec: Any) -> None:
    """Config hook: raise SuiteError for a bad limits section (the run never starts)."""
    parse_spec(spec)


def limits_for(suite_spec: Any, cand_spec: Any) -> list[Limit]:
    """The suite's limits with the candidate's own replacing those on the same figure."""
    own = parse_spec(cand_spec, "candidate limits")
    overridden = {lim.metric for lim in own}
    return [lim for lim in parse_spec(suite_spec) if lim.metric not in overridden] + own


# -- evaluation --------------------------------------------------------------------------------
def open_loop_limit(suite: Suite, cand_limits: Any = None) -> tuple[float, str] | None:
    """The p99 limit the suite sets for the open loop's sustainable rate, and its source: the
    hard (fail) limit on `open_p99_ms`, else on `p99_ms` (a candidate's own limit on the
    figure replaces the suite's); else realtime.open_loop.p99_limit_ms; else None (the
    measurement's own default: measure/open_loop.sweep_p99_limit)."""
    hard = [lim for lim in limits_for(suite.limits, cand_limits)
            if lim.severity == "fail" and lim.baseline is None and lim.op in ("<=", "<")
            and lim.number is not None and lim.number > 0]
    for metric in ("open_p99_ms", "p99_ms"):
        numbers = [lim.number for lim in hard if lim.metric == metric]
        if numbers:
            return float(min(numbers)), f"limit: {metric} <= {min(numbers):g}"
    own = suite.realtime.open_loop.p99_limit_ms
    if own:
        return float(own), "suite: realtime.open_loop.p99_limit_ms"
    return None


def open_loop_limits_stage(ctx) -> None:
    """Before measuring: each candidate's open-loop p99 limit from the suite (the sweep reads
    `cand.open_loop_limit`; the decision is made here, the measurement only applies it)."""
    for cand in ctx.candidates:
        cand.open_loop_limit = open_loop_limit(ctx.suite, cand.spec.limits)


def baseline_entries(results: dict) -> list[dict]:
    """Every baseline section in a run: declared ones among the candidates and automatic ones."""
    out = [c for c in schema.candidates(results) if c.get("role") == "baseline" and c.get("status", "ok") == "ok"]
    return out + [b for b in schema.baselines(results) if b.get("status", "ok") == "ok"]


def pick_baseline(results: dict, metric: str, which: str = "best") -> tuple[str, float] | None:
    """(name, value) of the named baseline, or of the best one on this metric."""
    scored = [(b.get("name", MISSING), names.resolve(metric, b, results)) for b in baseline_entries(results)]
    scored = [(n, v) for n, v in scored if v is not None]
    if which != "best":
        scored = [(n, v) for n, v in scored if n == which]
    if not scored:
        return None
    pick = max if names.better(metric) == "higher" else min
    return pick(scored, key=lambda nv: nv[1])


def _paired_delta(cand: dict, metric: str, base_name: str) -> tuple[float, float] | None:
    """The paired-bootstrap interval of candidate minus this baseline, when the quality stage made one."""
    vb = schema.quality(cand).get("delta_vs_best_baseline") or {}
    if vb.get("metric", metric) != metric or vb.get("baseline", base_name) != base_name:
        return None
    return names.read_interval(vb.get("ci"))


def evaluate(limit: Limit, cand: dict, results: dict) -> LimitResult:
    """Judge one limit on one candidate's saved results."""
    value = names.resolve(limit.metric, cand, results)
    res = LimitResult(limit.text, limit.metric, limit.severity, "unknown", value, value,
                      limit.threshold(), None, names.unit(limit.metric))
    if value is None:
        res.note = names.invalid(cand, limit.metric) or f"{limit.metric} was not measured"
        return res
    if limit.baseline is not None:
        base = pick_baseline(results, limit.metric, limit.baseline)
        if base is None:
            res.note = "no baseline scored on " + limit.metric if limit.baseline == "best" else f"baseline {limit.baseline!r} not found"
            return res
        base_name, base_value = base
        res.threshold = limit.threshold(base_value)
        cautious = 0 if limit.op in (">=", ">") else 1  # interval end that makes passing hardest
        delta = _paired_delta(cand, limit.metric, base_name)
        own = names.quality_ci(cand, limit.metric) if names.is_quality_name(limit.metric) else None
        if delta is not None:
            res.judged = base_value + delta[cautious]
            res.note = f"vs {base_name} ({base_value:.4g}), paired-bootstrap interval end"
        elif own is not None:
            res.judged = own[cautious]
            res.note = f"vs {base_name} ({base_value:.4g}), candidate interval end"
        else:
            res.note = f"vs {base_name} ({base_value:.4g}), point value (no interval)"
    elif limit.metric in names.TRIAL_FIGURES:
        iv = names.interval(cand, limit.metric, results)
        if iv is not None:
            return _judge_interval(limit, res, iv)
        res.note = "point value (no interval across trials)"
    ok = OPS[limit.op](res.judged, res.threshold)
    res.margin = res.judged - res.threshold if limit.op in (">=", ">") else res.threshold - res.judged
    res.status = "pass" if ok else limit.severity
    return res


def _judge_interval(limit: Limit, res: LimitResult, iv: tuple) -> LimitResult:
    """Pass / fail only when the whole interval is on one side of the threshold."""
    lo, hi = iv
    thr = res.threshold
    res.interval = [lo, hi]
    upper_ok = limit.op in ("<=", "<")  # the figure must stay below the threshold
    res.margin = thr - res.value if upper_ok else res.value - thr
    if upper_ok:
        passes = hi is not None and hi < thr
        fails = lo is not None and lo > thr
    else:
        passes = lo is not None and lo > thr
        fails = hi is not None and hi < thr
    unit = res.unit if res.unit not in ("", "share") else ""
    span = f"{_num(lo)}\u2013{_num(hi)}{' ' + unit if unit else ''}"
    if unit == numbers.PER_MILLION:
        span = numbers.money_span(lo, hi)
    if passes:
        res.status = "pass"
        res.note = f"interval {span} wholly within the limit"
    elif fails:
        res.status = limit.severity
        res.note = f"interval {span} wholly beyond the limit"
    else:
        res.status = INCONCLUSIVE
        res.note = (f"{limit.metric} {span} straddles the {numbers.with_unit(thr, unit) if unit else _num(thr)} limit: "
                    "inconclusive (more trials or a quieter machine would decide it)")
    return res


def _num(v: float | None) -> str:
    return MISSING if v is None else f"{v:.3g}"


def evaluate_all(limits: list[Limit], cand: dict, results: dict) -> list[LimitResult]:
    """Every limit judged; a limit on a figure whose meaning follows the suite's integration
    mode (`usd_per_million`) is judged on the mode's explicit figure, on each under `both`,
    and its note says which was used."""
    out = []
    for lim in limits:
        for name in names.explicit(lim.metric, results):
            if name == lim.metric:
                out.append(evaluate(lim, cand, results))
                continue
            res = evaluate(replace(lim, metric=name), cand, results)
            res.note = f"judged on {names.MEASURES[name].doc} ({name}, plan.integration: " \
                       f"{'/'.join(names.integration_modes(results))}); {res.note}"
            out.append(res)
    return out
