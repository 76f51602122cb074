"""What `bench monitor` writes: monitor.json, report.md, report.html and metrics.prom.

The report is built once as the run report's typed blocks (`report/document.py`: Heading, Para,
Bullets, Table, InlineSvg) and rendered by the tool's one renderer pair: `report/markdown.py`
for report.md and `report/html.py` for report.html, in the one page shell (`report/html.page`:
its styles and small table-sorting script, no external files). The .prom
file is the Prometheus text format for a node exporter's textfile collector: written to a
temporary name and renamed, so the collector never reads half a file.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from benchharness.report.document import Bullets, Heading, InlineSvg, Para, Table
from benchharness.report.html import render_html
from benchharness.report.markdown import render_markdown
from benchharness.run_folder import atomic_write, write_json

Block = Heading | Para | Bullets | Table | InlineSvg


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def _table(headers: list[str], rows: list[list]) -> Table:
    """A report Table; its cells as text (counts and names as they are, figures already _fmt)."""
    return Table([str(h) for h in headers], [[str(c) for c in row] for row in rows])


def report_blocks(r: dict) -> list[Block]:
    blocks: list[Block] = [Heading(f"Monitoring report: {r['name']}", 1),
                           Para(f"reference: {r['reference']} | current: {r['current']}")]
    blocks.append(Heading("Alerts"))
    blocks.append(Bullets([f"**{a['kind']}**: {a['message']}" for a in r["alerts"]] or ["none"]))
    if r["warnings"]:
        blocks += [Heading("Warnings"), Bullets(r["warnings"])]
    q = r["quality"]
    blocks += [Heading("Data quality (contract)"),
               Para(f"{q['rows_read']} rows read: {q['rows_clean']} clean, {q['rows_quarantined']} quarantined "
                    f"({q['quarantined_share']:.2%}). Quarantine: {q.get('quarantine_path', '-')}")]
    if q["failed_checks"]:
        blocks.append(_table(["check", "rows"], [[k, v] for k, v in list(q["failed_checks"].items())[:20]]))
    feats = r["drift"]["features"]
    if feats:
        blocks += [Heading("Feature drift"),
                   Para(f"{feats['n_drifted']} of {feats['n_tested']} features drifted "
                        f"(dataset drift at {feats['thresholds']['dataset_share']:.0%}: "
                        f"{_fmt(feats['dataset_drift'])}) over every row of the batch as it arrived "
                        f"({r['drift'].get('current_rows', '-')} rows, contract breaks included): categorical "
                        f"columns on category counts of all rows, numeric ones on samples of "
                        f"{r['drift']['reference_sample_rows']} reference and {r['drift']['current_sample_rows']} "
                        "current rows")]
        rows = [[name, c.get("kind"), c.get("method"), _fmt(c.get("score")), _fmt(c.get("threshold")),
                 _fmt(c.get("drift")), _fmt(c.get("psi"))] for name, c in feats["columns"].items()]
        rows.sort(key=lambda row: row[5] != "yes")
        blocks.append(_table(["feature", "kind", "method", "score", "threshold", "drift", "PSI"], rows))
        blocks += distribution_blocks(feats["columns"])
    pred = r["drift"].get("predictions")
    if pred:
        blocks += [Heading("Prediction drift"),
                   Para(f"{pred['method']}: {_fmt(pred['score'])} (threshold {_fmt(pred['threshold'])}), "
                        f"drift: {_fmt(pred['drift'])}, PSI {_fmt(pred['psi'])}")]
    perf = r["performance"] or {}
    if "bounds" in perf:
        b = perf["bounds"]
        joined = perf["labels"] or {}
        blocks += [Heading(f"Performance: {perf['metric']}"),
                   Para(f"reference {_fmt(perf['reference']['value'])} ({perf['reference']['source']}, "
                        f"{perf['reference']['windows']} windows); alert limit {_fmt(b['limit'])}; "
                        f"current {_fmt(perf['current_value'])}; labels joined "
                        f"{joined.get('rows_joined', '-')} of {joined.get('rows', '-')} rows"),
                   _table(["window", "rows", perf["metric"], "alert"],
                          [[w["window"], w["rows"], _fmt(w["value"]),
                            "ALERT" if w["alert"] else ("too few rows" if not w["enough_rows"] else "")]
                           for w in perf["windows"]])]
    blocks += estimate_blocks(perf.get("estimated"))
    blocks += shape_blocks(r["drift"].get("shape"))
    speed = r["speed"]
    if speed:
        now, run = speed["current"], speed["run"] or {}
        blocks += [Heading("Speed"),
                   _table(["figure", "now", f"run ({run.get('candidate', '-')})"],
                          [[k, _fmt(now.get(k)), _fmt(run.get(k))] for k in ("p50_ms", "p99_ms", "rows_per_s")])]
    return blocks


def estimate_blocks(est: dict | None) -> list[Block]:
    """Estimated performance: the sentence, the chart (HTML), the table, how it tracked the labels."""
    if not est:
        return []
    if est["method"] is None:
        return [Heading("Estimated performance"), Para(f"not estimated: {est['reason']}")]
    cal = est["calibration"]
    how = (f"calibrated probabilities ({cal['method']}, on {cal['rows']} rows of the {cal['source']})"
           if est["method"] == "cbpe" else f"a nanny model of the error ({cal['model']}, on {cal['rows']} reference rows)")
    blocks: list[Block] = [
        Heading(f"Estimated performance: {est['metric']} ({est['method'].upper()}, no labels needed)"),
        Para(f"Estimated per window from {how}, with a 95% interval (the window's sampling spread and "
             f"the estimator's own, from bootstrap refits). Reference {_fmt(est['reference']['value'])} "
             f"({est['reference']['source']}); alert limit {_fmt(est['bounds']['limit'])}: a window alerts "
             "when its whole interval is beyond it. The estimate holds while P(y|x) is what the reference "
             "showed and the inputs stay within what it covered; a concept shift is invisible to it."),
        InlineSvg(estimate_chart(est)),
        _table(["window", "rows", f"estimated {est['metric']}", "95% interval", "realized", "alert"],
               [[w["window"], w["rows"], _fmt(w["estimate"]), f"{_fmt(w['interval'][0])} - {_fmt(w['interval'][1])}",
                 _fmt(w["realized"]), "ALERT" if w["alert"] else ""] for w in est["windows"]]),
    ]
    t = est.get("tracking")
    if t:
        blocks.append(Para(f"Against the labels that arrived ({t['windows']} windows): mean |estimated - realized| "
                           f"{_fmt(t['mean_abs_error'])}, largest {_fmt(t['max_abs_error'])}; the realized value "
                           f"was inside the interval in {t['within_interval']} of {t['windows']} windows"
                           + (f" (missed: {', '.join(t['missed_windows'][:8])})." if t["missed_windows"] else ".")))
    return blocks


def estimate_chart(est: dict, width: int = 640, height: int = 220) -> str:
    """Inline SVG: the interval band, the estimate, the realized metric and the alert limit per window."""
    ws = est["windows"]
    values = [v for w in ws for v in (*w["interval"], w["estimate"], w["realized"]) if v is not None]
    if est["bounds"]["limit"] is not None:
        values.append(est["bounds"]["limit"])
    if not ws or not values:
        return ""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 0.01
    lo, hi = lo - pad, hi + pad
    left, right, top, bottom = 56, 12, 12, 28

    def x(i):
        return left + (width - left - right) * (i + 0.5) / len(ws)

    def y(v):
        return top + (height - top - bottom) * (hi - v) / (hi - lo)

    band = [f"{x(i):.1f},{y(w['interval'][1]):.1f}" for i, w in enumerate(ws)]
    band += [f"{x(i):.1f},{y(w['interval'][0]):.1f}" for i, w in reversed(list(enumerate(ws)))]
    parts = [f"<svg width='{width}' height='{height}' role='img' aria-label='estimated and realized "
             f"{html.escape(est['metric'])} per window'>",
             f"<polygon points='{' '.join(band)}' fill='#9ecae1' fill-opacity='0.5'/>",
             "<polyline fill='none' stroke='#2171b5' stroke-width='2' points='"
             + " ".join(f"{x(i):.1f},{y(w['estimate']):.1f}" for i, w in enumerate(ws)) + "'/>"]
    parts += [f"<circle cx='{x(i):.1f}' cy='{y(w['realized']):.1f}' r='3.5' fill='#222'/>"
              for i, w in enumerate(ws) if w["realized"] is not None]
    if est["bounds"]["limit"] is not None:
        ly = y(est["bounds"]["limit"])
        parts.append(f"<line x1='{left}' x2='{width - right}' y1='{ly:.1f}' y2='{ly:.1f}' stroke='#cb181d' "
                     "stroke-dasharray='5,4'/>")
    for v in (lo + pad, hi - pad):
        parts.append(f"<text x='{left - 4}' y='{y(v) + 4:.1f}' font-size='11' text-anchor='end'>{_fmt(v)}</text>")
    parts.append(f"<text x='{left}' y='{height - 8}' font-size='11'>windows {html.escape(ws[0]['window'])} .. "
                 f"{html.escape(ws[-1]['window'])}: band 95% interval, blue line estimate, dots realized, "
                 "red dashes alert limit</text>")
    return "".join(parts) + "</svg>"


DISTRIBUTIONS_SHOWN = 12  # features drawn, drifted ones first
REFERENCE_GREY, CURRENT_BLUE = "#999999", "#0072B2"  # the run report's colour-blind-safe pair


def distribution_blocks(columns: dict) -> list[Block]:
    """Each feature's distribution, reference against current (as Evidently draws them): a
    numeric one in the reference's quantile bins, a categorical one by its category shares;
    drifted features first, at most DISTRIBUTIONS_SHOWN. HTML only (the Markdown says so)."""
    ordered = sorted(columns.items(), key=lambda kv: (not kv[1].get("drift"), -(kv[1].get("score") or 0)))
    charts = [chart for name, col in ordered for chart in [distribution_chart(name, col)] if chart]
    if not charts:
        return []
    shown = charts[:DISTRIBUTIONS_SHOWN]
    more = f"; {len(charts) - len(shown)} more features in monitor.json" if len(charts) > len(shown) else ""
    return [Heading("Feature distributions, reference against current"),
            Para(f"Grey bars: the reference's share of rows in each bin or category; blue: the "
                 f"current batch's (numeric features in the reference's deciles, on the samples "
                 f"the drift test read){more}. Charts in report.html.")] + [InlineSvg(c) for c in shown]


def distribution_chart(name: str, col: dict, width: int = 300, height: int = 130) -> str:
    """Inline SVG of one feature: paired bars, reference grey and current blue, per bin."""
    hist, shares = col.get("histogram"), col.get("shares")
    if hist:
        ref, cur = hist["reference"], hist["current"]
        labels = [_fmt(hist["edges"][0]), _fmt(hist["edges"][-1])]
    elif shares:
        cats = list(shares)[:10]
        ref, cur = [shares[c]["reference"] for c in cats], [shares[c]["current"] for c in cats]
        labels = [str(cats[0]), str(cats[-1])] if cats else ["", ""]
    else:
        return ""
    if not ref:
        return ""
    top_share = max([*ref, *cur, 1e-9])
    left, right, top, bottom = 8, 8, 22, 18
    slot = (width - left - right) / len(ref)
    bar = max(slot / 2 - 1, 1)
    parts = [f"<svg width='{width}' height='{height}' role='img' aria-label='distribution of "
             f"{html.escape(name)}, reference against current' style='margin:4px 12px 4px 0'>",
             f"<text x='{left}' y='14' font-size='12'>{html.escape(name)}"
             + (" (drift)" if col.get("drift") else "") + "</text>"]
    for i, (r, c) in enumerate(zip(ref, cur)):
        for j, (v, colour) in enumerate(((r, REFERENCE_GREY), (c, CURRENT_BLUE))):
            h = (height - top - bottom) * v / top_share
            parts.append(f"<rect x='{left + i * slot + j * bar:.1f}' y='{height - bottom - h:.1f}' "
                         f"width='{bar:.1f}' height='{h:.1f}' fill='{colour}'/>")
    parts.append(f"<text x='{left}' y='{height - 4}' font-size='10'>{html.escape(labels[0])}</text>")
    parts.append(f"<text x='{width - right}' y='{height - 4}' font-size='10' text-anchor='end'>"
                 f"{html.escape(labels[1])}</text>")
    return "".join(parts) + "</svg>"


def shape_blocks(shape: dict | None) -> list[Block]:
    """Abrupt or gradual: each feature's drift score and the metric over the windows."""
    if not shape or not shape.get("features"):
        return []
    rows = []
    perf = shape.get("performance")
    if perf:
        rows.append([f"{perf['source']} {perf['metric']}", perf["kind"], perf.get("start_window", "-"),
                     _values(perf["values"])])
    for name, f in shape["features"]["features"].items():
        rows.append([f"{name} ({f['score']})", f["kind"], f.get("start_window", "-"), _values(f["values"])])
    note = " (windows read in consecutive groups)" if shape["features"]["grouped"] else ""
    short = shape["features"].get("left_out") or []
    if short:
        note += ("; left out of the features' shape, too few rows to read a score on: "
                 + ", ".join(f"{w['window']} ({w['rows']} rows)" for w in short))
    return [Heading("Drift shape: abrupt or gradual"),
            Para("Each feature's drift score per window (against the whole reference) and the metric, read as "
                 "abrupt (a step at a window), gradual (a trend from a window) or none" + note + "."),
            _table(["figure", "shape", "from window", "per window"], rows)]


def _values(values: list) -> str:
    shown = " ".join(_fmt(v) for v in values[:12])
    return shown + (" ..." if len(values) > 12 else "")


ALERT_KINDS = ("quality", "drift", "prediction_drift", "performance", "estimated_performance", "latency")


def prometheus_gauges(r: dict) -> list[tuple[str, str, dict, float]]:
    """(name, help, labels, value) for each gauge."""
    g = []

    def add(name, help_, value, **labels):
        if value is not None:
            g.append((f"benchharness_monitor_{name}", help_, {"model": r["name"], **labels}, float(value)))

    q = r["quality"]
    add("rows", "Rows in the current batch", q["rows_read"])
    add("rows_quarantined", "Rows that broke the data contract", q["rows_quarantined"])
    add("quarantined_ratio", "Share of rows that broke the data contract", q["quarantined_share"])
    feats = r["drift"]["features"]
    if feats:
        add("features_drifted", "Features whose drift test fired", feats["n_drifted"])
        add("features_drifted_ratio", "Share of features that drifted", feats["share_drifted"])
        add("dataset_drift", "1 when the share of drifted features reached the threshold", feats["dataset_drift"])
        for name, c in feats["columns"].items():
            if c.get("drift") is not None:
                add("feature_drift_score", "Drift score of a feature (see method)", c["score"], feature=name, method=c["method"])
                add("feature_drift", "1 when the feature drifted", c["drift"], feature=name)
                add("feature_psi", "Population stability index of a feature", c["psi"], feature=name)
    pred = r["drift"].get("predictions")
    if pred and pred.get("drift") is not None:
        add("prediction_drift_score", "Drift score of the predictions", pred["score"], method=pred["method"])
        add("prediction_drift", "1 when the predictions drifted", pred["drift"])
    perf = r["performance"] or {}
    est = perf.get("estimated") or {}
    if est.get("windows"):
        last = est["windows"][-1]
        help_ = f"Model metric estimated without labels ({est['method']}) in the latest window"
        add("estimated_metric", help_, last["estimate"], metric=est["metric"])
        add("estimated_metric_lower", help_ + ", lower end of its 95% interval", last["interval"][0], metric=est["metric"])
        add("estimated_metric_upper", help_ + ", upper end of its 95% interval", last["interval"][1], metric=est["metric"])
        add("estimated_alert_windows", "Windows whose estimated interval is wholly beyond the alert limit",
            len(est["alert_windows"]))
    if "bounds" in perf:
        add("metric", "Model metric over the current batch's labelled rows", perf["current_value"], metric=perf["metric"])
        if perf["windows"]:
            add("metric_last_window", "Model metric in the latest window", perf["windows"][-1]["value"], metric=perf["metric"])
        add("metric_alert_limit", "Worst acceptable metric value", perf["bounds"]["limit"], metric=perf["metric"])
        add("performance_alert_windows", "Windows below the alert limit", len(perf["alert_windows"]))
    speed = (r["speed"] or {}).get("current") or {}
    for q_ in ("p50", "p99"):
        ms = speed.get(f"{q_}_ms")
        add(f"latency_{q_}_seconds", f"Single-row prediction latency, {q_}", ms / 1000 if ms is not None else None)
    add("throughput_rows_per_second", "Rows scored per second on the current batch", speed.get("rows_per_s"))
    kinds = {a["kind"] for a in r["alerts"]}
    add("alerts", "Alerts raised by this run", len(r["alerts"]))
    for kind in ALERT_KINDS:
        add("alert", "1 when this kind of alert fired", kind in kinds, kind=kind)
    add("last_run_timestamp_seconds", "When this monitoring run finished", time.time())
    return g


def prometheus_registry(r: dict):
    """The gauges in a prometheus_client registry (one metric family per name)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily

    families: dict[str, GaugeMetricFamily] = {}
    for name, help_, labels, value in prometheus_gauges(r):
        if name not in families:
            families[name] = GaugeMetricFamily(name, help_, labels=list(labels))
        families[name].add_metric([str(v) for v in labels.values()], value)

    class _Gauges:
        def collect(self):
            yield from families.values()

    registry = CollectorRegistry()
    registry.register(_Gauges())
    return registry


def write_outputs(results: dict, out_dir: Path) -> dict:
    blocks = report_blocks(results)
    paths = {k: str(out_dir / n) for k, n in (("json", "monitor.json"), ("markdown", "report.md"),
                                                ("html", "report.html"), ("prometheus", "metrics.prom"))}
    results["outputs"] = paths
    write_json(paths["json"], results)
    atomic_write(Path(paths["markdown"]), render_markdown(blocks))
    atomic_write(Path(paths["html"]), render_html(blocks, out_dir, f"monitoring: {results['name']}"))
    from prometheus_client import write_to_textfile

    write_to_textfile(paths["prometheus"], prometheus_registry(results))  # atomic: temp + rename
    return paths
