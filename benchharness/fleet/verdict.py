"""The fleet's answer: which candidate on which machine, judged over (candidate, target) pairs.

Each target's run has judged its own candidates (hard limits, with its own profile's cost);
here every candidate that ran on every target becomes one pair named "CANDIDATE on TARGET".
A pair qualifies when its candidate qualified in that target's run. The qualifying pairs are
ranked by the suite's objective (the same `rank` as a run's verdict, so cost per 1M
predictions now compares machines too), the Pareto front is taken over quality, p99 and cost
among every pair that ran, and one sentence says what to ship where, and why.
"""

from __future__ import annotations

from benchharness import exit_codes, schema
from benchharness.decide import figures as names
from benchharness.decide.verdict import describe_objective, pareto, parse_objective, rank


def pair_name(candidate: str, target: str) -> str:
    return f"{candidate} on {target}"


def pairs(runs: dict[str, dict]) -> tuple[list[dict], dict[str, dict]]:
    """(every candidate that ran, as a pair; {pair name: its verdict row}) from {target: results}."""
    cands, rows = [], {}
    for target, results in runs.items():
        verdict_rows = {r["name"]: r for r in schema.verdict(results).get("candidates", [])}
        for cand in schema.candidates(results):
            if cand.get("role", "candidate") == "baseline" or cand.get("status") != "ok":
                continue
            pair = {**cand, "name": pair_name(cand["name"], target), "candidate": cand["name"], "target": target}
            if "primary_metric" not in schema.quality(pair):
                metric = names.primary_metric(cand, results)
                pair["quality"] = {**schema.quality(cand), "primary_metric": metric}
            cands.append(pair)
            rows[pair["name"]] = verdict_rows.get(cand["name"], {"status": "unjudged"})
    return cands, rows


def fleet_verdict(runs: dict[str, dict], failed_targets: list[str]) -> dict:
    """The verdict section of fleet.json; `runs` holds the results of the targets that ran,
    `failed_targets` names the others as "TARGET (status)"."""
    cands, rows = pairs(runs)
    first = next(iter(runs.values()), {})
    objective = (schema.verdict(first).get("inputs") or {}).get("objective")
    terms = parse_objective(objective)
    combined = {**first, "candidates": cands}
    qualifying = [c for c in cands if rows[c["name"]].get("status") == "qualifies"]
    ranking = rank(qualifying, terms, combined, same_run=False)  # other machines: no rounds shared
    front, axes = pareto(cands, combined, same_run=False)
    table = [{
        "candidate": c["candidate"], "target": c["target"],
        "status": rows[c["name"]].get("status"),
        "blocking": rows[c["name"]].get("blocking") or [],
        "on_pareto_front": c["name"] in front,
        "rank": next((i + 1 for i, r in enumerate(ranking) if r["name"] == c["name"]), None),
    } for c in cands]
    best = ranking[0] if ranking else None
    crashed = bool(failed_targets) or any(  # as in a run: a candidate that crashed anywhere
        c.get("status") != "ok" for r in runs.values() for c in schema.candidates(r)
        if c.get("role", "candidate") != "baseline")
    code = exit_codes.CANDIDATE_FAILED if crashed else (exit_codes.OK if best else exit_codes.NO)
    return {
        "objective": [str(t) for t in terms],
        "pairs": table,
        "ranking": [{"candidate": c["candidate"], "target": c["target"]} for c in ranking],
        "pareto_front": [{"candidate": c["candidate"], "target": c["target"]} for c in cands if c["name"] in front],
        "pareto_axes": axes,
        "recommendation": {
            "candidate": best["candidate"] if best else None,
            "target": best["target"] if best else None,
            "sentence": sentence(best, ranking[1:4], combined, terms, rows, cands, failed_targets),
        },
        "exit_code": code,
    }


def _facts(cand: dict, results: dict) -> str:
    metric = names.primary_metric(cand, results)
    parts = []
    value = names.quality_value(cand, metric)
    if value is not None:
        parts.append(f"{metric} {value:.4g}")
    for name, label in (("p99_ms", "p99 {}"), ("batch_usd_per_million", "{} per 1M predictions (batch)")):
        v = names.resolve(name, cand, results)
        if v is not None:
            parts.append(label.format(names.fmt(v, names.unit(name))))
    return ", ".join(parts)


def sentence(best: dict | None, runners_up: list[dict], results: dict, terms, rows: dict,
             cands: list[dict], failed_targets: list[str]) -> str:
    tail = f" Not measured: {', '.join(failed_targets)}." if failed_targets else ""
    if best is None:
        if not cands:
            return "No answer: no candidate ran on any target." + tail
        blocked = "; ".join(f"{c['name']} — {'; '.join((rows[c['name']].get('blocking') or ['blocked'])[:2])}"
                            for c in cands[:4])
        return f"No (candidate, machine) pair qualifies: {blocked}." + tail
    why = describe_objective(terms, results, best)
    n = rows[best["name"]].get("limits_total")
    limits = (f"it meets all {n} hard limits there" if n else
              "it ran cleanly there (the suite sets no hard limits)" if n == 0 else "it qualifies there")
    text = (f"Ship {best['candidate']} on {best['target']}, because {limits} and ranks "
            f"first over every (candidate, machine) pair by {why} ({_facts(best, results)}).")
    if runners_up:
        text += " Runners-up: " + "; ".join(f"{c['name']} ({_facts(c, results)})" for c in runners_up) + "."
    return text + tail
