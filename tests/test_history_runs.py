"""Real --quick runs into one results folder: the index, bench history, compare --against.

Four runs of a tiny suite with two busy-wait models (tests/measure_models.py); the first two
run at once with both at 0.3 ms per call, the last two (also at once) with `varying` slowed to
3 ms by its suite file. Running two at a time is also the concurrent-writers case of the index.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from benchharness.cli import main
from benchharness.history import store

pytestmark = pytest.mark.slow
TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent

SUITE = """
name: tiny-history
data: {{source: 'sklearn:breast_cancer', target: target}}
candidates:
  - {{name: steady, model: 'measure_models:FixedService',
     options: {{kwargs: {{ms: 0.3}}, n_features: 30, sys_path: ['{tests}']}}}}
  - {{name: varying, model: 'measure_models:FixedService',
     options: {{kwargs: {{ms: {varying_ms}}}, n_features: 30, sys_path: ['{tests}']}}}}
realtime: {{duration_s: 0.5, open_loop: {{enabled: false}}}}
batch: {{batch_sizes: [1], duration_s: 0.2, full_split: false}}
quality: {{bootstrap: {{resamples: 50}}}}
limits: {{fail: [p99_ms <= 50]}}
objective: [min p50_ms]
"""


def _bench_run(suite: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "benchharness", "run", str(suite), "--quick", "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _two_at_once(suite: Path, out: Path) -> None:
    procs = [_bench_run(suite, out) for _ in range(2)]
    for p in procs:
        output, _ = p.communicate(timeout=600)
        assert p.returncode == 0, output[-3000:]


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    fast, slow = root / "fast.yaml", root / "slow.yaml"
    fast.write_text(SUITE.format(tests=TESTS_DIR, varying_ms=0.3))
    slow.write_text(SUITE.format(tests=TESTS_DIR, varying_ms=3.0))
    out = root / "results"
    _two_at_once(fast, out)
    _two_at_once(slow, out)
    return out


def _runs_in_order(out: Path) -> list[str]:
    docs = [json.loads(p.read_text()) for p in out.glob("*/results.json")]
    return [d["run_id"] for d in sorted(docs, key=lambda d: (d["started_at"], d["run_id"]))]


def test_index_has_a_row_per_run_candidate_figure(history_dir):
    frame = store.read_index(history_dir)
    runs = _runs_in_order(history_dir)
    assert len(runs) == 4 and set(frame["run_id"]) == set(runs)
    per_run = frame.groupby(["run_id", "candidate"])["figure"].apply(set)
    assert len(per_run) == 8
    for figures in per_run:
        assert {"accuracy", "p50_ms", "p99_ms", "qps", "rows_per_s", "usd_per_million"} <= figures
    p50 = frame[frame["figure"] == "p50_ms"]  # (a p99 interval needs more requests than some runs made)
    assert p50["lo"].notna().all() and (p50["lo"] <= p50["value"]).all() and (p50["value"] <= p50["hi"]).all()
    one = frame.iloc[0]
    assert one["suite"] == "tiny-history" and one["quick"] and len(one["suite_sha256"]) == 64
    assert one["machine"] and one["split_sha256"] and one["data_sha256"]
    # the two suite files differ: so does the recorded suite hash
    assert frame.drop_duplicates("run_id")["suite_sha256"].nunique() == 2


def test_rebuild_gives_the_same_index(history_dir, tmp_path):
    before = store.read_index(history_dir)
    res = CliRunner().invoke(main, ["history", str(history_dir), "--rebuild", "--html", str(tmp_path / "h.html")])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(store.read_index(history_dir), before)


def test_history_finds_the_planted_step_and_no_other(history_dir, tmp_path):
    runs = _runs_in_order(history_dir)
    res = CliRunner().invoke(main, ["history", str(history_dir), "--json", str(tmp_path / "h.json"),
                                    "--html", str(tmp_path / "h.html")])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:3] == ["started", "run", "candidate"]
    assert max(len(line) for line in lines) <= 100
    table = lines[: lines.index("")]
    assert len(table) == 1 + 8 and sum(1 for line in table if line.split()[3] == "steady") == 4
    doc = json.loads((tmp_path / "h.json").read_text())
    steps = {(c["candidate"], c["figure"]): c for c in doc["change_points"]}
    p50 = steps[("varying", "p50_ms")]
    assert p50["run_id"] == runs[2] and p50["before"] < 1.0 < 2.5 < p50["after"]
    assert "suite file" in p50["changed"] and p50["worse"]
    # the unchanged model's centre and quality: no step (its mean and tail move with the
    # machine's load, which on a shared 2-core box is not steady over four runs)
    assert not [k for k in steps if k[0] == "steady" and k[1] in ("p50_ms", "accuracy")], steps.keys()
    assert ("varying", "accuracy") not in steps
    page = (tmp_path / "h.html").read_text()
    assert page.count("<svg") == len({s["suite"] + s["figure"] for s in doc["sequences"]})
    assert "step detected here" in page
    # it leads with what the suite judges (its limit and objective), limit drawn, latency on
    # a log scale, dates on the x axis, the run report's colour-blind-safe colours
    judged, others = page.split("<h2>What the suite judges</h2>")[1].split("<h2>Other figures</h2>")
    assert judged.index("p99_ms (ms, log scale)") >= 0 and "p50_ms (ms, log scale)" in judged
    assert "limit 50 ms" in judged and "p99_ms" not in others.split("<svg")[0]
    assert "run date" in judged and "#0072B2" in page and "#d62728" not in page
    assert "<details>" in others


def test_compare_against_last_and_best(history_dir):
    runs = _runs_in_order(history_dir)
    newest = history_dir / runs[-1]
    res = CliRunner().invoke(main, ["compare", str(newest), "--against", "last"])
    assert f"reference: {runs[2]}" in res.output, res.output
    res = CliRunner().invoke(main, ["compare", str(newest), "--against", "best"])
    assert res.output.split("reference: ")[1].split()[0] in runs[:2]  # a run before the slowdown
    assert res.exit_code == 1  # varying regressed against it
    res = CliRunner().invoke(main, ["compare", str(newest), "--against", "nosuchrun"])
    assert res.exit_code == 2 and "no run" in res.output


def test_report_compares_with_the_previous_run(history_dir):
    runs = _runs_in_order(history_dir)
    results = json.loads((history_dir / runs[-1] / "results.json").read_text())
    assert results["history"]["previous"]["run_id"] in runs[:3]
    report = (history_dir / runs[-1] / "report.md").read_text()
    assert "Compared with the previous run" in report
