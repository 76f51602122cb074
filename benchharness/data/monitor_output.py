"""What `bench monitor` writes: monitor.json, report.md, report.html and metrics.prom.

The report is built once as a list of blocks (heading, paragraph, list, table) and rendered
to Markdown and to one self-contained HTML page (no scripts, no external files). The .prom
file is the Prometheus text format for a node exporter's textfile collector: written to a
temporary name and renamed, so the collector never reads half a file.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from benchharness.run_folder import atomic_write, write_json

Block = tuple  # ("h2", text) | ("p", text) | ("ul", [text]) | ("table", header, rows)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def report_blocks(r: dict) -> list[Block]:
    blocks: list[Block] = [("h1", f"Monitoring report: {r['name']}"),
                           ("p", f"reference: {r['reference']} | current: {r['current']}")]
    blocks.append(("h2", "Alerts"))
    blocks.append(("ul", [f"**{a['kind']}**: {a['message']}" for a in r["alerts"]] or ["none"]))
    if r["warnings"]:
        blocks += [("h2", "Warnings"), ("ul", r["warnings"])]
    q = r["quality"]
    blocks += [("h2", "Data quality (contract)"),
               ("p", f"{q['rows_read']} rows read: {q['rows_clean']} clean, {q['rows_quarantined']} quarantined "
                     f"({q['quarantined_share']:.2%}). Quarantine: {q.get('quarantine_path', '-')}")]
    if q["failed_checks"]:
        blocks.append(("table", ["check", "rows"], [[k, v] for k, v in list(q["failed_checks"].items())[:20]]))
    feats = r["drift"]["features"]
    if feats:
        blocks += [("h2", "Feature drift"),
                   ("p", f"{feats['n_drifted']} of {feats['n_tested']} features drifted "
                         f"(dataset drift at {feats['thresholds']['dataset_share']:.0%}: "
                         f"{_fmt(feats['dataset_drift'])}) over every row of the batch as it arrived "
                         f"({r['drift'].get('current_rows', '-')} rows, contract breaks included): categorical "
                         f"columns on category counts of all rows, numeric ones on samples of "
                         f"{r['drift']['reference_sample_rows']} reference and {r['drift']['current_sample_rows']} "
                         "current rows")]
        rows = [[name, c.get("kind"), c.get("method"), _fmt(c.get("score")), _fmt(c.get("threshold")),
                 _fmt(c.get("drift")), _fmt(c.get("psi"))] for name, c in feats["columns"].items()]
        rows.sort(key=lambda row: row[5] != "yes")
        blocks.append(("table", ["feature", "kind", "method", "score", "threshold", "drift", "PSI"], rows))
    pred = r["drift"].get("predictions")
    if pred:
        blocks += [("h2", "Prediction drift"),
                   ("p", f"{pred['method']}: {_fmt(pred['score'])} (threshold {_fmt(pred['threshold'])}), "
                         f"drift: {_fmt(pred['drift'])}, PSI {_fmt(pred['psi'])}")]
    perf = r["performance"]
    if perf:
        b = perf["bounds"]
        joined = perf["labels"] or {}
        blocks += [("h2", f"Performance: {perf['metric']}"),
                   ("p", f"reference {_fmt(perf['reference']['value'])} ({perf['reference']['source']}, "
                         f"{perf['reference']['windows']} windows); alert limit {_fmt(b['limit'])}; "
                         f"current {_fmt(perf['current_value'])}; labels joined "
                         f"{joined.get('rows_joined', '-')} of {joined.get('rows', '-')} rows"),
                   ("table", ["window", "rows", perf["metric"], "alert"],
                    [[w["window"], w["rows"], _fmt(w["value"]),
                      "ALERT" if w["alert"] else ("too few rows" if not w["enough_rows"] else "")]
                     for w in perf["windows"]])]
    speed = r["speed"]
    if speed:
        now, run = speed["current"], speed["run"] or {}
        blocks += [("h2", "Speed"),
                   ("table", ["figure", "now", f"run ({run.get('candidate', '-')})"],
                    [[k, _fmt(now.get(k)), _fmt(run.get(k))] for k in ("p50_ms", "p99_ms", "rows_per_s")])]
    return blocks


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b[0] in ("h1", "h2"):
            out.append(("# " if b[0] == "h1" else "## ") + b[1])
        elif b[0] == "p":
            out.append(b[1])
        elif b[0] == "ul":
            out.append("\n".join(f"- {item}" for item in b[1]))
        else:
            out.append("\n".join(["| " + " | ".join(b[1]) + " |", "|" + "---|" * len(b[1])]
                                 + ["| " + " | ".join(str(c) for c in row) + " |" for row in b[2]]))
    return "\n\n".join(out) + "\n"


_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}"
        "th{background:#f3f3f3}")


def _inline(text: str) -> str:
    parts = html.escape(str(text)).split("**")  # the only markup the blocks use: **bold**
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def to_html(blocks: list[Block], title: str) -> str:
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        if b[0] in ("h1", "h2", "p"):
            out.append(f"<{b[0]}>{_inline(b[1])}</{b[0]}>")
        elif b[0] == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
        else:
            head = "".join(f"<th>{_inline(h)}</th>" for h in b[1])
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b[2])
            out.append(f"<table><tr>{head}</tr>{rows}</table>")
    return "\n".join(out) + "\n</body></html>\n"


ALERT_KINDS = ("quality", "drift", "prediction_drift", "performance", "latency")


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
    perf = r["performance"]
    if perf:
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
    atomic_write(Path(paths["markdown"]), to_markdown(blocks))
    atomic_write(Path(paths["html"]), to_html(blocks, f"monitoring: {results['name']}"))
    from prometheus_client import write_to_textfile

    write_to_textfile(paths["prometheus"], prometheus_registry(results))  # atomic: temp + rename
    return paths
