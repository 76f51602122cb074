"""The performance stages end to end through run_suite: real child processes, real models."""

import json
import re

import numpy as np
import pytest
from conftest import write_suite
from measure_models import write_image_model

import benchharness.measure.stages as stages
from benchharness.api import run_suite

CLOSED_KEYS = {"count", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
               "p999_ms", "max_ms", "qps", "intervals", "trials", "stability"}

SHORT = """
realtime:
  duration_s: 0.3
  min_duration_s: 0.1
  warmup_count: 5
  warmup_s: 0
  timeout_s: 4
  trials: 2
  open_loop: {duration_s: 0.2, min_count: 20, fractions: [0.3, 0.6], refine_steps: 0, p99_limit_ms: 50,
              trials: 2}
batch: {batch_sizes: [1, 16], duration_s: 0.1, min_duration_s: 0.05, timeout_s: 10, trials: 2}
"""


def _run(tmp_path, text):
    ctx = run_suite(write_suite(tmp_path, text), out_dir=tmp_path / "out", progress=lambda m: None)
    saved = json.loads((ctx.run_dir / "results.json").read_text())
    return ctx, {c["name"]: c for c in saved["candidates"]}, saved


def test_crash_hang_and_errors_are_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(stages, "PHASE_HOOKS", ["measure_models:phase_timer"])
    ctx, by_name, saved = _run(tmp_path, """
name: misbehaving
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: steady, model: 'measure_models:FixedService', options: {kwargs: {ms: 0.2}}}
  - {name: segv, model: 'measure_models:SegfaultAfter', options: {kwargs: {calls: 40}}}
  - {name: hang, model: 'measure_models:HangAfter', options: {kwargs: {calls: 40}}}
  - {name: flaky, model: 'measure_models:Flaky', options: {kwargs: {every: 7}}}
""" + SHORT)
    assert saved["finished_at"] is not None

    segv = by_name["segv"]
    assert segv["status"] == "failed"
    # trials run in a seeded shuffled order: whichever measurement met the crash first says so
    assert re.fullmatch(r"(closed_loop|batch): \1 child crashed: killed by SIGSEGV", segv["error"])
    assert segv["child_failures"][0]["signal"] == "SIGSEGV"
    assert segv["quality"]["test"]  # what was measured before the crash is kept

    hang = by_name["hang"]
    assert hang["status"] == "failed"
    assert re.search(r"timed out after (4|10) s", hang["error"])  # closed loop 4 s, batch 10 s
    assert hang["child_failures"][0]["status"] == "timeout"

    flaky = by_name["flaky"]["realtime"]["closed_loop"]
    assert by_name["flaky"]["status"] == "ok"
    assert flaky["error_rate"] == pytest.approx(1 / 7, abs=0.02)
    assert flaky["first_error"].startswith("ValueError: bad request number")
    assert all(0 < b["error_rate"] < 0.3 for b in by_name["flaky"]["batch"])
    # the open loop may fail as often as the model does unloaded, plus one point
    assert by_name["flaky"]["realtime"]["open_loop"]["error_rate_limit"] == pytest.approx(
        flaky["error_rate"] + 0.01)
    assert by_name["flaky"]["batch_full_split"]["error_count"] <= 1  # at most one call in 7 fails

    steady = by_name["steady"]
    closed = steady["realtime"]["closed_loop"]
    assert set(closed) >= CLOSED_KEYS
    assert closed["min_ms"] >= 0.2 and closed["p50_ms"] <= closed["p99_ms"] <= closed["max_ms"]
    raw = np.load(ctx.run_dir / closed["samples_file"])["latency_ns"]
    assert len(raw) == closed["count"]
    assert closed["settings"]["threads"]["affinity"]
    assert closed["settings"]["timer"]["resolution_ns"] > 0
    assert closed["phases"]["closed_loop"]["measure_models:phase_timer"]["seconds"] > 0.05

    open_loop = steady["realtime"]["open_loop"]
    assert open_loop["p99_limit_ms"] == 50
    assert [round(r["target_rate_per_s"] / closed["qps"], 2) for r in open_loop["rates"]] == [0.3, 0.6]
    assert open_loop["max_sustainable_rate_per_s"] in [r["target_rate_per_s"] for r in open_loop["rates"]] + [None]
    arrays = np.load(ctx.run_dir / open_loop["samples_file"])
    assert len(arrays["end_ns"]) == sum(r["count"] + r["error_count"] for r in open_loop["rates"])

    assert [b["batch_size"] for b in steady["batch"]] == [1, 16]
    assert all(b["rows_per_s"] > 0 and "p99_ms" in b for b in steady["batch"])
    assert steady["batch_full_split_s"] > 0
    assert steady["batch_full_split"]["rows"] == saved["data"]["split"]["rows"]["test"]


def test_perf_only_onnx_model_on_generated_inputs_in_spawned_children(tmp_path):
    write_image_model(tmp_path / "image.onnx")
    ctx, by_name, _ = _run(tmp_path, """
name: perf-only
candidates:
  - {name: image, model: image.onnx}
threads: {intra_op: 1, affinity: [0]}
isolation: {start_method: spawn}
""" + SHORT.replace("timeout_s: 4", "timeout_s: 60"))
    c = by_name["image"]
    assert c["status"] == "ok", c["error"]
    assert c["perf_only"] is True
    assert c["signature"]["inputs"][0]["shape"] == [None, 3, 8, 8]
    closed = c["realtime"]["closed_loop"]
    assert closed["count"] > 10
    threads = closed["settings"]["threads"]
    assert threads["affinity"] == [0]
    assert threads["runtime_options"] == {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
    assert [b["batch_size"] for b in c["batch"]] == [1, 16]
    assert c["batch_full_split"]["rows"] == 1024  # realtime.synthetic_rows


def test_affinity_outside_the_machine_is_a_suite_error_before_anything_runs(tmp_path):
    from benchharness.errors import SuiteError

    with pytest.raises(SuiteError, match=r"'threads.affinity' must be CPUs this process may use: .*got \[4096\]"):
        _run(tmp_path, """
name: bad-affinity
data: {source: 'sklearn:breast_cancer', target: target}
candidates:
  - {name: steady, model: 'measure_models:FixedService'}
threads: {affinity: [4096]}
""" + SHORT)
    assert not (tmp_path / "out").exists()  # nothing measured, no run folder


def test_a_provider_fallback_is_said_on_the_terminal(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here: no fallback to see")
    write_image_model(tmp_path / "image.onnx")
    lines: list[str] = []
    ctx = run_suite(write_suite(tmp_path, """
name: fallback
candidates:
  - {name: image, model: image.onnx, options: {providers: [CUDAExecutionProvider]}}
realtime: {open_loop: {enabled: false}}
batch: {batch_sizes: [1]}
"""), out_dir=tmp_path / "out", quick=True, progress=lines.append)
    details = ctx.candidates[0].result["model"]["details"]
    assert details["provider"] == "CPUExecutionProvider" and details["fallback"]
    assert f"[image] warning: {details['fallback']}" in lines
