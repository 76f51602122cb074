"""Each candidate's `cost` section (cost_stage.py), the suite's profile/traffic keys, and the
`bench env` / `bench run --profile` commands."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from click.testing import CliRunner
from conftest import write_suite

from benchharness import config
from benchharness.cli import main
from benchharness.cost.hardware import parse_profile
from benchharness.cost.stage import candidate_cost, sustainable_rate, threads_per_replica
from benchharness.errors import SuiteError

PROFILE = parse_profile({"name": "box", "vcpus": 8, "memory_gb": 32, "price_per_hour_usd": 0.36,
                         "source": "test", "as_of": "2026-01-01", "approximate": False})
TRAFFIC = {"peak_rps": 250, "daily_volume": 1_000_000, "batch_rows_per_day": 36_000_000}
RESULT = {
    "batch": [{"batch_size": 1, "rows_per_s": 5_000.0}, {"batch_size": 64, "rows_per_s": 10_000.0}],
    "realtime": {"closed_loop": {"qps": 80.0}, "open_loop": {"max_sustainable_rate_per_s": 40.0}},
    "resources": {"load_time_ms": 7_200.0},
}


def test_candidate_cost_by_hand():
    c = candidate_cost(RESULT, {"intra_op_num_threads": 2}, PROFILE, TRAFFIC)
    assert (c["threads_per_replica"], c["threads_source"], c["replicas_per_instance"]) == (2, "configured", 4)
    # batch: 4 replicas x 10,000 rows/s at 0.36 USD/h -> 0.0025 USD per 1M rows
    assert c["batch"]["batch_size"] == 64
    assert c["batch"]["usd_per_1m"] == pytest.approx(0.0025)
    # 36 M rows/day / 40,000 rows/s = 900 s = 0.25 h -> 0.09 USD/day
    assert c["batch"]["hours_per_day"] == pytest.approx(0.25)
    assert c["batch"]["daily_usd"] == pytest.approx(0.09)
    # real time: 40/s x 4 replicas = 160/s per instance; 250/s -> 2 instances x 0.36 x 730 h
    rt = c["realtime"]
    assert rt["rate_source"] == "open_loop.max_sustainable_rate_per_s"
    assert rt["instances"] == 2
    assert rt["monthly_usd"] == pytest.approx(525.6)
    assert rt["usd_per_1m"] == pytest.approx(525.6 / (1_000_000 * 365 / 12) * 1e6)
    # cold start: 7.2 s of a 0.36 USD/h instance
    assert c["cold_start_usd"] == pytest.approx(0.00072)
    assert "spot_batch_usd_per_1m" not in c


def test_missing_measurements_are_said_not_guessed():
    c = candidate_cost({}, {}, PROFILE, TRAFFIC)
    assert c["batch"] == {"usd_per_1m": None, "reason": "no batch throughput measured"}
    assert c["realtime"] == {"usd_per_1m": None, "reason": "no real-time rate measured"}
    assert c["cold_start_usd"] is None


def test_sustainable_rate_falls_back_to_closed_loop_and_says_so():
    rate, source, warning = sustainable_rate({"realtime": {"closed_loop": {"qps": 80.0}}})
    assert rate == 80.0 and "no open-loop sweep" in source and warning is None
    swept = {"closed_loop": {"qps": 80.0}, "open_loop": {
        "max_sustainable_rate_per_s": None, "rates": [{"target_rate_per_s": 40.0}],
        "late_start_warning": "12% of requests started late"}}
    rate, source, warning = sustainable_rate({"realtime": swept})
    assert rate == 80.0 and "optimistic" in source
    # the late-start warning stays in the open-loop section, not repeated in the cost notes
    assert warning == "no open-loop rate tried kept p99 within the limit"


def test_threads_configured_through_the_suite_are_read_from_the_measurement():
    result = {"realtime": {"closed_loop": {"settings": {"threads": {
        "runtime_options": {"intra_op_num_threads": 3}}}}}}
    assert threads_per_replica(result, {}) == (3, "configured")


@pytest.mark.parametrize("busy, expected", [(190.0, 2), (105.0, 1), (399.0, 4), (20.0, 1)])
def test_threads_per_replica_from_measured_cpu(busy, expected):
    result = {"resources": {"phases": {"closed_loop": {"process_cpu_percent": busy}}}}
    assert threads_per_replica(result, {}) == (expected, "measured_cpu")


def test_threads_per_replica_without_any_figure():
    assert threads_per_replica({}, {}) == (1, "default (not configured, not measured)")


def test_traffic_defaults_and_validation(tmp_path):
    suite = config.parse_suite({"name": "x", "candidates": [{"name": "a", "train": "x.Y"}],
                                "traffic": {"peak_rps": 20}}, tmp_path)
    assert asdict(suite.traffic) == {"peak_rps": 20, "daily_volume": 1_000_000, "batch_rows_per_day": 10_000_000}
    assert suite.profile is None
    with pytest.raises(SuiteError, match=r"'traffic.daily_volume' must be a positive number, got -5"):
        config.parse_suite({"name": "x", "candidates": [{"name": "a", "train": "x.Y"}],
                            "traffic": {"daily_volume": -5}}, tmp_path)
    with_path = config.parse_suite({"name": "x", "candidates": [{"name": "a", "train": "x.Y"}],
                                    "profile": "mine.yaml"}, tmp_path)
    assert with_path.profile == str(tmp_path / "mine.yaml")  # relative to the suite


SUITE = """
name: priced
data: {source: sklearn:breast_cancer}
candidates:
  - {name: rule, model: 'models_for_tests:Threshold'}
realtime: {duration_s: 0.2, warmup_count: 2, warmup_s: 0, trials: 2, open_loop: {trials: 2}}
batch: {batch_sizes: [64], duration_s: 0.1, trials: 2}
traffic: {peak_rps: 500}
"""


def test_run_with_a_profile_prices_every_candidate(tmp_path):
    suite = write_suite(tmp_path, SUITE)
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "o"), "--profile", "aws-c7i-2xlarge"])
    assert res.exit_code == 0, res.output
    results = json.loads(next((tmp_path / "o").iterdir()).joinpath("results.json").read_text())
    assert results["profile"]["name"] == "aws-c7i-2xlarge" and results["profile"]["vcpus"] == 8
    assert results["traffic"]["peak_rps"] == 500
    assert results["traffic"]["defaults_used"] == ["daily_volume", "batch_rows_per_day"]
    (cand,) = results["candidates"]
    cost = cand["cost"]
    assert cost["profile"] == "aws-c7i-2xlarge" and cost["price_per_hour_usd"] == 0.357
    assert cost["batch"]["usd_per_1m"] > 0 and cost["realtime"]["instances"] >= 1
    # resources come from the measuring children's phase hook, through the whole pipeline
    resources = cand["resources"]
    assert resources["footprint_mb"] is not None and resources["load_time_ms"] > 0
    assert resources["peak_rss_mb"] > 10 and resources["cpu_ms_per_prediction"] > 0
    assert {"closed_loop", "batch@64"} <= set(resources["phases"])
    assert resources["phases"]["batch@64"]["cpu_ms_per_prediction"] > 0
    assert resources["load"]["measured_in"] == "closed_loop"
    assert "priced as profile aws-c7i-2xlarge" in res.output
    assert "500 requests/s" in res.output and "(default)" in res.output


def test_unknown_profile_exits_2_before_measuring(tmp_path):
    suite = write_suite(tmp_path, SUITE + "profile: aws-x99\n")
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "unknown profile 'aws-x99'; available:" in res.output
    assert "Traceback" not in res.output


def test_bench_env_shows_machine_and_profile(tmp_path):
    res = CliRunner().invoke(main, ["env"])
    assert res.exit_code == 0, res.output
    assert "machine (detected)" in res.output and "profile  local" in res.output
    res = CliRunner().invoke(main, ["env", "--profile", "aws-g5-xlarge", "--json"])
    data = json.loads(res.output)
    assert data["profile"]["gpu"]["model"] == "NVIDIA A10G"
    assert data["machine"]["logical_cores"] >= 1
    own = tmp_path / "own.yaml"
    own.write_text("name: own\nvcpus: 3\nmemory_gb: 8\nprice_per_hour_usd: 0.1\nsource: me\nas_of: '2026'\n")
    suite = write_suite(tmp_path, SUITE + "profile: own.yaml\n")
    res = CliRunner().invoke(main, ["env", str(suite)])
    assert "profile  own" in res.output and "0.1 USD/hour" in res.output
    res = CliRunner().invoke(main, ["env", "--profile", "nope"])
    assert res.exit_code == 2 and "unknown profile 'nope'" in res.output


def test_terminal_and_report_tables_show_every_figure(monkeypatch):
    from benchharness.report.cost_table import cost_table_text, report_detail, usd

    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough for every column

    assert [usd(v) for v in (None, 0.000157, 0.0709, 65.15, 292.4)] == ["-", "$0.000157", "$0.0709", "$65.15", "$292"]
    cand = {"name": "m", "status": "ok",
            "resources": {"cpu_ms_per_prediction": 0.25, "footprint_mb": 12.5, "peak_rss_mb": 180.0,
                          "load_time_ms": 40.0, "gpu_available": True, "gpu_energy_per_prediction_j": 0.0005,
                          "phases": {"closed_loop": {"process_cpu_percent": 99.0, "gpu": {
                              "available": True, "devices": [{"utilisation_mean_percent": 44.1}]}}}},
            "cost": candidate_cost(RESULT, {"intra_op_num_threads": 2}, PROFILE, TRAFFIC)}
    results = {"candidates": [cand], "traffic": {**TRAFFIC, "defaults_used": ["daily_volume"]},
               "profile": {"name": "box", "price_per_hour_usd": 0.36, "approximate": False, "vcpus": 8,
                           "source": "test", "as_of": "2026-01-01", "mismatch": ["measured on 2 usable cores"]}}
    text = cost_table_text(results)
    assert "0.25" in text and "12.5" in text and "180" in text and "$526" in text
    assert "$/1B" in text and "$2.50" in text  # $0.0025 per 1M: read per 1B
    assert "priced as profile box: 0.36 USD/hour, 8 vCPUs" in text
    assert "1,000,000 predictions/day (default)" in text and "note: measured on 2 usable cores" in text
    header, rows, caption = report_detail(results)
    row = dict(zip(header, rows[0], strict=True))
    assert row["threads / replica"] == "2 (configured)" and row["real-time instances"] == "2"
    assert row["GPU utilisation"] == "44.1%" and row["cold start"] == "$720 per 1M starts"
    assert "priced as profile box" in caption and "\n" not in caption


def test_threads_per_replica_ignores_tick_noise_open_loop_spin_and_respects_pinning():
    # figures from a real run of a one-thread scikit-learn model pinned to CPU 1: the 31 ms
    # predict phase read 127% busy (3 clock ticks), which priced it as needing two cores
    phases = {
        "predict": {"wall_s": 0.031491, "process_cpu_percent": 127.0},
        "closed_loop": {"wall_s": 0.682586, "process_cpu_percent": 99.6},
        "open_loop@1774.67": {"wall_s": 0.36, "process_cpu_percent": 390.0},  # 4 spinning workers
        "batch@256": {"wall_s": 0.407394, "process_cpu_percent": 100.6},
    }
    assert threads_per_replica({"resources": {"phases": phases}}, {}) == (1, "measured_cpu")
    # a model that kept two cores busy, but was measured pinned to one CPU, needs one
    phases["closed_loop"]["process_cpu_percent"] = 195.0
    pinned = {"resources": {"phases": phases},
              "realtime": {"closed_loop": {"settings": {"threads": {"affinity": [1]}}}}}
    assert threads_per_replica(pinned, {}) == (1, "measured_cpu")
    assert threads_per_replica({"resources": {"phases": phases}}, {}) == (2, "measured_cpu")


def test_a_model_that_ran_on_the_gpu_is_one_replica_per_gpu_not_per_vcpu():
    # 8 vCPUs and one GPU: the GPU's 10,000 rows/s is the instance's, not 8 x 10,000
    gpu_box = parse_profile({"name": "gpu", "vcpus": 8, "memory_gb": 32, "price_per_hour_usd": 1.0,
                             "source": "t", "as_of": "2026-01", "gpu": {"model": "NVIDIA L4", "count": 1}})
    on_gpu = {**RESULT, "model": {"details": {"provider": "CUDAExecutionProvider"}}}
    c = candidate_cost(on_gpu, {"intra_op_num_threads": 1}, gpu_box, TRAFFIC)
    assert c["replicas_per_instance"] == 1
    assert c["threads_source"] == "gpu (CUDAExecutionProvider): one replica per GPU"
    assert c["batch"]["usd_per_1m"] == pytest.approx(1.0 / (10_000 * 3600) * 1e6)
    # the same model fallen back to the CPU is priced per vCPU, as measured
    on_cpu = {**RESULT, "model": {"details": {"provider": "CPUExecutionProvider"}}}
    assert candidate_cost(on_cpu, {"intra_op_num_threads": 1}, gpu_box, TRAFFIC)[
        "replicas_per_instance"] == 8


@pytest.mark.parametrize("details", [
    {"provider": "MIGraphXExecutionProvider"}, {"provider": "DmlExecutionProvider"},
    {"provider": "OpenVINOExecutionProvider"}, {"device": "cuda:0"},
])
def test_every_accelerator_the_resources_stage_counts_is_priced_as_a_gpu_model(details):
    # one answer to "did this run on a GPU": the cost stage and the resources stage agree
    from benchharness.adapters.registry import ran_on_accelerator

    gpu_box = parse_profile({"name": "gpu", "vcpus": 8, "memory_gb": 32, "price_per_hour_usd": 1.0,
                             "source": "t", "as_of": "2026-01", "gpu": {"model": "NVIDIA L4", "count": 2}})
    on_gpu = {**RESULT, "model": {"details": details}}
    assert ran_on_accelerator(on_gpu)
    c = candidate_cost(on_gpu, {"intra_op_num_threads": 1}, gpu_box, TRAFFIC)
    assert c["replicas_per_instance"] == 2
    assert c["threads_source"].startswith("gpu (")
