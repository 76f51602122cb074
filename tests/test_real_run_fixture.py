"""The committed real run (tests/fixtures/quick_run, from `bench run --quick`) read through the
product's one loader and its figure table: if the stages' output drifts from what the readers
expect, these fail. Regenerate the fixture with `python tests/fixtures/make_quick_run.py`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sample_run import sample_results

from benchharness.cli import main
from benchharness.decide import figures
from benchharness.results import CSV_FIGURES, SCHEMA_VERSION, load_results

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "quick_run"
REGENERATE = "regenerate it: python tests/fixtures/make_quick_run.py"


@pytest.fixture(scope="module")
def real():
    return load_results(FIXTURE)


def test_the_fixture_is_of_the_current_schema(real):
    assert real["schema_version"] == SCHEMA_VERSION, REGENERATE


def test_every_headline_figure_resolves_with_an_interval_across_trials(real):
    cands = [c for c in real["candidates"] if c["status"] == "ok"]
    assert len(cands) == 3
    for c in cands:
        for name in ("p50_ms", "p99_ms", "qps", "rows_per_s", "cpu_ms_per_prediction", "usd_per_million"):
            assert figures.resolve(name, c, real) is not None, (c["name"], name, REGENERATE)
            iv = figures.interval(c, name, real)
            assert iv is not None, (c["name"], name)
            assert len(figures.trial_values(c, name, real) or []) >= 2, (c["name"], name)
        assert figures.resolve("accuracy", c, real) is not None
        assert figures.interval(c, "accuracy", real) is not None
        for name in figures.MEASURES:  # every named figure reads without an exception
            figures.resolve(name, c, real)


def test_the_synthetic_document_uses_the_real_layout(real):
    # the sections the synthetic tests plant numbers in exist, under the same keys, in real output
    synthetic = sample_results()["candidates"][0]
    fact = next(c for c in real["candidates"] if c["status"] == "ok")

    def keys(doc, prefix=""):
        out = set()
        for k, v in doc.items():
            out.add(prefix + k)
            if isinstance(v, dict) and k not in ("quality", "model"):
                out |= keys(v, prefix + k + ".")
        return out

    missing = {k for k in keys(synthetic) - keys(fact)
               if not k.startswith(("quality.", "model.", "parity", "cost.profile"))}
    assert not missing, f"the synthetic run has keys real output lacks: {sorted(missing)}"


def test_the_csv_names_each_figure_as_a_limit_does(real):
    with open(FIXTURE / "results.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert set(CSV_FIGURES) <= set(header), REGENERATE
    for name in CSV_FIGURES:
        assert name in figures.MEASURES


@pytest.mark.parametrize("columns", [80, 100])
def test_bench_report_folds_the_verdict_to_the_terminal(tmp_path, monkeypatch, columns):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    monkeypatch.setenv("COLUMNS", str(columns))
    res = CliRunner().invoke(main, ["report", str(run)])
    assert res.exit_code == 0, res.output
    verdict = [line for line in res.output.splitlines() if not line.startswith("report: ")]
    assert verdict and verdict[0].startswith("Ship ")
    assert max(len(line) for line in verdict) <= columns, verdict


def test_report_and_compare_run_on_real_output(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(FIXTURE, a)
    shutil.copytree(FIXTURE, b)
    res = CliRunner().invoke(main, ["report", str(a)])
    assert res.exit_code == 0, res.output
    assert (a / "report.html").stat().st_size > 10_000
    out = tmp_path / "cmp.json"
    res = CliRunner().invoke(main, ["compare", str(a), str(b), "--json", str(out)])
    # a run compared with itself: nothing regressed; across runs both runs' drift is added, so
    # a tail may stay inconclusive (4) rather than be called equivalent
    assert res.exit_code in (0, 4), res.output
    assert not any(r.get("regression") for cmp in json.loads(out.read_text())["comparisons"]
                   for r in cmp["rows"])


def test_a_version_1_document_is_upgraded_and_its_within_run_intervals_set_aside(tmp_path):
    doc = sample_results()
    doc["schema_version"] = 1
    doc["candidates"][0]["realtime"]["closed_loop"]["intervals"] = {"p99_ms": [2.4, 2.6]}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    up = load_results(tmp_path)
    assert up["schema_version"] == SCHEMA_VERSION and up["upgraded_from"] == 1
    cl = up["candidates"][0]["realtime"]["closed_loop"]
    assert "intervals" not in cl and cl["intervals_within_run"] == {"p99_ms": [2.4, 2.6]}
    assert figures.interval(up["candidates"][0], "p99_ms") is None  # judged on its point value
