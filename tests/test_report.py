"""report.html / report.md / charts from a saved run dir (tests/sample_run.py)."""

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sample_run import sample_results, write_run

from benchharness.decide import verdict
from benchharness.report import checklist
from benchharness.report.charts_perf import percentile_curve
from benchharness.report.write import write_report

CHECKLIST_FILE = Path(__file__).resolve().parent.parent / "docs" / "production-checklist.txt"


def checklist_questions() -> list[str]:
    """The items of the seed checklist: its bullet list, plus the 'different in production' item."""
    text = CHECKLIST_FILE.read_text()
    block = text.split("\nChecklist\n", 1)[1].split("Please note", 1)[0]
    items = [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]
    items.append(next(line for line in text.splitlines() if line.startswith("Will your model performance")))
    return items


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    results = sample_results()  # its plan says integration: realtime: the limit is on the real-time cost
    results["verdict"] = verdict.judge(results, ["p99_ms <= 5", "usd_per_million <= 5", "accuracy >= 0.9"])
    run_dir = write_run(tmp_path_factory.mktemp("run"), results)
    written = write_report(run_dir)  # from results.json alone
    return run_dir, written


def test_checklist_file_parses_into_its_eleven_items_plus_one():
    qs = checklist_questions()
    assert len(qs) == 12 and qs[0].startswith("Is there a well defined baseline")


def test_report_contains_every_checklist_item(run):
    run_dir, _ = run
    page = html.unescape((run_dir / "report.html").read_text())
    md = (run_dir / "report.md").read_text()
    for q in checklist_questions():
        assert q in page, q
        assert q in md, q


def test_html_is_self_contained(run):
    run_dir = run[0]
    page = (run_dir / "report.html").read_text()
    # one inline script (table sorting), nothing fetched: no script src, no link, no import
    assert page.count("<script") == 1 and "<script>" in page and "<script src" not in page
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"url\(", page)
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:|#)""", page)
    assert page.count('src="data:image/svg+xml;base64,') == 6
    assert (run_dir / "report.html").stat().st_mode & 0o044  # readable by others: it is meant to be shared


def test_chart_files_exist_and_are_real_images(run):
    run_dir, written = run
    charts = written["charts"]
    assert set(charts) == {"quality_vs_cost", "quality_vs_latency", "latency_percentiles",
                           "throughput_vs_batch", "latency_vs_rate", "resources"}
    for entry in charts.values():
        png, svg = (run_dir / entry["png"]).read_bytes(), (run_dir / entry["svg"]).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
        assert b"<svg" in svg[:2000] and len(svg) > 5000


def test_plan_answers_declared_or_missing(run):
    md = (run[0] / "report.md").read_text()
    assert "plan.ground_truth: labels from pathology reports" in md
    assert "plan.fallback (what happens when the model or its inputs fail): MISSING" in md
    assert "plan.ethics (" in md and "MISSING" in md


def test_verdict_and_limits_in_report(run):
    md = (run[0] / "report.md").read_text()
    # boosted fails p99 and cost; forest and logreg tie on accuracy (their intervals overlap): cost decides
    # the one-line answer first, then the reasoning
    assert "> **Ship logreg on aws-c7i-large: accuracy 0.955 [0.93, 0.97], p99 0.4 ms, $0.08 per 1M " \
           "predictions in real time**" in md
    assert md.index("> **Ship logreg on") < md.index("Ship logreg: it meets all 3 hard limits")
    assert "It ties on accuracy (intervals overlap); usd_per_million decided." in md
    assert "| boosted | p99_ms <= 5 | fail | FAIL | 9 ms |" in md
    # the default objective, named as the verdict sentence names it (not the suite's word "primary")
    assert "Ranking by: max accuracy, then min usd_per_million, then min p99_ms." in md


def test_run_without_cost_or_resources_still_renders(tmp_path):
    results = sample_results()
    for c in results["candidates"]:
        c.pop("cost", None)
        c.pop("resources", None)
        c.pop("batch", None)
        c.get("realtime", {}).pop("open_loop", None)
    results.pop("plan")
    results["verdict"] = verdict.judge(results, ["usd_per_million <= 1"])
    run_dir = write_run(tmp_path, results)
    written = write_report(run_dir)
    skipped = {n for n, e in written["charts"].items() if "skipped" in e}
    assert skipped == {"quality_vs_cost", "throughput_vs_batch", "latency_vs_rate", "resources"}
    md = (run_dir / "report.md").read_text()
    assert "not measured" in md and "usd_per_million <= 1: unknown (usd_per_million was not measured)" in md
    items = checklist.checklist(results)
    assert [i.status for i in items if "ground truth" in i.question] == ["missing"]


def test_percentile_curve_is_nearest_rank():
    samples = np.arange(1.0, 101.0)  # 1..100 ms: the q-th percentile by nearest rank is ceil(q) ms
    rng = np.random.default_rng(1)
    q, lat = percentile_curve(rng.permutation(samples), points=3)  # x = 0, 1, 2 nines
    assert q.tolist() == pytest.approx([0.0, 90.0, 99.0])
    assert lat.tolist() == [1.0, 90.0, 99.0]


def test_report_of_a_real_run_with_the_other_stages_sections_added(tmp_path):
    """A real `bench run` (quality with baselines and intervals is real), then the sections
    other stages write (resources, cost, drift) added to a copy of its
    results.json in their layouts, and the report remade with `bench report` alone."""
    import json
    import shutil

    from click.testing import CliRunner
    from conftest import write_suite

    from benchharness.cli import main

    suite = write_suite(tmp_path, """
name: real
data: {source: sklearn:breast_cancer}
candidates:
  - {name: rule, model: 'slow_models:small_radius_benign'}
realtime: {duration_s: 0.3, warmup_count: 5, warmup_s: 0}
batch: {batch_sizes: [1, 32], duration_s: 0.1}
limits: {fail: [accuracy >= baseline + 0.02, p99_ms <= 50], warn: [usd_per_million <= 0.5]}
""")
    relaxed = write_suite(tmp_path, suite.read_text().replace("baseline +", "baseline(most_frequent) +"), "relaxed.yaml")
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "out")], catch_exceptions=False)
    run_dir = next((tmp_path / "out").iterdir())
    real = json.loads((run_dir / "results.json").read_text())
    assert res.exit_code == 1, res.output  # a one-feature rule does not beat the best baseline (logistic)
    assert "No candidate qualifies." in res.output and "  rule: accuracy: " in res.output
    check = real["candidates"][0]["limits"][0]
    delta = real["candidates"][0]["quality"]["delta_vs_best_baseline"]
    assert check["judged"] == pytest.approx(delta["baseline_value"] + delta["ci"][0])  # paired interval's low end
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    real["data"]["distribution"] = {"comparisons": {"train_vs_test": {"n_tested": 30, "n_drifted": 0,
                                                                      "share_drifted": 0.0, "columns": {}}},
                                    "warnings": []}
    for c in real["candidates"]:
        c["resources"] = {"footprint_mb": 12.0, "peak_rss_mb": 150.0, "cpu_ms_per_prediction": 0.05}
        c["cost"] = {"profile": "local", "batch": {"usd_per_1m": 0.01}, "realtime": {"usd_per_1m": 0.2, "monthly_usd": 30.0}}
    (copy / "results.json").write_text(json.dumps(real))
    res = CliRunner().invoke(main, ["report", str(copy), "--suite", str(relaxed)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    md = (copy / "report.md").read_text()
    # the rule meets the relaxed limits but is no better than the best baseline: named as an option
    assert "> **Ship rule: accuracy" in md  # the one-line answer, then the reasoning
    assert "The baseline logistic is " in md and "take rule: it meets all 2 hard limits" in md
    assert "| rule | accuracy >= baseline(most_frequent) + 0.02 | fail | PASS |" in md
    assert "$0.01" in md and "150 MB" in md
    charts = json.loads((copy / "results.json").read_text()).get("charts") or {}
    made = sorted(p.stem for p in (copy / "charts").glob("*.png"))
    assert {"quality_vs_cost", "quality_vs_latency", "latency_percentiles", "throughput_vs_batch",
            "resources"} <= set(made), (made, charts)


def test_charts_draw_on_axes_they_are_given():
    """The Display idea: a chart can go into a figure the caller lays out."""
    from matplotlib.figure import Figure

    from benchharness.report.charts_perf import plot_latency_vs_rate, plot_resources
    from benchharness.report.charts_tradeoff import plot_quality_vs_cost

    results = sample_results()
    results["verdict"] = verdict.judge(results, ["usd_per_million <= 1.5"])
    fig = Figure()
    ax1, ax2, ax3, ax4 = fig.subplots(1, 4)
    assert plot_quality_vs_cost(results, ax=ax1) is ax1
    assert [line.get_xdata()[0] for line in ax1.lines if line.get_label().startswith("usd_per_million limit")] == [1.5]
    assert plot_resources(results, ax=(ax2, ax3)) is ax2
    assert plot_latency_vs_rate(results, ax=ax4) is ax4
    sweep_limit = [line for line in ax4.lines if line.get_label().startswith("p99 limit of the sweep")]
    assert sweep_limit and sweep_limit[0].get_ydata()[0] == 5.0  # the sweep's own p99 limit: no suite limit on p99


def test_checklist_items_fill_from_the_data_stage_and_plan():
    results = sample_results()
    results["plan"] = {"ethics": "reviewed", "retraining": "quarterly", "data_lineage": "UCI"}
    items = {i.question.split("?")[0]: i for i in checklist.checklist(results)}
    dist = items["Has the data distribution of training, testing and validation sets been analyzed"]
    assert dist.status == "attention"  # the analysis found drifted columns
    assert "train against test: 3 of 30 columns drifted; label drift: no" in dist.evidence
    quality = items["How will incoming data quality be monitored"]
    assert quality.status == "met" and "bench validate --contract contract.yaml DATA" in quality.evidence[1]
    assert items["Have any ethical concerns been taken into account"].status == "declared"
    assert items["Can ground truth be obtained or inferred in production"].status == "missing"
    drift = items["How will drift in data characteristics be monitored"]
    assert drift.status == "met" and "plan.retraining: quarterly" in drift.evidence


def test_a_far_cost_limit_is_a_note_not_an_axis_stretched_to_it():
    """A $1 limit over candidates at $1e-5 per 1M put every point against the left edge."""
    from matplotlib.figure import Figure

    from benchharness.report.charts_tradeoff import plot_quality_vs_cost

    results = sample_results()
    for i, c in enumerate(results["candidates"]):
        if c.get("cost"):
            c["cost"] = {mode: {"usd_per_1m": 1e-5 * (i + 1)}  # all within a factor of 20 of each other
                         for mode in ("batch", "realtime")}
    results["verdict"] = verdict.judge(results, ["usd_per_million <= 1.0"])
    ax = Figure().subplots()
    plot_quality_vs_cost(results, ax=ax)
    assert ax.get_xscale() == "linear" and ax.get_xlim()[1] < 1e-3  # the points' own span
    assert not [ln for ln in ax.get_lines() if "limit" in str(ln.get_label())]
    # said under the axis, where it covers no point, error bar or label
    assert "usd_per_million limit $1.00 per 1M is far to the right" in ax.get_xlabel()


def test_tradeoff_chart_marks_the_verdicts_front_the_recommended_and_the_blocked():
    from matplotlib.figure import Figure

    from benchharness.report.charts_tradeoff import plot_quality_vs_latency

    results = sample_results()
    results["verdict"] = verdict.judge(results, ["p99_ms <= 2"])
    v = results["verdict"]
    blocked = {r["name"] for r in v["candidates"] if r["status"] == "blocked"}
    assert blocked and v["recommended"]  # the sample has both
    ax = Figure().subplots()
    plot_quality_vs_latency(results, ax=ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    front = [h for h, t in zip(ax.get_legend_handles_labels()[0], legend) if t.startswith("Pareto")]
    ringed = {tuple(p) for p in front[0].get_offsets()}
    expected = {(cand_value(results, n, "p99_ms"), cand_value(results, n, "accuracy"))
                for n in v["pareto_front"]}
    assert ringed == expected  # the same set as the table's "Pareto front: yes"
    assert f"recommended: {v['recommended']}" in legend
    labels = [t.get_text() for t in ax.texts]
    assert all(f"{n} (blocked)" in labels for n in blocked)
    assert f"{v['recommended']} (recommended)" in labels


def cand_value(results, name, figure):
    from benchharness.decide import figures

    cand = next(c for c in results["candidates"] if c["name"] == name)
    if figure == "accuracy":
        return figures.quality_value(cand, "accuracy")
    return figures.resolve(figure, cand, results)


def test_labels_of_coinciding_points_do_not_overlap():
    from matplotlib.figure import Figure

    from benchharness.report.charts_tradeoff import _place_labels

    ax = Figure().subplots()
    ax.plot([1, 1, 2], [0.9, 0.9, 0.5], "o")
    _place_labels(ax, [("forest", 1, 0.9), ("forest-onnx", 1, 0.9), ("far", 2, 0.5)])
    offsets = {t.get_text(): t.xyann[1] for t in ax.texts}
    assert offsets["forest"] != offsets["forest-onnx"]
    assert offsets["far"] == 6  # nothing near it: the usual place


def test_rate_axis_goes_log_when_candidates_sustain_very_different_rates():
    from matplotlib.figure import Figure

    from benchharness.report.charts_perf import plot_latency_vs_rate

    results = sample_results()  # every candidate swept over 50..800 req/s: a factor of 16, linear
    ax = Figure().subplots()
    plot_latency_vs_rate(results, ax=ax)
    assert ax.get_xscale() == "linear"
    fast = results["candidates"][0]["realtime"]["open_loop"]["rates"]
    for row in fast:
        row["target_rate_per_s"] *= 100  # one candidate at 5k..80k req/s
    ax = Figure().subplots()
    plot_latency_vs_rate(results, ax=ax)
    assert ax.get_xscale() == "log"


def test_cpu_bars_carry_their_values_so_a_tiny_one_is_visible():
    from matplotlib.figure import Figure

    from benchharness.report.charts_perf import plot_resources

    results = sample_results()
    results["candidates"][0]["resources"]["cpu_ms_per_prediction"] = 0.007426  # next to ms-sized ones
    ax_cpu, ax_mem = Figure().subplots(1, 2)
    plot_resources(results, ax=(ax_cpu, ax_mem))
    assert "0.00743 ms" in [t.get_text() for t in ax_cpu.texts]


def test_a_real_run_opens_with_the_one_line_answer(tmp_path):
    """`bench report` on the committed real run: the terminal and both report files give the
    one line a manager can forward before the reasoning."""
    import shutil

    from click.testing import CliRunner

    from benchharness.cli import main

    fixture = Path(__file__).resolve().parent / "fixtures" / "quick_run"
    run_dir = Path(shutil.copytree(fixture, tmp_path / "run"))
    res = CliRunner().invoke(main, ["report", str(run_dir)])
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    rec = json.loads((run_dir / "results.json").read_text())["verdict"]["recommended"]
    assert first.startswith(f"Ship {rec}: accuracy 0.9") and ", p99 " in first and \
        first.endswith(" per 1M predictions in real time"), first
    md = (run_dir / "report.md").read_text()
    assert f"> **{first}**" in md and md.index(first) < md.index("ranks first by")
    html = (run_dir / "report.html").read_text()
    assert html.index(first) < html.index("ranks first by")


def test_a_real_runs_warnings_are_in_the_report_beside_their_figures(tmp_path):
    """The committed real run (a --quick run whose forest-onnx open loop was limited by the
    load generator): `bench report` puts the quick warning at the top, marks the sustainable
    rate INVALID in its cell with why beside the table, and marks unstable figures; the
    invalid figure is used by no limit and no cost."""
    import shutil

    from click.testing import CliRunner

    from benchharness.cli import main
    from benchharness.cost.stage import sustainable_rate
    from benchharness.decide import figures, limits
    from benchharness.results import load_results

    fixture = Path(__file__).resolve().parent / "fixtures" / "quick_run"
    run_dir = Path(shutil.copytree(fixture, tmp_path / "run"))
    assert CliRunner().invoke(main, ["report", str(run_dir)]).exit_code == 0
    md = (run_dir / "report.md").read_text()
    head, speed = md.split("## Verdict")[0], md.split("## Speed")[1].split("\n## ")[0]
    assert "> ⚠️ Warning: QUICK RUN" in head
    row = next(line for line in speed.splitlines() if line.startswith("| forest-onnx |"))
    assert "| INVALID |" in row and "(unstable)" in speed
    assert "forest-onnx: sustainable_rps is INVALID: the load generator limited the measurement" in speed
    html = (run_dir / "report.html").read_text()
    assert '<td class="INVALID nw">INVALID</td>' in html and 'class="warning"' in html

    real = load_results(run_dir)
    onnx = next(c for c in real["candidates"] if c["name"] == "forest-onnx")
    assert figures.resolve("sustainable_rps", onnx, real) is None
    (res,) = limits.evaluate_all(limits.parse_spec(["sustainable_rps >= 10"]), onnx, real)
    assert res.status == "unknown" and res.note.startswith("INVALID")
    rate, source, warning = sustainable_rate(onnx)
    assert source.startswith("closed_loop.qps") and "INVALID" in warning


def test_money_on_a_real_run_reads_without_long_fractions_or_exponents(tmp_path):
    """Terminal, report and chart of the committed real run: every cost in a unit where it
    has at most 4 significant digits and no run of zeros ($0.0169 per 1B, not $0.0000169)."""
    import shutil

    from click.testing import CliRunner
    from matplotlib.figure import Figure

    from benchharness.cli import main
    from benchharness.report.charts_tradeoff import plot_quality_vs_cost
    from benchharness.report.terminal import summary_text
    from benchharness.results import load_results

    fixture = Path(__file__).resolve().parent / "fixtures" / "quick_run"
    run_dir = Path(shutil.copytree(fixture, tmp_path / "run"))
    from benchharness.config import default_suite_path

    # judged again by this version (the fixture's limit notes were written by the run)
    res = CliRunner().invoke(main, ["report", str(run_dir), "--suite", str(default_suite_path())])
    assert res.exit_code == 0, res.output
    real = load_results(run_dir)
    texts = {"terminal": summary_text(real, str(run_dir), width=100),
             "report.md": (run_dir / "report.md").read_text()}
    ax = Figure().subplots()
    plot_quality_vs_cost(real, ax=ax)
    ax.figure.canvas.draw()
    texts["chart"] = " ".join(t.get_text() for t in ax.get_xticklabels()) + " " + ax.get_xlabel()
    for where, text in texts.items():
        dollars = re.findall(r"\$[\d,.]+", text)
        assert dollars, where
        assert not [d for d in dollars if re.match(r"\$0\.000", d)], (where, dollars)
        assert not re.search(r"\$[\d.]+e-", text) and "e-05" not in text, where
    assert "real-time" in texts["terminal"] and "$/1M" in texts["terminal"]  # the mode, named
    assert "USD per 1B predictions" in texts["chart"] or "USD per 1M predictions" in texts["chart"]


def test_point_labels_of_a_real_run_stay_clear_of_each_other_and_the_legend():
    """The committed real run's quality-against-cost chart (forest and forest-onnx share an
    accuracy): no label covers another, leaves the plot or covers the legend."""
    from matplotlib.figure import Figure

    from benchharness.report.charts_tradeoff import plot_quality_vs_cost
    from benchharness.results import load_results

    real = load_results(Path(__file__).resolve().parent / "fixtures" / "quick_run")
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = plot_quality_vs_cost(real, ax=fig.subplots())
    fig.canvas.draw()
    names = {c["name"] for c in real["candidates"]}
    boxes = [t.get_window_extent() for t in ax.texts if t.get_text().split(" (")[0] in names]
    assert len(boxes) >= 3
    inside = ax.get_window_extent()
    legend = ax.get_legend().get_window_extent()
    for i, b in enumerate(boxes):
        assert b.x0 >= inside.x0 - 1 and b.x1 <= inside.x1 + 1 and b.y1 <= inside.y1 + 1
        assert not b.overlaps(legend)
        assert not any(b.overlaps(o) for o in boxes[i + 1:])


def test_the_tune_colour_scale_spans_at_least_the_quality_noise():
    from benchharness.tune.chart import colour_span

    rows = [{"quality_delta_ci": [-0.3, 0.25]}, {"quality_delta_ci": [-0.2, 0.2]}]
    lo, hi = colour_span([57.90, 57.98, 57.95], rows)
    assert hi - lo >= 0.55 - 1e-9 and lo < 57.90 and hi > 57.98  # 0.08 apart: one colour
    assert colour_span([0.80, 0.95], [{"quality_delta_ci": [-0.02, 0.02]}]) == (0.80, 0.95)  # a real spread


def test_report_tables_sort_by_the_column_clicked_in_a_browser(tmp_path):
    """The committed real run's report in headless Chromium: a click on a column head sorts
    its table by the figures' numbers (no server, no CDN: the script is in the page)."""
    import shutil
    import subprocess

    from click.testing import CliRunner

    from benchharness.cli import main

    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    fixture = Path(__file__).resolve().parent / "fixtures" / "quick_run"
    run_dir = Path(shutil.copytree(fixture, tmp_path / "run"))
    assert CliRunner().invoke(main, ["report", str(run_dir)]).exit_code == 0
    page = (run_dir / "report.html").read_text()
    assert "<script" in page and "http" not in page.split("<script>")[1].split("</script>")[0]
    click = """<script>
    var table = Array.prototype.find.call(document.querySelectorAll("table"),
        function (t) { return t.tHead && t.tHead.rows[0].cells[0].textContent === "model"; });
    table.tHead.rows[0].cells[2].click();  // accuracy (test), ascending
    document.title = Array.prototype.map.call(table.tBodies[0].rows,
        function (r) { return r.cells[2].textContent; }).join("|");
    </script></body>"""
    probe = run_dir / "probe.html"
    probe.write_text(page.replace("</body>", click))
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    title = re.search(r"<title>([^<]*)</title>", dom).group(1)
    values = [float(v) for v in title.split("|")]
    assert values == sorted(values) and len(values) >= 8


def test_a_real_runs_latency_breakdown_adds_up(tmp_path):
    """`bench report` on the committed real run: per candidate, the open loop's mean time from
    the scheduled arrival split into load-generator delay, queueing and the call, which add up."""
    import shutil

    from click.testing import CliRunner

    from benchharness import schema
    from benchharness.cli import main
    from benchharness.results import load_results

    fixture = Path(__file__).resolve().parent / "fixtures" / "quick_run"
    run_dir = Path(shutil.copytree(fixture, tmp_path / "run"))
    assert CliRunner().invoke(main, ["report", str(run_dir)]).exit_code == 0
    md = (run_dir / "report.md").read_text()
    assert "| candidate | open-loop rate | mean from scheduled arrival | load generator delay | queueing |" in md
    real = load_results(run_dir)
    for c in real["candidates"]:
        rate = schema.open_loop_rate_at_best(c)
        queue = rate["mean_ms"] - rate["generator_delay_mean_ms"] - rate["service_mean_ms"]
        assert abs(queue - (rate["model_mean_ms"] - rate["service_mean_ms"])) < 1e-9
        assert next(line for line in md.splitlines() if line.startswith(f"| {c['name']} | ")
                    and "req/s" in line and "in the call" in line)


def test_a_real_run_that_nothing_qualifies_for_says_so_in_one_line(tmp_path):
    """The committed real run judged again by a suite whose p99 limit nobody meets: the one
    line starts 'Nothing qualifies' and names the closest candidate and what to change."""
    import shutil

    import yaml
    from click.testing import CliRunner

    from benchharness.cli import main
    from benchharness.config import default_suite_path

    suite = yaml.safe_load(default_suite_path().read_text())
    suite["limits"] = {"fail": ["p99_ms <= 0.001"]}
    suite["data"]["source"] = "sklearn:breast_cancer"
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(suite))
    fixture = Path(__file__).resolve().parent / "fixtures" / "quick_run"
    run_dir = Path(shutil.copytree(fixture, tmp_path / "run"))
    res = CliRunner().invoke(main, ["report", str(run_dir), "--suite", str(path)])
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    assert first.startswith("Nothing qualifies: closest is forest-onnx (p99_ms "), first
    assert f"> **{first}**" in (run_dir / "report.md").read_text()


def test_bullets_and_inline_svg_blocks_in_both_renderers(tmp_path):
    """A list keeps **bold** as Markdown in report.md and makes it bold, everything else escaped,
    in report.html; an inline SVG is written into the page as it is and left out of report.md."""
    from benchharness.report.document import Bullets, Heading, InlineSvg
    from benchharness.report.html import render_html
    from benchharness.report.markdown import render_markdown

    blocks = [Heading("T", 1), Bullets(["**drift**: <a> & b", "x ** y"]), InlineSvg("<svg width='4'></svg>")]
    assert render_markdown(blocks) == "# T\n\n- **drift**: <a> & b\n- x ** y\n"
    page = render_html(blocks, tmp_path)
    assert ("<ul><li><b>drift</b>: &lt;a&gt; &amp; b</li><li>x ** y</li></ul>\n<svg width='4'></svg>\n"
            in page)
    assert "<title>T</title>" in page and "<title>other</title>" in render_html(blocks, tmp_path, "other")
