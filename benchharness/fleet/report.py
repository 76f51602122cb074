"""fleet.json, the fleet report (report.html) and the terminal summary of a fleet.

The report uses the run report's blocks and HTML renderer (report/document.py, html.py), so
it looks the same and is as self-contained (the chart inlined, no scripts). Its content:
the recommendation, the runs (where each ran, the profile that priced it, how the machine
differed), the candidate x machine table and the cost/latency chart across machines with
the Pareto front over (candidate, machine).
"""

from __future__ import annotations

import datetime as _dt
import textwrap
from pathlib import Path

from benchharness import exit_codes, schema
from benchharness.decide import figures as names
from benchharness.fleet.verdict import fleet_verdict, pair_name, pairs
from benchharness.report.console import render_table
from benchharness.report.document import Chart, Heading, Para, Table
from benchharness.report.html import render_html
from benchharness.results import load_results
from benchharness.run_folder import atomic_write, write_json

FLEET_FILE = "fleet.json"
REPORT_FILE = "report.html"
CHART = "charts/cost_vs_p99"
FLEET_SCHEMA_VERSION = 1
LEGEND = ("Each run priced with its own target's profile. rank: among qualifying (candidate, machine) "
          "pairs; req/s: highest sustainable open-loop rate (* closed-loop rate, an optimistic upper "
          "bound); rt: real time at the suite's traffic; front: on the Pareto front (quality, p99, cost).")

SAME_HARDWARE_NOTE = ("embedded cluster: every target ran on THIS machine, one after another; "
                      "the targets differ only in the profile that priced them (not a cross-machine answer)")


def _load_runs(fleet_dir: Path, runs) -> dict[str, dict]:
    out = {}
    for r in runs:
        if r.status == "ok" and r.run_dir:
            out[r.target] = load_results(fleet_dir / r.run_dir)
    return out


def write_fleet(fleet_dir: Path, fleet_id: str, runs, suite_path, bundle: dict, scheduler: str | None,
                started: str, interrupted: bool) -> dict:

    results = _load_runs(fleet_dir, runs)
    failed = [f"{r.target} ({r.status})" for r in runs if r.status != "ok"]
    verdict = fleet_verdict(results, failed)
    doc = {
        "schema_version": FLEET_SCHEMA_VERSION,
        "fleet_id": fleet_id,
        "suite": {"name": bundle.get("suite_name"), "path": str(Path(suite_path).resolve())},
        "started_at": started,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "scheduler": scheduler,
        "embedded": scheduler is None,
        "same_hardware_note": SAME_HARDWARE_NOTE if scheduler is None else None,
        "interrupted": interrupted,
        "runs": [r.to_dict() for r in runs],
        "verdict": verdict,
        "exit_code": exit_codes.INTERRUPTED if interrupted else verdict["exit_code"],
        "report": REPORT_FILE,
    }
    chart = write_chart(fleet_dir, results)
    atomic_write(fleet_dir / REPORT_FILE, render_html(blocks(doc, results, chart), fleet_dir))
    write_json(fleet_dir / FLEET_FILE, doc)
    return doc


def rows(doc: dict, results: dict[str, dict]) -> list[dict]:
    """One row per (candidate, target) that ran: the figures the table and chart show."""
    cands, _ = pairs(results)
    by_pair = {(p["candidate"], p["target"]): p for p in doc["verdict"]["pairs"]}
    out = []
    for c in cands:
        res = results[c["target"]]
        metric = names.primary_metric(c, res)
        rate = names.resolve("sustainable_rps", c, res)
        rate_src = "open loop"
        if rate is None:
            rate = names.as_number(schema.cost_realtime(c).get("sustainable_per_s_per_replica"))
            rate_src = "closed loop"
        v = by_pair[(c["candidate"], c["target"])]
        out.append({
            "candidate": c["candidate"], "target": c["target"], "status": v["status"], "rank": v["rank"],
            "front": v["on_pareto_front"], "metric": metric, "quality": names.quality_value(c, metric),
            "p99_ms": names.resolve("p99_ms", c, res), "rate": rate, "rate_source": rate_src if rate else None,
            "batch_usd": names.resolve("batch_usd_per_million", c, res),
            "rt_usd": names.resolve("realtime_usd_per_million", c, res),
        })
    return out


def _cells(r: dict) -> list[str]:
    f = names.fmt

    def num(v, unit=""):
        return "—" if v is None else f(v, unit)

    return [r["candidate"], r["target"], str(r["rank"]) if r["rank"] else r["status"],
            num(r["quality"]), num(r["p99_ms"]), num(r["rate"]) + ("*" if r["rate_source"] == "closed loop" else ""),
            num(r["batch_usd"], "USD"), num(r["rt_usd"], "USD"), "yes" if r["front"] else ""]


def header(table: list[dict]) -> list[str]:
    metric = next((r["metric"] for r in table if r["metric"]), "quality")
    return ["candidate", "machine", "rank", metric, "p99 ms", "req/s", "$/1M batch", "$/1M rt", "front"]


def blocks(doc: dict, results: dict[str, dict], chart: Chart) -> list:
    v = doc["verdict"]
    rec = v["recommendation"]
    out = [Heading(f"Fleet {doc['fleet_id']}: {doc['suite']['name']}", 1),
           Para(rec["sentence"], "verdict-ok" if rec["candidate"] else "verdict-none")]
    if doc["same_hardware_note"]:
        out.append(Para(doc["same_hardware_note"], "note"))
    if doc["interrupted"]:
        out.append(Para("Interrupted (Ctrl-C): targets still running were cancelled; what came back is kept.", "note"))
    out.append(Heading("Candidate × machine"))
    table_rows = rows(doc, results)
    out.append(Table(header(table_rows), [_cells(r) for r in table_rows], caption=LEGEND + " Rank: by "
                     + ", then ".join(v["objective"]) + "."))
    out.append(Heading("Cost against latency, across machines"))
    out.append(chart)
    out.append(Heading("Runs"))
    run_rows = []
    for r in doc["runs"]:
        m = r.get("machine") or {}
        where = (r.get("worker") or {}).get("hostname") or "—"
        machine = f"{m.get('usable_cores')} cores, {m.get('architecture')}" + (
            f", {', '.join(m['gpus'])}" if m.get("gpus") else "") if m else "—"
        run_rows.append([r["target"], r["status"], where, machine, r.get("priced_with") or "—",
                         names.fmt(r["price_per_hour_usd"], "USD") + "/h" if r.get("price_per_hour_usd") else "—",
                         "; ".join(r.get("profile_mismatch") or []) or ("matches" if r["status"] == "ok" else "—"),
                         r.get("error") or (f"{r['run_dir']}/report.html" if r.get("run_dir") else "—")])
    out.append(Table(["target", "status", "host", "machine measured", "priced with", "price",
                      "machine vs profile", "error / run report"], run_rows,
                     caption="A target's full report is in its own folder beside this file."))
    return out


def write_chart(fleet_dir: Path, results: dict[str, dict]) -> Chart:
    """Batch cost per 1M predictions against p99: one colour per candidate, one marker per
    machine; the pairs on the Pareto front (quality, p99, cost) ringed and joined."""
    title = "Cost per 1M predictions against p99 latency, every (candidate, machine)"
    cands, _ = pairs(results)
    pts = [(c, names.resolve("p99_ms", c, results[c["target"]]),
            names.resolve("batch_usd_per_million", c, results[c["target"]])) for c in cands]
    pts = [(c, x, y) for c, x, y in pts if x is not None and y is not None]
    if not pts:
        return Chart("cost_vs_p99", title, skipped="no pair has both a p99 and a batch cost")
    from benchharness.decide.verdict import pareto
    from benchharness.report.chart_style import MARKERS, OKABE_ITO, finish, new_axes

    first = next(iter(results.values()))
    front = set(pareto(cands, {**first, "candidates": cands})[0])
    ax = new_axes()
    colour = {n: OKABE_ITO[i % len(OKABE_ITO)] for i, n in enumerate(dict.fromkeys(c["candidate"] for c, _, _ in pts))}
    marker = {n: MARKERS[i % len(MARKERS)] for i, n in enumerate(dict.fromkeys(c["target"] for c, _, _ in pts))}
    middle = (min(p[1] for p in pts) + max(p[1] for p in pts)) / 2
    for c, x, y in pts:
        ax.scatter([x], [y], color=colour[c["candidate"]], marker=marker[c["target"]], s=60, zorder=3)
        right_half = len(pts) > 1 and x > middle  # labels run inward, never over the legend
        ax.annotate(pair_name(c["candidate"], c["target"]), (x, y), textcoords="offset points",
                    xytext=(-6 if right_half else 6, 6), ha="right" if right_half else "left", fontsize=8)
    on_front = sorted((x, y) for c, x, y in pts if c["name"] in front)
    if on_front:
        ax.scatter([p[0] for p in on_front], [p[1] for p in on_front], s=220, facecolors="none",
                   edgecolors="#444444", label="Pareto front (quality, p99, cost)", zorder=2)
        if len(on_front) > 1:
            ax.plot([p[0] for p in on_front], [p[1] for p in on_front], color="#444444", lw=1, alpha=0.5)
    for n, col in colour.items():
        ax.scatter([], [], color=col, marker="o", label=n)
    for n, mk in marker.items():
        ax.scatter([], [], color="#777777", marker=mk, label=f"on {n}")
    xs, ys = [p[1] for p in pts], [p[2] for p in pts]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    if min(ys) > 0 and max(ys) / min(ys) > 20:
        ax.set_yscale("log")
    ax.margins(x=0.15, y=0.15)
    finish(ax, title, "p99 latency, one request at a time (ms)", "batch cost per 1M predictions (USD)")
    (fleet_dir / "charts").mkdir(exist_ok=True)
    for fmt in ("png", "svg"):
        ax.figure.savefig(fleet_dir / f"{CHART}.{fmt}", dpi=150 if fmt == "png" else None,
                          metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return Chart("cost_vs_p99", title, png=f"{CHART}.png", svg=f"{CHART}.svg")


def summary_text(doc: dict, fleet_dir: str | Path) -> str:
    """What `bench fleet` prints: runs, the candidate x machine table, the sentence."""
    fleet_dir = Path(fleet_dir)
    lines = ["runs:"]
    for r in doc["runs"]:
        detail = r["error"] or f"priced with {r['priced_with']}, ran on {(r.get('worker') or {}).get('hostname')}"
        if r["status"] == "ok" and r.get("profile_mismatch"):
            detail += f" (machine differs: {'; '.join(r['profile_mismatch'])})"
        lines.append(textwrap.fill(f"  {r['target']:<18} {r['status'].upper():<9} {detail}", 100,
                                   subsequent_indent=" " * 31))
    results = {r["target"]: load_results(fleet_dir / r["run_dir"])
               for r in doc["runs"] if r["status"] == "ok" and r.get("run_dir")}
    table = rows(doc, results)
    if table:
        lines += ["", render_table([_cells(r) for r in table], header(table)), textwrap.fill(LEGEND, 100)]
    if doc["same_hardware_note"]:
        lines += ["", f"note: {doc['same_hardware_note']}"]
    if doc["interrupted"]:
        lines += ["", "interrupted (Ctrl-C): targets still running were cancelled; what came back is kept"]
    lines += ["", textwrap.fill(doc["verdict"]["recommendation"]["sentence"], 100),
              f"fleet: {fleet_dir / FLEET_FILE} and {fleet_dir / REPORT_FILE}"]
    return "\n".join(lines)
