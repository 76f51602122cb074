"""The production checklist (docs/production-checklist.txt), item by item, filled from a run.

Each item gets a status and its evidence. What a run can measure comes from results.json;
what only people can answer (where ground truth comes from, fallback, ethics, ...) comes
from the suite's `plan:` section and shows as declared, or as missing.

Statuses: met (the run shows it), attention (measured, and something needs a look),
declared (answered in the plan), missing (neither measured nor declared).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from benchharness import schema
from benchharness.decide import figures as names
from benchharness.decide import limits as limits_mod
from benchharness.numbers import MISSING

#: suite `plan:` keys and what each answers
PLAN_KEYS = {
    "ground_truth": "where ground truth comes from in production",
    "ground_truth_delay": "how late ground truth arrives",
    "human_in_the_loop": "whether a person reviews predictions, and where",
    "feedback": "how the system learns a prediction was wrong",
    "fallback": "what happens when the model or its inputs fail",
    "wrong_prediction_cost": "what a wrong prediction costs",
    "transparency": "whether users know a model decides, and on which data",
    "ethics": "the ethical review and its outcome",
    "integration": "batch, realtime or both",
    "data_lineage": "where the data came from, how it was collected and labelled",
    "retraining": "when and how the model is retrained or adapted",
}
@dataclass
class Item:
    question: str
    status: str  # met | attention | declared | missing
    evidence: list[str] = field(default_factory=list)


def _plan(results: dict) -> dict:
    return results.get("plan") or {}


def _declared(results: dict, *keys: str) -> tuple[list[str], list[str]]:
    """(evidence lines, missing keys) for plan answers."""
    plan, lines, missing = _plan(results), [], []
    for key in keys:
        value = plan.get(key)
        if value in (None, ""):
            missing.append(key)
            lines.append(f"plan.{key} ({PLAN_KEYS[key]}): MISSING — answer it in the suite's plan: section")
        else:
            lines.append(f"plan.{key}: {value}")
    return lines, missing


def _plan_status(missing: list[str], keys: tuple[str, ...]) -> str:
    return "missing" if len(missing) == len(keys) else ("attention" if missing else "declared")


def _figures(cand: dict, results: dict, figures: list[tuple[str, str]]) -> str:
    """'label value, label value; not measured: label, label' for one candidate."""
    values = [(label, names.resolve(name, cand, results), names.unit(name)) for name, label in figures]
    text = ", ".join(f"{label} {names.fmt(v, u)}" for label, v, u in values if v is not None)
    missing = [label for label, v, _ in values if v is None]
    return "; ".join(p for p in (text, "not measured: " + ", ".join(missing) if missing else "") if p)


def _cands(results: dict) -> list[dict]:
    return [c for c in schema.candidates(results) if c.get("role") != "baseline" and c.get("status") == "ok"]


def _focus(results: dict) -> dict | None:
    rec = schema.verdict(results).get("recommended")
    cands = _cands(results)
    return next((c for c in cands if c["name"] == rec), cands[0] if cands else None)


def baseline_item(results: dict) -> Item:
    item = Item("Is there a well defined baseline? Is the model performing better than the baseline?", "missing")
    cands = _cands(results)
    metric = names.primary_metric(cands[0], results) if cands else None
    best = limits_mod.pick_baseline(results, metric) if metric else None
    bases = [b.get("name", MISSING) for b in limits_mod.baseline_entries(results)]
    if not bases:
        item.evidence.append("no baseline was scored: add automatic or declared baselines to the suite")
        return item
    item.evidence.append(f"baselines scored: {', '.join(bases)}")
    if best is None:
        item.status = "attention"
        item.evidence.append(f"no baseline has a {metric} score")
        return item
    item.evidence.append(f"best baseline on {metric}: {best[0]} = {best[1]:.4g}")
    beats = []
    for c in cands:
        v, ci = names.quality_value(c, metric), names.quality_ci(c, metric)
        if v is None:
            continue
        hi = names.better(metric) == "higher"
        cautious = (ci[0] if hi else ci[1]) if ci else v
        ok = cautious > best[1] if hi else cautious < best[1]
        beats.append(ok)
        statement = schema.quality(c).get("baseline_statement")
        if statement:  # the quality stage's own words, from the paired bootstrap
            beats[-1] = bool(schema.quality(c).get("beats_baseline", ok))
            item.evidence.append(statement if statement.startswith(c["name"]) else f"{c['name']}: {statement}")
            continue
        how = f"interval [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "point value, no interval"
        item.evidence.append(f"{c['name']}: {metric} {v:.4g} ({how}) — "
                             + ("beats the best baseline" if ok else "does not clearly beat the best baseline"))
    item.status = "met" if beats and any(beats) else "attention"
    return item


def metrics_item(results: dict) -> Item:
    item = Item("Are machine learning performance metrics defined for both training and scoring?", "missing")
    for c in _cands(results):
        q = schema.quality(c)
        train, test = q.get("train") or {}, q.get("test") or {}
        if train and test:
            m = q.get("primary_metric") or next(iter(test))
            tr, te = names.as_number(train.get(m)), names.as_number(test.get(m))
            gap = f", gap {tr - te:+.4g}" if tr is not None and te is not None else ""
            item.evidence.append(f"{c['name']}: {len(test)} metrics on train and test; {m} train {names.fmt(tr)}, test {names.fmt(te)}{gap}")
            item.status = "met"
        elif test:
            item.evidence.append(f"{c['name']}: metrics on test only")
            item.status = item.status if item.status == "met" else "attention"
        if q.get("windows"):
            item.evidence.append(f"{c['name']}: metrics per scoring window measured (worst-window gap {names.fmt(names.resolve('window_gap', c, results))})")
    if not item.evidence:
        item.evidence.append("no quality metrics in this run")
    return item


def data_fingerprint(data: dict) -> str | None:
    """A short fingerprint of the data (and of the split, when recorded)."""
    whole = data.get("fingerprint") or data.get("sha256")
    split = (data.get("split") or {}).get("split_sha256")
    parts = [f"data sha256 {whole[:12]}…" if whole else None, f"split sha256 {split[:12]}…" if split else None]
    return ", ".join(p for p in parts if p) or None


def split_text(split: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in split.items() if not isinstance(v, (dict, list)) and "sha" not in k)


def benchmarked_item(results: dict) -> Item:
    item = Item("Is the model benchmarked?", "missing")
    data = results.get("data") or {}
    split = data.get("split") or {}
    if split:
        item.evidence.append("split: " + split_text(split))
    if data_fingerprint(data):
        item.evidence.append(f"fingerprints: {data_fingerprint(data)} (the same data and seed reproduce the split)")
    focus = _focus(results)
    if focus:
        item.evidence.append(f"{focus['name']}: p99 {names.fmt(names.resolve('p99_ms', focus, results), 'ms')}, "
                             f"best batch throughput {names.fmt(names.resolve('rows_per_s', focus, results), 'rows/s')}")
    has_quality = any(schema.quality(c).get("train") for c in _cands(results))
    item.status = "met" if split and has_quality else ("attention" if split or has_quality else "missing")
    return item


def ground_truth_item(results: dict) -> Item:
    keys = ("ground_truth", "ground_truth_delay")
    lines, missing = _declared(results, *keys)
    return Item("Can ground truth be obtained or inferred in production?", _plan_status(missing, keys), lines)


def distribution_item(results: dict) -> Item:
    item = Item("Has the data distribution of training, testing and validation sets been analyzed?", "missing")
    analysis = (results.get("data") or {}).get("distribution")
    if isinstance(analysis, dict):
        for pair, rep in (analysis.get("comparisons") or {}).items():
            if isinstance(rep, dict):
                item.evidence.append(f"{pair.replace('_vs_', ' against ')}: {rep.get('n_drifted', MISSING)} of "
                                     f"{rep.get('n_tested', MISSING)} columns drifted; label drift: "
                                     f"{'yes' if (rep.get('label') or {}).get('drift') else 'no'}")
        findings = analysis.get("warnings") or []
        item.evidence += [f"finding: {line}" for line in findings]
        share = names.resolve("drift_share", {}, results)
        item.status = "attention" if findings or (share is not None and share >= 0.5) else "met"
        if not item.evidence:
            item.evidence.append(f"share of columns drifted: {names.fmt(share, 'share')}")
    else:
        item.evidence.append("distribution analysis: not measured in this run")
    lines, missing = _declared(results, "data_lineage")
    item.evidence += lines
    if missing and item.status == "met":
        item.status = "attention"
    return item


def limits_item(results: dict) -> Item:
    item = Item("Have goals and hard limits for performance, speed of prediction and costs been established "
                "so they can be considered if trade-offs need to be made?", "missing")
    spec = (schema.verdict(results).get("inputs") or {}).get("limits")
    parsed = limits_mod.parse_spec(spec) if spec else []
    kinds = {"quality": [], "speed": [], "cost": [], "memory": []}
    for lim in parsed:
        kind = ("cost" if "usd" in lim.metric else "memory" if lim.metric.endswith("_mb")
                else "speed" if lim.metric.endswith("_ms") or lim.metric in ("rows_per_s", "qps", "sustainable_rps")
                else "quality")
        kinds[kind].append(lim.text)
    for kind, texts in kinds.items():
        item.evidence.append(f"{kind}: {'; '.join(texts) if texts else 'no limit set'}")
    for row in schema.verdict(results).get("candidates", []):
        detail = "; ".join(row["blocking"][:2])
        item.evidence.append(f"{row['name']}: {detail}" if row["status"] == "crashed"
                             else f"{row['name']}: {row['status']}" + (f" — {detail}" if detail else ""))
    focus = _focus(results)
    if focus:
        item.evidence.append(f"{focus['name']}: " + _figures(focus, results, [
            ("cpu_ms_per_prediction", "CPU per prediction"), ("rss_peak_mb", "peak memory"),
            ("batch_usd_per_million", "cost per 1M predictions (batch)"), ("p99_ms", "p99 latency")]))
    covered = sum(bool(kinds[k]) for k in ("quality", "speed", "cost"))
    item.status = "met" if covered == 3 else ("attention" if parsed else "missing")
    return item


def integration_item(results: dict) -> Item:
    keys = ("integration", "human_in_the_loop", "feedback", "fallback", "transparency", "wrong_prediction_cost")
    lines, missing = _declared(results, *keys)
    item = Item("How will the model be integrated into other systems, and what impact will it have?",
                _plan_status(missing, keys), lines)
    mode, focus = _plan(results).get("integration"), _focus(results)
    if focus:
        costs = {"batch": [("batch_usd_per_million", "batch cost per 1M predictions")],
                 "realtime": [("realtime_usd_per_million", "real-time cost per 1M predictions"),
                              ("monthly_usd", "real-time cost a month")]}
        shown = [f for m, figs in costs.items() if mode in (m, "both", None) for f in figs]
        item.evidence.append(f"{focus['name']} in this mode: " + _figures(focus, results, shown))
    return item


def data_quality_item(results: dict) -> Item:
    data = results.get("data") or {}
    contract = data.get("contract")
    item = Item("How will incoming data quality be monitored?", "missing")
    if contract:
        path = contract.get("path") if isinstance(contract, dict) else contract
        item.status = "met"
        item.evidence.append(f"data contract learned from training data: {path} (in the run folder; "
                             "edit and commit it to tighten the checks)")
        item.evidence.append(f"check incoming batches: bench validate --contract {path} DATA "
                             "(rows that break it go to a quarantine file with the reason)")
    else:
        item.evidence.append("no data contract in this run")
    return item


def drift_item(results: dict) -> Item:
    item = Item("How will drift in data characteristics be monitored?", "missing")
    share = names.resolve("drift_share", {}, results)
    if share is not None:
        item.status = "met"
        item.evidence.append(f"drift measured train against test: {names.fmt(share, 'share')} of columns drifted")
        item.evidence.append("in production: bench monitor --reference TRAIN --current BATCH (drift per column and of predictions)")
    lines, missing = _declared(results, "retraining")
    item.evidence += lines
    if item.status == "met" and missing:
        item.status = "attention"
    elif item.status == "missing" and not missing:
        item.status = "declared"
    return item


def performance_item(results: dict) -> Item:
    item = Item("How will performance be monitored?", "missing")
    lines, missing = _declared(results, "ground_truth", "feedback")
    item.evidence += lines
    item.evidence.append("bench monitor --labels LABELS compares metrics per window with this run's reference")
    item.status = _plan_status(missing, ("ground_truth", "feedback"))
    return item


def ethics_item(results: dict) -> Item:
    lines, missing = _declared(results, "ethics")
    item = Item("Have any ethical concerns been taken into account?", "missing" if missing else "declared", lines)
    for c in _cands(results):
        gap = names.resolve("subgroup_gap", c, results)
        if gap is not None:
            item.evidence.append(f"{c['name']}: largest subgroup gap of the primary metric {gap:.4g}")
    return item


def production_item(results: dict) -> Item:
    item = Item("Will your model performance be different in production than during training phase?", "attention")
    share = names.resolve("drift_share", {}, results)
    item.evidence.append("distribution drift between the splits: not measured" if share is None
                         else f"distribution drift between the splits: {names.fmt(share, 'share')} of columns drifted")
    for c in _cands(results):
        parity = schema.parity(c)
        if parity:
            item.evidence.append(
                f"{c['name']}: same predictions as {parity.get('original', 'its original')} on "
                f"{names.fmt(names.as_number(parity.get('label_agreement')), 'share')} of rows, largest probability "
                f"difference {names.fmt(names.as_number(parity.get('max_abs_proba_diff')))}")
        w = names.resolve("window_gap", c, results)
        if w is not None:
            item.evidence.append(f"{c['name']}: worst scoring window differs from overall by {w:.4g}")
    if share is not None and share < 0.5:
        item.status = "met"
    return item


ITEMS: list[Callable[[dict], Item]] = [
    baseline_item, metrics_item, benchmarked_item, ground_truth_item, distribution_item, limits_item,
    integration_item, data_quality_item, drift_item, performance_item, ethics_item, production_item,
]


def checklist(results: dict) -> list[Item]:
    """Every checklist item, in the checklist's order, with its status and evidence."""
    return [fn(results) for fn in ITEMS]
