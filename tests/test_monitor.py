"""`bench monitor` end to end on generated data with known truth, and its alert rules."""

from __future__ import annotations

import json
import re

import joblib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from benchharness import schema
from benchharness.cli import main
from benchharness.data.performance import alert_bounds, apply_alerts
from benchharness.errors import DataError
from benchharness.results import load_results

FEATURES = ["a", "b", "c"]


def make(rng, n, start, shift=0.0, id_from=0):
    X = pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.normal(0, 1, n), "c": rng.integers(0, 10, n)})
    y = ((X["a"] + X["b"] + rng.normal(0, 0.5, n)) > 0).astype(int)
    X["id"] = np.arange(id_from, id_from + n)
    X["ts"] = pd.date_range(start, periods=n, freq="5min").astype(str)
    X["target"] = y
    return X


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Reference with labels, a model, and a current batch whose labels arrive in a second file."""
    d = tmp_path_factory.mktemp("monitor")
    rng = np.random.default_rng(0)
    ref = make(rng, 3000, "2024-01-01")
    ref.to_csv(d / "reference.csv", index=False)
    joblib.dump(LogisticRegression().fit(ref[FEATURES], ref["target"]), d / "model.joblib")
    cur = make(rng, 2016, "2024-03-01", id_from=10**6)  # 7 days of 288 rows
    cur.drop(columns="target").to_csv(d / "current.csv", index=False)
    labels = cur[["id", "target"]].copy()
    labels.to_csv(d / "labels.csv", index=False)
    late = labels.copy()  # the last day: the model is suddenly wrong (a planted drop)
    last_day = cur["ts"] >= "2024-03-07"
    late.loc[last_day, "target"] = 1 - late.loc[last_day, "target"]
    late.to_csv(d / "labels_drop.csv", index=False)
    shifted = make(rng, 2016, "2024-03-01", shift=1.5, id_from=10**6)
    shifted["c"] = rng.integers(5, 15, 2016)
    shifted.drop(columns="target").to_csv(d / "shifted.csv", index=False)
    return d


def monitor(files, tmp_path, *extra, labels="labels.csv", current="current.csv"):
    args = ["monitor", "--reference", str(files / "reference.csv"), "--current", str(files / current),
            "--model", str(files / "model.joblib"), "--time-column", "ts", "--out", str(tmp_path / "out"), *extra]
    if labels:
        args += ["--labels", str(files / labels)]
    res = CliRunner().invoke(main, args)
    out = tmp_path / "out"
    results = json.loads((out / "monitor.json").read_text()) if (out / "monitor.json").exists() else None
    return res, results


def test_all_clear_exits_0_and_writes_every_output(files, tmp_path):
    res, r = monitor(files, tmp_path)
    assert res.exit_code == 0, res.output
    assert r["alerts"] == [] and "no alerts" in res.output
    perf = r["performance"]
    assert perf["metric"] == "accuracy" and perf["labels"]["joined_share"] > 0.99
    assert len(perf["windows"]) == 7 and perf["reference"]["windows"] >= 10
    assert not perf["alert_windows"] and r["drift"]["features"]["dataset_drift"] is False
    for name in ("report.md", "report.html", "metrics.prom", "validation/quarantine.csv"):
        assert (tmp_path / "out" / name).exists()
    html = (tmp_path / "out" / "report.html").read_text()
    # the tool's one page shell: self-contained, its only script inline (table sorting)
    assert html.lower().startswith("<!doctype html>") and "<script src" not in html and "http" not in html


def test_planted_drop_alerts_on_that_window_only(files, tmp_path):
    res, r = monitor(files, tmp_path, labels="labels_drop.csv")
    assert res.exit_code == 1, res.output
    perf = r["performance"]
    assert perf["alert_windows"] == ["2024-03-07"]
    assert [a["kind"] for a in r["alerts"]] == ["performance"]
    assert "ALERT performance" in res.output
    assert "2024-03-07 | 288 |" in (tmp_path / "out" / "report.md").read_text()


def test_configured_drop_rule(files, tmp_path):
    # every current window is within 0.2 of the reference accuracy except the planted one
    res, r = monitor(files, tmp_path, "--max-drop", "0.2", labels="labels_drop.csv")
    assert r["performance"]["bounds"]["max_drop"] == 0.2
    assert r["performance"]["alert_windows"] == ["2024-03-07"]


def test_shifted_batch_alerts_drift_and_prediction_drift(files, tmp_path):
    res, r = monitor(files, tmp_path, labels=None, current="shifted.csv")
    assert res.exit_code == 1
    kinds = {a["kind"] for a in r["alerts"]}
    assert {"drift", "prediction_drift", "quality"} <= kinds  # c now runs past its training range
    assert r["drift"]["features"]["drifted_columns"] == ["a", "c"]
    assert r["quality"]["failed_by_check"]["above_max"] > 0
    # no labels: nothing realized, only the estimate (CBPE: the model has probabilities)
    assert "windows" not in r["performance"] and r["performance"]["estimated"]["method"] == "cbpe"
    # each feature's distribution, reference against current: a shifted by 1.5 sd puts about
    # 0.3% of the current rows (not 10%) below the reference's lowest decile edge (-1.28) and
    # about 59% above its top one (+1.28); b did not move
    cols = r["drift"]["features"]["columns"]
    a, b = cols["a"]["histogram"], cols["b"]["histogram"]
    assert len(a["reference"]) == len(a["current"]) == 10 and abs(sum(a["current"]) - 1) < 1e-9
    assert a["current"][0] < 0.02 < 0.3 < a["current"][-1] and abs(b["current"][-1] - 0.1) < 0.04
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Feature distributions, reference against current" in page
    assert page.count("aria-label='distribution of ") == 3  # a and c drifted, first; then b
    assert page.index("distribution of a,") < page.index("distribution of b,")


def test_prometheus_textfile_is_well_formed(files, tmp_path):
    monitor(files, tmp_path, labels="labels_drop.csv")
    text = (tmp_path / "out" / "metrics.prom").read_text()
    sample = re.compile(r'^[a-z0-9_]+\{(?:[a-z_]+="[^"]*",?)+\} -?[0-9.e+-]+$')
    names, finished = [], set()
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) benchharness_monitor_[a-z0-9_]+ ", line)
            continue
        assert sample.match(line), line
        name = line.split("{")[0]
        if names and names[-1] != name:  # every sample of one metric in one group
            assert name not in finished, name
            finished.add(names[-1])
        names.append(name)
    # prometheus_client writes labels in name order and values as floats
    assert 'benchharness_monitor_alert{kind="performance",model="model"} 1.0' in text
    assert 'benchharness_monitor_alert{kind="drift",model="model"} 0.0' in text
    assert "benchharness_monitor_throughput_rows_per_second" in text


def test_labels_that_do_not_join_are_a_clear_error(files, tmp_path):
    pd.DataFrame({"id": [1, 2, 3], "target": [0, 1, 0]}).to_csv(tmp_path / "other.csv", index=False)
    res, _ = monitor(files, tmp_path, "--labels", str(tmp_path / "other.csv"), labels=None)
    assert res.exit_code == 2
    assert "none of its 3 ids match the current data's 'id' column" in res.output
    pd.DataFrame({"key": [1], "target": [0]}).to_csv(tmp_path / "noid.csv", index=False)
    res, _ = monitor(files, tmp_path, "--labels", str(tmp_path / "noid.csv"), labels=None)
    assert res.exit_code == 2 and "has no column 'id'" in res.output


def test_labels_without_predictions_and_bad_metric(files, tmp_path):
    res = CliRunner().invoke(main, ["monitor", "--reference", str(files / "reference.csv"), "--current",
                                    str(files / "current.csv"), "--labels", str(files / "labels.csv"),
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--labels needs predictions" in res.output
    res, _ = monitor(files, tmp_path, "--metric", "auc")
    assert res.exit_code == 2 and "unknown metric 'auc'" in res.output
    res = CliRunner().invoke(main, ["monitor", "--reference", str(files / "reference.csv"), "--current",
                                    str(files / "current.csv"), "--window", "D", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--window 'D' needs --time-column" in res.output


def test_row_windows_and_logged_predictions(files, tmp_path):
    """No model: predictions logged in the files; no time column: windows of rows."""
    model = joblib.load(files / "model.joblib")
    ref = pd.read_csv(files / "reference.csv")
    ref["pred"] = model.predict(ref[FEATURES])
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur = pd.read_csv(files / "current.csv")
    cur["pred"] = model.predict(cur[FEATURES])
    cur.to_csv(tmp_path / "cur.csv", index=False)
    res = CliRunner().invoke(main, [
        "monitor", "--reference", str(tmp_path / "ref.csv"), "--current", str(tmp_path / "cur.csv"),
        "--prediction-column", "pred", "--labels", str(files / "labels_drop.csv"), "--window", "504",
        "--out", str(tmp_path / "out")])
    r = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert [w["window"] for w in r["performance"]["windows"]] == [f"rows {i * 504}-{i * 504 + 503}" for i in range(4)]
    # the last 288 rows are the planted drop: the last block of 504 rows has 288 of them
    assert r["performance"]["alert_windows"] == ["rows 1512-2015"] and res.exit_code == 1
    assert r["speed"] is None


def test_alert_bounds_by_hand():
    b = alert_bounds("accuracy", [0.90, 0.92, 0.88], reference_value=0.9, max_drop=None)
    assert b["reference_mean"] == pytest.approx(0.9) and b["reference_std"] == pytest.approx(0.02)
    assert b["limit"] == pytest.approx(0.84)
    windows = [{"window": "w1", "value": 0.83, "enough_rows": True},
               {"window": "w2", "value": 0.85, "enough_rows": True},
               {"window": "w3", "value": 0.10, "enough_rows": False}]
    assert [w["alert"] for w in apply_alerts(windows, b)] == [True, False, False]
    # lower is better (mae): the limit sits above; with a configured drop the stricter rule wins
    b = alert_bounds("mae", [1.0, 1.2, 0.8], reference_value=1.0, max_drop=0.1)
    assert b["limit"] == pytest.approx(1.1)
    assert alert_bounds("mae", [], None, None)["limit"] is None


def test_run_folder_as_reference_compares_speed(tmp_path):
    """A real `bench run`, then monitor against its folder: contract, split, figures."""
    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: tiny
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: tree, train: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 3}}
realtime: {duration_s: 0.3, warmup_count: 5, warmup_s: 0.05}
batch: {duration_s: 0.2, batch_sizes: [1, 64]}
""")
    res = CliRunner().invoke(main, ["run", str(suite), "--quick", "--out", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    run_dir = next((tmp_path / "runs").iterdir())
    res = CliRunner().invoke(main, [
        "monitor", "--reference", str(run_dir), "--current", str(run_dir / "work" / "X_test.parquet"),
        "--model", str(run_dir / "work" / "tree.joblib"), "--latency-tolerance", "1000",
        "--out", str(tmp_path / "out")])
    r = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert r["run"] == str(run_dir)
    assert r["speed"]["run"]["candidate"] == "tree" and r["speed"]["run"]["p99_ms"] > 0
    assert r["speed"]["current"]["p99_ms"] > 0 and r["speed"]["regressions"] == []
    assert r["quality"]["rows_read"] == len(pd.read_parquet(run_dir / "work" / "X_test.parquet"))
    assert res.exit_code in (0, 1)  # a test split may or may not drift from train; the run is what we test
    # the run kept the tree's calibration on its test split; the reference (the training split,
    # no labels) cannot calibrate, so the estimate comes from the run's file
    kept = schema.quality(schema.candidates(load_results(run_dir))[0])["calibration"]
    assert kept["file"] == "calibration/tree.json" and kept["method"] in ("isotonic", "platt")
    est = r["performance"]["estimated"]
    assert est["method"] == "cbpe" and est["calibration"]["source"] == str(run_dir / "calibration" / "tree.json")
    assert est["reference"]["source"] == "qualifying run's test score"
    assert all(0 <= w["interval"][0] <= w["estimate"] <= w["interval"][1] <= 1 for w in est["windows"])
    with pytest.raises(DataError, match="no results.json"):
        from benchharness.data.speed import run_figures

        run_figures(tmp_path)


def test_reference_learned_contract_and_bad_reference(tmp_path):
    from benchharness.data.contract import learn_file_contract

    (tmp_path / "ref.csv").write_text("id,x,target\n1,0.5,1\n2,1.5,0\n")
    contract = learn_file_contract(tmp_path / "ref.csv", exclude={"id", "target"})
    assert list(contract.columns) == ["x"] and contract.columns["x"].dtype == "float"
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="cannot read"):
        learn_file_contract(tmp_path / "empty.csv", exclude=set())


def test_config_file_feeds_options_and_flags_win(files, tmp_path):
    config = tmp_path / "monitor.yaml"
    config.write_text("monitor: {time_column: ts, max_drop: 0.2, name: fraud}\ndrift: {dataset_share: 0.3}\n")
    args = ["monitor", "--reference", str(files / "reference.csv"), "--current", str(files / "current.csv"),
            "--model", str(files / "model.joblib"), "--labels", str(files / "labels_drop.csv"),
            "--config", str(config), "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(main, [*args, "--name", "fraud-v2"])
    r = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert res.exit_code == 1 and r["name"] == "fraud-v2"  # the flag won
    assert r["performance"]["bounds"]["max_drop"] == 0.2 and r["performance"]["alert_windows"] == ["2024-03-07"]
    assert r["drift"]["features"]["thresholds"]["dataset_share"] == 0.3
    config.write_text("monitor: {windw: D}\n")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "unknown key monitor.windw" in res.output


def _correlated(rng, n, z_shift=0.0):
    """x1 and x2 move together; z follows x1 too. With `z_shift`, z leaves the contract's range
    exactly in the rows where x1 > 0.5 (about 30% of them), nothing else changes."""
    x1 = rng.normal(0, 1, n)
    x2 = x1 + rng.normal(0, 0.5, n)
    z = np.clip(x1 + rng.normal(0, 0.1, n), -3, 3)
    if z_shift:
        z = np.where(x1 > 0.5, z + z_shift, z)
    return pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4), "z": z.round(4),
                         "kind": rng.choice(["a", "b", "c"], n), "label": (x1 > 0).astype(int)})


def test_drift_is_on_every_row_so_quarantined_rows_do_not_fake_drift_elsewhere(tmp_path):
    """z moves out of range in the rows with high x1; those rows are quarantined. Dropping
    them would shift x1 and x2 by half a standard deviation (drift that is not there); drift
    on every row flags z only, and quality reports the quarantined rows apart."""
    from benchharness.data.monitor import MonitorOptions, run_monitor

    rng = np.random.default_rng(5)
    _correlated(rng, 5_000).to_csv(tmp_path / "ref.csv", index=False)
    cur = _correlated(rng, 5_000, z_shift=10.0)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    broken = int((cur["z"] > 3.5).sum())
    r = run_monitor(MonitorOptions(reference=str(tmp_path / "ref.csv"), current=str(tmp_path / "cur.csv"),
                                   out_dir=str(tmp_path / "out"), target="label"))
    feats = r["drift"]["features"]
    assert r["drift"]["current_rows"] == 5_000
    assert feats["drifted_columns"] == ["z"]
    for unchanged in ("x1", "x2"):
        assert feats["columns"][unchanged]["score"] < 0.05  # on the clean rows alone: about 0.5
    assert feats["columns"]["kind"]["on"] == "all rows (category counts)"
    assert r["quality"]["rows_quarantined"] == broken > 1_000
    assert r["quality"]["failed_by_check"] == {"above_max": broken}
    assert any(a["kind"] == "quality" for a in r["alerts"])


def test_a_batch_without_the_label_column_names_it(tmp_path):
    rng = np.random.default_rng(6)
    _correlated(rng, 500).to_csv(tmp_path / "ref.csv", index=False)
    _correlated(rng, 300).drop(columns="label").to_csv(tmp_path / "cur.csv", index=False)
    args = ["monitor", "--reference", str(tmp_path / "ref.csv"), "--current", str(tmp_path / "cur.csv"),
            "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert "lacks the reference column 'label'" in res.output and "--target label" in res.output
    res = CliRunner().invoke(main, [*args, "--target", "label"])
    r = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert res.exit_code == 0, res.output
    assert r["quality"]["rows_quarantined"] == 0 and "label" not in r["drift"]["features"]["columns"]


def _md_tables(md: str) -> list[list[list[str]]]:
    """Each Markdown table of `md` as rows of cells, split on the '|' that are not escaped."""
    tables, rows = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif rows:
            tables.append(rows)
            rows = []
    return tables


def test_report_is_rendered_by_the_run_reports_renderers(tmp_path):
    """A feature named with a '|' (a real CSV header) that drifts and breaks the contract:
    report.md's tables escape it as the run report's do, so every row keeps its header's
    columns; report.html is the tool's one page shell with the run report's tables (a head the
    sort script reads), the alerts' **kind** bold in HTML and Markdown as written in report.md."""
    from benchharness.report.html import page

    rng = np.random.default_rng(1)
    pd.DataFrame({"p|q": rng.normal(0, 1, 2000), "r": rng.normal(0, 1, 2000)}).to_csv(
        tmp_path / "ref.csv", index=False)
    pd.DataFrame({"p|q": rng.normal(3, 1, 1000), "r": rng.normal(0, 1, 1000)}).to_csv(
        tmp_path / "cur.csv", index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["monitor", "--reference", str(tmp_path / "ref.csv"),
                                    "--current", str(tmp_path / "cur.csv"), "--out", str(out)])
    assert res.exit_code == 1, res.output
    r = json.loads((out / "monitor.json").read_text())
    assert r["drift"]["features"]["drifted_columns"] == ["p|q"]

    md = (out / "report.md").read_text()
    assert "| p\\|q | numeric |" in md  # the feature drift table
    assert re.search(r"^\| p\\\|q: above_max \| \d+ \|$", md, re.M)  # the failed checks table
    tables = _md_tables(md)
    assert len(tables) >= 3  # failed checks, feature drift, speed
    for rows in tables:
        assert rows[1] == ["---"] * len(rows[0])
        assert all(len(row) == len(rows[0]) for row in rows), rows
    assert "- **drift**: " in md and "<b>" not in md

    html = (out / "report.html").read_text()
    head, tail = page(f"monitoring: {r['name']}", "\0").split("\0")
    assert html.startswith(head) and html.endswith(tail)
    assert "<li><b>drift</b>: " in html and "**" not in html
    assert ('<div class="scroll"><table><thead><tr><th>feature</th><th>kind</th>' in html
            and '<td class="nw">p|q</td>' in html)
    assert html.count("<table>") == html.count("<thead>") == len(tables)
    assert html.count("aria-label='distribution of ") == 2  # the charts, inline, HTML only
    assert "<svg" not in md


def test_one_markdown_and_one_html_renderer():
    """The monitor builds the run report's blocks and has no renderer of its own."""
    import inspect

    from benchharness.data import monitor_output
    from benchharness.report import html, markdown

    for name in ("to_markdown", "to_html", "_inline"):
        assert not hasattr(monitor_output, name), name
    assert monitor_output.render_markdown is markdown.render_markdown
    assert monitor_output.render_html is html.render_html
    source = inspect.getsource(monitor_output)
    for markup in ("---|", "<table", "<ul>", "<li>", "<h1>", "<h2>", "<p>"):
        assert markup not in source, markup
