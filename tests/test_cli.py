import json

import numpy as np
import pandas as pd
from click.testing import CliRunner
from conftest import write_suite

from benchharness.cli import main


def run_cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_quickstart_end_to_end(tmp_path):
    res = run_cli("run", "--quick", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    run_dir = next(tmp_path.iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema_version"] == 2 and results["run_id"] == run_dir.name
    assert results["data"]["split"]["split_sha256"]
    for key in ("cpu_model", "python", "packages", "timer"):
        assert key in results["environment"]
    names = [c["name"] for c in results["candidates"]]
    assert names == ["logreg", "forest", "forest-onnx"]
    for c in results["candidates"]:
        assert c["status"] == "ok" and c["error"] is None
        assert len(c["model"]["sha256"]) == 64 and c["model"]["size_bytes"] > 0
        assert 0.85 < c["quality"]["test"]["accuracy"] <= 1.0
        assert "accuracy" in c["quality"]["train"]
        rt = c["realtime"]["closed_loop"]
        assert rt["count"] > 0 and 0 < rt["p50_ms"] <= rt["p90_ms"] <= rt["p99_ms"]
        assert all(b["rows_per_s"] > 0 for b in c["batch"])
    assert results["candidates"][2]["model"]["format"] == "onnx"
    assert (run_dir / "results.csv").read_text().count("\n") == 4
    # the table names every candidate and where results went
    for name in names:
        assert name in res.output
    assert "results.json" in res.output


def test_bad_candidates_fail_alone(tmp_path, fitted_forest, cancer):
    import joblib

    X, y = cancer
    frame = X.copy()
    frame["target"] = y
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "corrupt.onnx").write_bytes(b"\x00\x01garbage")
    (tmp_path / "model.h5").write_bytes(b"HDF")  # a file of a format no adapter reads
    # a model trained on 5 features, given 30
    from sklearn.linear_model import LogisticRegression

    narrow = LogisticRegression(max_iter=1000).fit(X.iloc[:, :5].to_numpy(), y)
    joblib.dump(narrow, tmp_path / "narrow.joblib")
    suite = write_suite(tmp_path, """
name: bad-inputs
data: {source: data.csv, target: target}
candidates:
  - {name: good, model: 'models_for_tests:Threshold'}
  - {name: unknown-format, model: model.h5}
  - {name: corrupt, model: corrupt.onnx}
  - {name: narrow, model: narrow.joblib}
  - {name: raises, model: 'models_for_tests:raises'}
realtime: {duration_s: 0.2, warmup_count: 2, warmup_s: 0, trials: 2, open_loop: {trials: 2}}
batch: {batch_sizes: [8], duration_s: 0.1, trials: 2}
""")
    res = run_cli("run", str(suite), "--out", str(tmp_path / "out"))
    assert res.exit_code == 3, res.output
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    by_name = {c["name"]: c for c in results["candidates"]}
    assert by_name["good"]["status"] == "ok"
    expected = {
        "unknown-format": "unknown model format",
        "corrupt": "cannot load",
        "narrow": "features",
        "raises": "model exploded on purpose",
    }
    for name, fragment in expected.items():
        c = by_name[name]
        assert c["status"] == "failed", name
        assert fragment in c["error"], (name, c["error"])
        assert "\n" not in c["error"]
        assert f"{name}: " in res.output


def test_a_missing_model_file_stops_the_run_before_measuring(tmp_path):
    suite = write_suite(tmp_path, """
name: x
data: {source: 'sklearn:iris'}
candidates:
  - {name: a, train: sklearn.dummy.DummyClassifier}
  - {name: missing, model: nowhere.onnx}
""")
    res = run_cli("run", str(suite), "--out", str(tmp_path / "out"))
    assert res.exit_code == 2, res.output
    assert "candidates[1] ('missing'): model file not found" in res.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_broken_suite_exits_2_without_traceback(tmp_path):
    suite = write_suite(tmp_path, "name: x\ncandidates:\n  - {name: a, train: x.Y, colour: red}\n")
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown key 'candidates[0].colour'" in res.output
    assert "Traceback" not in res.output


def test_data_errors_exit_2(tmp_path):
    pd.DataFrame({"a": np.arange(10)}).to_csv(tmp_path / "d.csv", index=False)
    suite = write_suite(tmp_path, "name: x\ndata: {source: d.csv, target: y}\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "target column 'y' not found" in res.output


def test_an_out_folder_that_cannot_be_written_exits_2_naming_it(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")  # a file in the path: fails even as root
    suite = write_suite(tmp_path, "name: x\ndata: {source: 'sklearn:iris'}\ncandidates:\n  - {name: a, train: sklearn.dummy.DummyClassifier}\n")
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "a-file" / "runs")])
    assert res.exit_code == 2, res.output
    assert "cannot write results under --out" in res.output and "a-file" in res.output
    assert "Traceback" not in res.output


def test_settings_and_candidates_from_the_command_line(tmp_path):
    """`--set KEY=VALUE` and `--only NAMES` on a real run; a wrong key or name stops it with
    the closest one, exit 2."""
    suite = write_suite(tmp_path, """
name: x
data: {source: 'sklearn:iris'}
candidates:
  - {name: a, train: sklearn.dummy.DummyClassifier}
  - {name: b, train: sklearn.dummy.DummyClassifier}
realtime: {duration_s: 0.2, trials: 3, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.1, trials: 2}
""")
    res = run_cli("run", str(suite), "--out", str(tmp_path / "out"), "--only", "b",
                  "--set", "realtime.trials=2", "--set", "quality.bootstrap.resamples=50")
    assert res.exit_code in (0, 1), res.output
    results = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    (cand,) = results["candidates"]
    assert cand["name"] == "b" and len(cand["realtime"]["closed_loop"]["trials"]) == 2
    bad = run_cli("run", str(suite), "--only", "a,bb", "--out", str(tmp_path / "o2"))
    assert bad.exit_code == 2 and "no candidate 'bb' (did you mean 'b'?)" in bad.output
    bad = run_cli("run", str(suite), "--set", "realtime.trails=2", "--out", str(tmp_path / "o3"))
    assert bad.exit_code == 2 and "unknown key 'realtime.trails' (did you mean 'trials'?)" in bad.output
    bad = run_cli("run", str(suite), "--set", "realtime.trials", "--out", str(tmp_path / "o4"))
    assert bad.exit_code == 2 and "expected KEY=VALUE" in bad.output
