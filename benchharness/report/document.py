"""The report's content, built once from saved results and rendered to HTML and Markdown.

Blocks are plain dataclasses, so both renderers show the same facts in the same order and
a figure that was not measured reads "not measured" in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchharness import numbers, schema
from benchharness.decide import figures as names
from benchharness.decide.verdict import describe_objective
from benchharness.numbers import MISSING, number
from benchharness.report.checklist import Item, checklist

NM = "not measured"


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str
    kind: str = ""  # "" | "verdict-ok" | "verdict-none" | "note"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Chart:
    name: str
    title: str
    png: str | None = None  # paths relative to the run dir
    svg: str | None = None
    skipped: str | None = None


@dataclass
class Checklist:
    items: list[Item] = field(default_factory=list)


@dataclass
class Bullets:
    """A bulleted list. Its items are Markdown inline text: **bold** stays as written in
    report.md and is bold in report.html; everything else is escaped there."""
    items: list[str]


@dataclass
class InlineSvg:
    """A chart drawn as SVG markup inside the page (built by the tool from numbers and escaped
    names, so the HTML renderer writes it as it is). HTML only: report.md leaves it out."""
    markup: str


def _f(value, unit: str = "") -> str:
    return names.fmt(value, unit) if value is not None else NM


def _kv(value) -> str:
    """A small mapping as 'key value, key value'; anything else as text."""
    if value is None or value == {}:
        return NM
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if not isinstance(v, (dict, list)))
    return str(value)


def _by_role(results: dict, role: str) -> list[dict]:
    return [c for c in schema.candidates(results) if c.get("role", "candidate") == role]


def verdict_blocks(results: dict) -> list:
    v = schema.verdict(results)
    if not v:
        return [Heading("Verdict"), Para("No verdict in this run (the verdict stage did not run).", "note")]
    from benchharness.decide.verdict import headline

    out = [Heading("Verdict"), Para(headline(results), "verdict-ok" if v.get("recommended") else "verdict-none"),
           Para(v["sentence"])]
    ranking = v.get("ranking") or []
    rows = []
    order = {"qualifies": 0, "inconclusive": 1, "blocked": 2, "crashed": 3}
    ordered = sorted(v.get("candidates", []), key=lambda r: (
        order.get(r["status"], 3), ranking.index(r["name"]) if r["name"] in ranking else 0))
    for r in ordered:
        rank = str(ranking.index(r["name"]) + 1) if r["name"] in ranking else MISSING
        passed = (f"{r.get('limits_passed', 0)}/{r['limits_total']}" if r.get("limits_total")
                  else "no limits set" if r["status"] != "crashed" else MISSING)
        rows.append([rank, r["name"], r["status"], passed, "yes" if r.get("on_pareto_front") else "no",
                     "; ".join(r["blocking"]) or MISSING, "; ".join(r["warnings"]) or MISSING])
    axes = ", ".join(v.get("pareto_axes") or []) or "none measured for every candidate"
    out.append(Table(["rank", "candidate", "status", "hard limits met", "Pareto front", "blocking", "warnings"], rows,
                     f"Ranking by: {describe_objective(v['inputs']['objective'], results)}. Pareto front over: {axes}."))
    return out


def limits_blocks(results: dict) -> list:
    rows = []
    for c in _by_role(results, "candidate"):
        for lim in schema.limits(c):
            unit = names.unit(lim["metric"]) or lim["unit"]  # the figure table's (money per 1M)
            judged = _f(lim["judged"], unit) if lim["judged"] != lim["value"] else MISSING
            margin = (MISSING if lim["margin"] is None else
                      ("+" if lim["margin"] >= 0 else "−") + names.fmt(abs(lim["margin"]), unit))
            rows.append([c["name"], lim["expression"], lim["severity"], lim["status"].upper(),
                         _f(lim["value"], unit), judged, _f(lim["threshold"], unit) if lim["threshold"] is not None else MISSING, margin,
                         lim.get("note") or ""])
    if not rows:
        return [Heading("Hard limits"), Para("The suite sets no limits (add `limits:` to the suite).", "note")]
    return [Heading("Hard limits"),
            Table(["candidate", "limit", "level", "result", "measured", "judged on", "threshold", "margin", "note"],
                  rows, "margin > 0: met with that headroom. 'judged on': the cautious end of the interval (the lower end "
                  "for >=, the upper for <=) of the paired-bootstrap difference from the baseline; "
                  "INCONCLUSIVE: the figure's interval straddles the limit.")]


def quality_blocks(results: dict) -> list:
    entries = [c for c in schema.candidates(results) if c.get("status") == "ok"]
    from benchharness.decide.limits import baseline_entries

    entries += [b for b in baseline_entries(results) if b not in entries]
    cands = _by_role(results, "candidate")
    metric = next((names.primary_metric(c, results) for c in cands if names.primary_metric(c, results)), None)
    if not metric:
        return [Heading("Quality"), Para(f"Quality: {NM}.", "note")]
    rows = []
    for c in entries:
        v, tr = names.quality_value(c, metric), names.quality_value(c, metric, "train")
        ci = names.quality_ci(c, metric)
        role = c.get("role", "baseline")
        rows.append([c.get("name", MISSING), role, _f(v), f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else MISSING, _f(tr),
                     f"{tr - v:+.3g}" if tr is not None and v is not None else MISSING,
                     _f(names.resolve("subgroup_gap", c, results)), _f(names.resolve("window_gap", c, results))])
    return [Heading("Quality"),
            Table(["model", "role", f"{metric} (test)", "95% interval", f"{metric} (train)", "train − test",
                   "worst subgroup gap", "worst window gap"], rows,
                  f"Primary metric: {metric} ({names.better(metric)} is better).")]


UNSTABLE_MARK = "(unstable)"


def _cell(name: str, cand: dict, results: dict) -> str:
    """A figure's cell: its value; INVALID where the measurement cannot stand (it is then used
    by nothing); the value marked (unstable) where its trials disagree."""
    if names.invalid(cand, name):
        return "INVALID"
    text = _f(names.resolve(name, cand, results), names.unit(name))
    return f"{text} {UNSTABLE_MARK}" if text != NM and names.unstable(cand, name, results) else text


def _figure_rows(results: dict, figures: list[str]) -> list[list[str]]:
    """One row per candidate that ran: its name, then each named figure with its unit."""
    return [[c["name"], *(_cell(n, c, results) for n in figures)]
            for c in _by_role(results, "candidate") if c.get("status") == "ok"]


def warning_blocks(results: dict) -> list:
    """The run's own warnings, at the top: a --quick run, a busy machine."""
    from benchharness.report.console import quick_banner

    out = []
    if (results.get("suite") or {}).get("quick"):
        out.append(Para(f"Warning: {quick_banner()}.", "warning"))
    load = schema.run_section(results, "machine_load")
    if load.get("busy") and load.get("note"):
        out.append(Para(f"Warning: {load['note']}.", "warning"))
    return out


def figure_warnings(results: dict, figures: list[str]) -> list:
    """Beside a table: each candidate's invalid and unstable figures, and why."""
    out = []
    for c in _by_role(results, "candidate"):
        if c.get("status") != "ok":
            continue
        bad = [n for n in figures if names.invalid(c, n)]
        for n in bad:
            out.append(Para(f"{c['name']}: {n} is {names.invalid(c, n)}; no limit, ranking or cost "
                            "uses it.", "warning"))
        late = schema.open_loop(c).get("late_start_warning")
        if late and not bad and "open_p99_ms" in figures:
            out.append(Para(f"{c['name']}: {late}.", "warning"))
        shaky = [n for n in figures if n not in bad and names.unstable(c, n, results)]
        if shaky:
            spread = ", ".join(f"{n} {number(100 * (names.trial_cv(c, n, results) or 0), 2)}%" for n in shaky)
            out.append(Para(f"{c['name']}: unstable, its trials disagree (spread std/mean): {spread}; a "
                            "quieter machine or more trials would pin them down.", "warning"))
    return out


SPEED_FIGURES = ["p50_ms", "p99_ms", "p999_ms", "qps", "open_p99_ms", "sustainable_rps", "rows_per_s"]


def performance_blocks(results: dict) -> list:
    rows = _figure_rows(results, SPEED_FIGURES)
    load = schema.run_section(results, "machine_load")
    busy = [Para(f"Warning: {load['note']}.", "warning")] if load.get("busy") and load.get("note") else []
    return [Heading("Speed"), *busy,
            Table(["candidate", "p50", "p99", "p99.9", "closed-loop rate", "open-loop p99 (at sustainable rate)",
                   "sustainable rate", "best batch rows/s"], rows,
                  "Closed loop: one request at a time. Open loop: Poisson arrivals, latency from scheduled arrival. "
                  "INVALID: the load generator, not the model, limited the measurement (used by nothing). "
                  "(unstable): the trials disagree."),
            *figure_warnings(results, SPEED_FIGURES), *latency_breakdown_blocks(results)]


def latency_breakdown_blocks(results: dict) -> list:
    """Where a request's time went, as perf_analyzer splits it, where the run knows it: the
    open loop's mean latency from the scheduled arrival = the load generator's delay + waiting
    in the queue + the call itself (service); for a model behind HTTP the call splits further
    into the model's time its server reported and the network and HTTP. Means, which add up
    (percentiles do not)."""
    rows = []
    for c in _by_role(results, "candidate"):
        rate = schema.open_loop_rate_at_best(c) if c.get("status") == "ok" else None
        if not rate or rate.get("mean_ms") is None or rate.get("service_mean_ms") is None:
            continue
        total, delay, service = rate["mean_ms"], rate.get("generator_delay_mean_ms") or 0.0, rate["service_mean_ms"]
        queue = max(total - delay - service, 0.0)
        server = schema.closed_loop(c).get("server_model") or {}
        model = _f(server.get("mean_ms"), "ms") if "network_mean_ms" in server else "in the call"
        network = _f(server.get("network_mean_ms"), "ms") if "network_mean_ms" in server else MISSING
        rows.append([c["name"], _f(rate.get("target_rate_per_s"), "req/s"), _f(total, "ms"), _f(delay, "ms"),
                     _f(queue, "ms"), _f(service, "ms"), model, network])
    if not rows:
        return []
    return [Table(["candidate", "open-loop rate", "mean from scheduled arrival", "load generator delay",
                   "queueing", "call (service)", "of which model (server-reported)", "of which network and HTTP"],
                  rows, "Latency breakdown: where a request's mean time went at the rate shown (the highest "
                  "sustainable one, else the lowest tried). Means add up; percentiles do not.")]


def cost_blocks(results: dict) -> list:
    from benchharness.numbers import money_column
    from benchharness.report.cost_table import report_detail

    rows = _figure_rows(results, ["cpu_ms_per_prediction", "footprint_mb", "rss_peak_mb", "load_s",
                                  "batch_usd_per_million", "realtime_usd_per_million", "monthly_usd"])
    ran = [c for c in _by_role(results, "candidate") if c.get("status") == "ok"]
    heads = []
    for col, name in ((5, "batch_usd_per_million"), (6, "realtime_usd_per_million")):
        unit, cells = money_column(names.resolve(name, c, results) for c in ran)
        heads.append(unit)
        for row, cell in zip(rows, cells, strict=True):
            row[col] = NM if cell == "-" else cell
    profiles = sorted({schema.cost(c).get("profile") for c in _by_role(results, "candidate")} - {None})
    profile = schema.run_section(results, "profile").get("name") or ", ".join(profiles)
    return [Heading("Resources and cost"),
            Table(["candidate", "CPU per prediction", "model footprint", "peak RSS", "load time",
                   f"batch USD / {heads[0]} predictions", f"real-time USD / {heads[1]} predictions",
                   "real-time USD / month"], rows,
                  f"Hardware profile: {profile or NM}."),
            Table(*report_detail(results))]


def tune_blocks(results: dict) -> list:
    """Each tuned candidate's answer: its variants (Pareto front, recommended, quality kept),
    the chart, the deployment file written for the winner."""
    from benchharness.numbers import money_column, number

    tune = results.get("tune") or {}
    if not tune:
        return []
    out = [Heading("Tuning")]
    for base, entry in tune.items():
        table = entry.get("table") or []
        metric = entry.get("metric") or "quality"
        mode = "batch" if entry.get("cost_figure") == "batch_usd_per_million" else "real-time"
        unit, costs = money_column(r.get("cost_per_1m") for r in table)
        rows = []
        for r, cost in zip(table, costs, strict=True):
            rows.append([r["name"], _f(r.get("quality")),
                         NM if r.get("quality_delta") is None else number(r["quality_delta"], 2)
                         + (" (lost)" if r.get("quality_loss_beyond_tolerance") else ""),
                         _f(r.get("p99_ms"), "ms"), NM if cost == "-" else cost,
                         _f(r.get("rows_per_s"), "rows/s"),
                         "yes" if r.get("on_front") else "no", r.get("verdict") or r.get("status") or NM])
        rec = entry.get("recommended")
        deploy = (entry.get("deployment") or {}).get("file")
        answer = (f"{base}: ship {rec}" + (f"; deployment file {deploy}" if deploy else "")
                  if rec else f"{base}: no variant qualifies on the limits with its quality kept")
        out += [Heading(f"Tuning {base}", 3), Para(answer, "verdict-ok" if rec else "verdict-none"),
                Table(["variant", metric, f"{metric} change vs original", "p99", f"{mode} USD / {unit}",
                       "best batch rows/s", "Pareto front", "verdict"], rows,
                      f"{len(table)} variants, {len(entry.get('skipped') or [])} skipped, "
                      f"{len(entry.get('dropped') or [])} dropped by successive halving.")]
        notes = [f"skipped {s['variant']}: {s['reason']}" for s in entry.get("skipped") or []]
        notes += [f"dropped {d['variant']} after rung {d['rung'] + 1}: {d['reason']}"
                  for d in entry.get("dropped") or []]
        out += [Para(n, "note") for n in notes]
        if entry.get("chart"):
            out.append(Chart(f"tune-{base}", f"{base}: variants, p99 against cost, coloured by {metric}",
                             png=entry["chart"]))
    return out


def data_blocks(results: dict) -> list:
    from benchharness.report.checklist import data_fingerprint, split_text

    data = results.get("data") or {}
    split = data.get("split") or {}
    rows = _kv(data.get("rows")) + (f" ({_kv(split['rows'])})" if isinstance(split.get("rows"), dict) else "")
    facts = [["source", _kv(data.get("source"))], ["rows", rows],
             ["split", split_text(split) or NM], ["fingerprint", data_fingerprint(data) or NM],
             ["share of columns drifted (train → test)", _f(names.resolve("drift_share", {}, results), "share")],
             ["data contract", str((data.get("contract") or {}).get("path", NM)
                                   if isinstance(data.get("contract"), dict) else data.get("contract") or NM)]]
    return [Heading("Data"), Table(["", ""], facts)]


def chart_blocks(charts: dict) -> list:
    out = [Heading("Charts")]
    for name, entry in charts.items():
        out.append(Chart(name, entry["title"], entry.get("png"), entry.get("svg"), entry.get("skipped")))
    return out


def _gpu_text(results: dict) -> str:
    gpu = ((results.get("profile") or {}).get("machine") or {}).get("gpu") or {}
    if gpu.get("available"):
        return ", ".join(f"{d.get('name', MISSING)} ({number(d.get('memory_total_mb', 0) / 1024)} GiB)"
                         for d in gpu.get("devices") or []) or "available"
    return f"none ({gpu['reason']})" if gpu.get("reason") else "not detected"


def environment_blocks(results: dict) -> list:
    """The machine and software as a person reads them: labels, units, a GPU row; keys this
    table does not know yet are shown as they are."""
    env = dict(results.get("environment") or {})
    rows = []

    def take(label: str, text) -> None:
        if text not in (None, ""):
            rows.append([label, str(text)])

    take("host", env.pop("hostname", None))
    cores = (f"{env.pop('cpu_count_logical', MISSING)} logical, "
             f"{env.pop('cpu_count_physical', MISSING)} physical cores")
    affinity = env.pop("cpu_affinity", None)
    if affinity:
        cores += f"; this run used CPUs {', '.join(map(str, affinity))}"
    take("CPU", f"{env.pop('cpu_model', MISSING)} ({cores})")
    memory = env.pop("memory_total_mb", None)
    take("memory", None if memory is None else f"{number(memory / 1024)} GiB")
    take("GPU", _gpu_text(results))
    take("operating system", env.pop("os", None))
    env.pop("platform", None)
    take("Python", env.pop("python", None))
    packages = env.pop("packages", None) or {}
    take("packages", ", ".join(f"{k} {v}" for k, v in packages.items()))
    threads = env.pop("thread_env", None)
    if threads is not None:
        take("thread settings", ", ".join(f"{k}={v}" for k, v in threads.items())
             or "none set (libraries chose their own thread counts)")
    timer = env.pop("timer", None)
    if isinstance(timer, dict):
        take("timer", f"{timer.get('clock', MISSING)}, resolution {number(timer.get('resolution_ns'))} ns")
    for k, v in env.items():
        take(k, ", ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else v)
    return [Heading("Machine and software"), Table(["", ""], rows or [["environment", NM]])]


def build(results: dict, charts: dict | None = None) -> list:
    """Every block of the report, in reading order."""
    named = schema.run_suite(results)
    title = f"Production readiness: {named.get('name', 'suite')}"
    meta = (f"Run {results.get('run_id', MISSING)}, started {results.get('started_at', MISSING)}"
            + (" (quick mode: short windows, indicative figures)" if named.get("quick") else ""))
    blocks = [Heading(title, 1), Para(meta, "note"), *warning_blocks(results)]
    blocks += verdict_blocks(results) + limits_blocks(results) + quality_blocks(results)
    blocks += previous_run_blocks(results) + against_blocks(results)
    blocks += tune_blocks(results)
    blocks += performance_blocks(results) + cost_blocks(results) + data_blocks(results)
    blocks += chart_blocks(charts or {})
    blocks += [Heading("Production checklist"), Checklist(checklist(results))]
    blocks += environment_blocks(results)
    errors = results.get("stage_errors")
    if errors:
        blocks += [Heading("Stage errors"), Table(["stage", "error"], [[e["stage"], e["error"]] for e in errors])]
    return blocks


def previous_run_blocks(results: dict) -> list:
    """The report's "Compared with the previous run" block (nothing without a previous run)."""
    prev = schema.run_section(results, "history").get("previous")
    if not prev or not prev.get("rows"):
        return []
    rows = []
    for r in prev["rows"]:
        change = numbers.change(r["change"])
        moved = r["after"] - r["before"]
        verdict = "" if not moved else ("better" if (moved < 0) == (r["better"] == "lower") else "worse")
        rows.append([r["candidate"], r["figure"], names.fmt(r["before"], r["unit"]),
                     names.fmt(r["after"], r["unit"]), change, verdict])
    return [Heading("Compared with the previous run"),
            Para(f"Previous run of this suite on this machine: {prev['run_id']} "
                 f"(started {prev['started_at']}). One run each: `bench history` shows the trend, "
                 "`bench compare --against last` tests the change.", "note"),
            Table(["candidate", "figure", "previous", "this run", "change", ""], rows)]


def against_blocks(results: dict) -> list:
    """`bench run --against`: each figure's change against the reference run, measured again
    in this run's rounds (against/changes.py)."""
    section = schema.run_section(results, "against")
    if not section.get("run"):
        return []
    from benchharness import numbers

    threshold = section.get("threshold", 0.05)
    rows = []
    for r in section.get("rows", []):
        iv = r.get("interval")
        rows.append([r["candidate"], r["figure"], names.fmt(r["before"], r["unit"]),
                     names.fmt(r["after"], r["unit"]), numbers.change(r.get("change")),
                     f"{numbers.change(iv[0])} to {numbers.change(iv[1])}" if iv else numbers.MISSING,
                     f"{r['detectable']:.0%}" if r.get("detectable") is not None else numbers.MISSING,
                     r["result"].upper() if r.get("regression") else r["result"]])
    said = (f"{section.get('regressions', 0)} regression(s), {section.get('inconclusive', 0)} inconclusive "
            f"on the gated figures ({', '.join(section.get('gated', []))}).")
    blocks = [Heading("Against the reference run"),
              Para(f"The candidates of run {section['run']} were measured again, round by round with this "
                   f"run's, from the model files that run kept; each change is the ratio of the two in the "
                   f"same rounds. A regression is worse by more than {threshold:.0%} over its whole 95% "
                   f"interval, equivalent lies wholly within ±{threshold:.0%}, inconclusive is neither; "
                   f"'could show' is the smallest change the row could have shown at its noise. The change is "
                   f"the mean ratio of the rounds (the reference and this run's figures pool every "
                   f"round, so their ratio can differ from it). {said}",
                   "note")]
    blocks += [Para(f"Not measured again: {r['candidate']}: {r['reason']}", "note")
               for r in section.get("refused", [])]
    if rows:
        blocks.append(Table(["candidate", "figure", "reference", "this run", "change", "interval",
                             "could show", "result"], rows))
    return blocks
