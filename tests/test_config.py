from dataclasses import asdict

import pytest

from benchharness.config import QUICK, load_suite, parse_suite
from benchharness.errors import SuiteError

MINIMAL = {"name": "s", "data": {"source": "sklearn:iris"}, "candidates": [{"name": "a", "train": "sklearn.dummy.DummyClassifier"}]}


def parse(raw, tmp_path):
    return parse_suite(raw, tmp_path)


def test_defaults_are_filled(tmp_path):
    suite = parse(MINIMAL, tmp_path)
    assert suite.data.split.test_size == 0.25
    assert suite.batch.batch_sizes == [1, 64, 1024]
    assert suite.candidates[0].params == {}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"nmae": "x"}, "unknown key 'nmae' (did you mean 'name'?); allowed: name"),
        ({"batch": {"batch_sizes": [0, 64]}}, "'batch.batch_sizes' must be a non-empty list of positive integers, got [0, 64]"),
        ({"batch": {"batch_sizes": [1, 100000000]}}, "'batch.batch_sizes' must be a list of positive integers up to 1,000,000 rows per call, got [1, 100000000]"),
        ({"batch": {"batch_size": [1]}}, "unknown key 'batch.batch_size' (did you mean 'batch_sizes'?)"),
        ({"realtime": {"zzz": 1}}, "unknown key 'realtime.zzz'; allowed: duration_s"),
        ({"realtime": {"duration_s": "long"}}, "'realtime.duration_s' must be an integer or a number, got 'long'"),
        ({"data": {"source": "sklearn:iris", "split": {"test_size": 1.5}}}, "'data.split.test_size' must be a number between 0 and 1"),
        ({"candidates": [{"name": "a"}]}, "must have exactly one of 'model' or 'train'"),
        ({"candidates": [{"train": "x.Y"}]}, "missing required key 'candidates[0].name'"),
        ({"candidates": []}, "at least one candidate"),
        ({"candidates": [{"name": "a", "model": "m.onnx", "export": "onnx"}]}, "'export' needs 'train'"),
        ({"candidates": [{"name": "a", "train": "x.Y", "export": "tflite"}]}, "must be one of onnx, got 'tflite'"),
    ],
)
def test_errors_name_key_value_and_allowed(tmp_path, change, message):
    raw = {**MINIMAL, **change}
    with pytest.raises(SuiteError) as err:
        parse(raw, tmp_path)
    assert message in str(err.value)


def test_duplicate_names_rejected(tmp_path):
    raw = {**MINIMAL, "candidates": [{"name": "a", "train": "x.Y"}, {"name": "a", "train": "x.Z"}]}
    with pytest.raises(SuiteError, match=r"unique, got \['a'\]"):
        parse(raw, tmp_path)


def test_paths_are_relative_to_the_suite_file(tmp_path):
    (tmp_path / "sub").mkdir()
    suite_file = tmp_path / "sub" / "s.yaml"
    suite_file.write_text(
        "name: s\ndata: {source: data.csv}\ncandidates:\n  - {name: m, model: models/m.onnx}\n"
        "  - {name: c, model: 'models_for_tests:always_one'}\n"
    )
    suite = load_suite(suite_file)
    assert suite.data.source == str((tmp_path / "sub" / "data.csv").resolve())
    assert suite.candidates[0].model == str((tmp_path / "sub" / "models" / "m.onnx").resolve())
    assert suite.candidates[1].model == "models_for_tests:always_one"


def test_yaml_syntax_error_names_the_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: s\ncandidates: [\n  {name: a\n")
    with pytest.raises(SuiteError, match="not valid YAML at line"):
        load_suite(f)


def test_quick_shortens_windows(tmp_path):
    assert parse_suite(MINIMAL, tmp_path, quick=True).realtime.duration_s < 5


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")


def test_quick_never_lengthens_and_keeps_the_suites_batch_sizes(tmp_path):
    raw = {**MINIMAL, "realtime": {"duration_s": 0.25, "warmup_count": 50, "open_loop": {"fractions": [0.1, 0.2, 0.4, 0.8]}},
           "batch": {"batch_sizes": [1, 64, 1024], "duration_s": 2.0}}
    quick = parse_suite(raw, tmp_path, quick=True)
    assert quick.realtime.duration_s == 0.25  # already shorter than --quick's
    assert quick.realtime.open_loop.fractions == QUICK["realtime"]["open_loop"]["fractions"]  # fewer rates
    assert quick.realtime.warmup_count == 10  # --quick's lighter warm-up
    assert asdict(quick.batch) == {**asdict(quick.batch), "batch_sizes": [1, 64, 1024], "duration_s": 0.3}
    assert quick.quality.bootstrap.resamples == 200
    default = parse_suite(MINIMAL, tmp_path, quick=True)  # no batch section: --quick's small sweep
    assert default.batch.batch_sizes == [1, 256]
    with pytest.raises(SuiteError, match="realtime.duration_s"):  # a wrong type is still named
        parse_suite({**MINIMAL, "realtime": {"duration_s": "fast"}}, tmp_path, quick=True)


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="Linux affinity API")
def test_affinity_outside_this_machine_is_a_suite_error(tmp_path):
    import os

    have = sorted(os.sched_getaffinity(0))
    missing = max(have) + 1
    with pytest.raises(SuiteError, match=rf"'threads.affinity' must be CPUs this process may use: "
                                         rf"\[.*\], got \[{missing}\]"):
        parse_suite({**MINIMAL, "threads": {"affinity": [missing]}}, tmp_path)
    assert parse_suite({**MINIMAL, "threads": {"affinity": have[:1]}}, tmp_path).threads.affinity == have[:1]


def test_callable_module_beside_the_suite_imports_without_pythonpath(tmp_path):
    from benchharness.adapters.registry import load_model

    (tmp_path / "my_team_model.py").write_text("def predict(X):\n    return [7] * len(X)\n")
    suite_file = tmp_path / "s.yaml"
    suite_file.write_text("name: s\ncandidates:\n  - {name: m, model: 'my_team_model:predict'}\n")
    cand = load_suite(suite_file).candidates[0]
    assert cand.options["sys_path"] == [str(tmp_path.resolve())]
    assert list(load_model(cand.model, cand.options).predict([[0.0], [1.0]])) == [7, 7]


# -- mistakes found before anything is measured: one line, the closest name, exit 2 ----------
def _quickstart_with(tmp_path, change):
    import copy

    import yaml

    from benchharness.config import default_suite_path

    suite = copy.deepcopy(yaml.safe_load(default_suite_path().read_text()))
    change(suite)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _set_model(path):
    def change(suite):
        cand = suite["candidates"][2]
        for key in ("train", "export", "params"):
            cand.pop(key, None)
        cand["model"] = path
    return change


@pytest.mark.parametrize("change, message", [
    (lambda s: s["candidates"][2].update(train="sklearn.linear_model.LogistcRegression"),
     "candidates[2] ('forest-onnx'): train: sklearn.linear_model has no class LogistcRegression "
     "(did you mean LogisticRegression?)"),
    (lambda s: s["candidates"][1].update(train="sklearn.linear_modle.LogisticRegression"),
     "(did you mean sklearn.linear_model?)"),
    (_set_model("models/forst.onnx"), "model file not found: "),
    (_set_model("no_such_module_here:model"), "no module 'no_such_module_here' to import"),
    (lambda s: s["data"].update(target="targte"), "target column 'targte' not found in sklearn:breast_cancer "
                                                  "(did you mean 'target'?)"),
    (lambda s: s.update(objective=["max acuracy"]), "unknown name 'acuracy' (did you mean accuracy?)"),
])
def test_a_mistake_stops_the_run_before_measuring(tmp_path, change, message):
    from click.testing import CliRunner

    from benchharness.cli import main

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "forest.onnx").write_bytes(b"")
    suite = _quickstart_with(tmp_path, change)
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(suite), "--quick", "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "measuring" not in result.output and "closed loop" not in result.output
    if "forst" in message or "forst" in str(suite.read_text()):
        assert "(did you mean forest.onnx?)" in errors[0]
