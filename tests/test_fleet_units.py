"""Fleet parts that need no cluster: the suite bundle, the verdict over (candidate, target)
pairs, what-if pricing and the commands' bad-input answers."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sample_run import sample_results

from benchharness import config, exit_codes
from benchharness.cli import main
from benchharness.cost.hardware import load_profile
from benchharness.cost.whatif import profile_architecture, whatif
from benchharness.errors import SuiteError, UserError
from benchharness.fleet.bundle import pack_suite, pack_tree, unpack_suite, unpack_tree
from benchharness.fleet.submit import parse_targets
from benchharness.fleet.verdict import fleet_verdict

SUITE = """
name: shipped
data: {source: data/cancer.csv, target: target}
candidates:
  - {name: onnx, model: models/forest.onnx}
  - {name: rule, model: "threshold_rule:Rule"}
  - {name: fresh, train: sklearn.linear_model.LogisticRegression}
profile: aws-c7i-large
"""


def _suite_dir(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir(parents=True)
    (tmp_path / "data" / "cancer.csv").write_text("a,target\n1,0\n2,1\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "forest.onnx").write_bytes(b"\x08\x07onnx-bytes")
    (tmp_path / "threshold_rule.py").write_text("class Rule:\n    def predict(self, X):\n        return X[:, 0] > 1\n")
    (tmp_path / "suite.yaml").write_text(SUITE)
    return tmp_path / "suite.yaml"


def test_a_suite_travels_with_its_files_and_is_re_rooted(tmp_path):
    bundle = pack_suite(_suite_dir(tmp_path / "here"))
    assert sorted(bundle["files"]) == ["files/0/cancer.csv", "files/1/forest.onnx", "threshold_rule.py"]
    assert bundle["files"]["files/1/forest.onnx"] == b"\x08\x07onnx-bytes"
    suite_path = unpack_suite(bundle, tmp_path / "there")
    suite = config.load_suite(suite_path)
    there = (tmp_path / "there").resolve()
    assert suite.data.source == str(there / "files/0/cancer.csv")
    by_name = {c.name: c for c in suite.candidates}
    assert by_name["onnx"].model == str(there / "files/1/forest.onnx")
    assert by_name["rule"].options["sys_path"] == [str(there)]  # the module imports from there
    assert (there / "threshold_rule.py").is_file()
    assert suite.profile is None  # each target prices with its own profile


def test_a_damaged_or_escaping_bundle_is_refused(tmp_path):
    bundle = pack_suite(_suite_dir(tmp_path / "here"))
    damaged = copy.deepcopy(bundle)
    damaged["files"]["threshold_rule.py"] = b"import os; os.system('boom')"
    with pytest.raises(SuiteError, match="arrived damaged"):
        unpack_suite(damaged, tmp_path / "x")
    with pytest.raises(SuiteError, match="outside its folder"):
        unpack_tree({"../../evil.txt": b"x"}, tmp_path / "y")
    escaping = copy.deepcopy(bundle)
    escaping["files"] = {"/etc/evil": b"x"}
    escaping["sha256"] = {"/etc/evil": hashlib.sha256(b"x").hexdigest()}
    with pytest.raises(SuiteError, match="outside its folder"):
        unpack_suite(escaping, tmp_path / "z")


def test_a_missing_file_is_named_before_anything_travels(tmp_path):
    suite = _suite_dir(tmp_path)
    (tmp_path / "models" / "forest.onnx").unlink()
    with pytest.raises(UserError, match="forest.onnx"):
        pack_suite(suite)


def test_a_run_folder_comes_back_without_its_work_inputs(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "train.parquet").write_bytes(b"big")
    (tmp_path / "samples" / "a").mkdir(parents=True)
    (tmp_path / "samples" / "a" / "closed_loop.npz").write_bytes(b"npz")
    (tmp_path / "results.json").write_text("{}")
    assert sorted(pack_tree(tmp_path)) == ["results.json", "samples/a/closed_loop.npz"]


def test_targets_are_parsed_with_one_line_errors():
    assert parse_targets(" a, b ,c") == ["a", "b", "c"]
    with pytest.raises(UserError, match="at least one"):
        parse_targets(" , ")
    with pytest.raises(UserError, match="'a' twice"):
        parse_targets("a,b,a")


# -- the verdict over (candidate, target) pairs -------------------------------------------------
def _run_on(target: str, price: float, p99_scale: float = 1.0, blocked: tuple = ()) -> dict:
    """sample_results as if measured on `target`: costs scaled by its price."""
    r = sample_results()
    for c in r["candidates"]:
        if c.get("status") == "ok":
            c["cost"]["batch"]["usd_per_1m"] *= price
            c["cost"]["realtime"]["usd_per_1m"] *= price
            c["realtime"]["closed_loop"]["p99_ms"] *= p99_scale
    rows = [{"name": c["name"], "status": ("crashed" if c["status"] != "ok" else
                                           "blocked" if c["name"] in blocked else "qualifies"),
             "blocking": ["p99_ms < 1: missed"] if c["name"] in blocked else []} for c in r["candidates"]]
    r["verdict"] = {"candidates": rows, "inputs": {"objective": ["min usd_per_million"]}, "exit_code": 0}
    return r


def test_the_cheapest_qualifying_pair_is_recommended_with_runners_up():
    # batch $/1M: forest 0.40, logreg 0.02, boosted 1.90 (x price); logreg blocked on "fast"
    runs = {"cheap": _run_on("cheap", 1.0, p99_scale=3.0, blocked=("logreg",)),
            "fast": _run_on("fast", 2.0, p99_scale=1.0)}
    v = fleet_verdict(runs, [])
    # qualifying: forest/boosted on cheap (0.40, 1.90), all three on fast (0.80, 0.04, 3.80)
    assert v["recommendation"]["candidate"] == "logreg" and v["recommendation"]["target"] == "fast"
    assert [(p["candidate"], p["target"]) for p in v["ranking"]] == [
        ("logreg", "fast"), ("forest", "cheap"), ("forest", "fast"), ("boosted", "cheap"), ("boosted", "fast")]
    assert v["recommendation"]["sentence"].startswith("Ship logreg on fast, because")
    assert "Runners-up: forest on cheap" in v["recommendation"]["sentence"]
    # Pareto over accuracy (higher), p99 and cost (lower): on each machine one candidate is
    # faster and dearer than the same on the other, and no candidate beats another on all
    # three axes (sample_results' accuracies 0.965/0.955/0.97 order opposite to their costs)
    assert len(v["pareto_front"]) == 6 and all(p["on_pareto_front"] for p in v["pairs"])
    assert v["exit_code"] == exit_codes.CANDIDATE_FAILED  # sample_results has a crashed candidate


def test_exit_codes_of_a_fleet():
    ok = _run_on("a", 1.0)
    ok["candidates"] = [c for c in ok["candidates"] if c["status"] == "ok"]
    ok["verdict"]["candidates"] = [r for r in ok["verdict"]["candidates"] if r["status"] != "crashed"]
    assert fleet_verdict({"a": ok}, [])["exit_code"] == exit_codes.OK
    assert fleet_verdict({"a": ok}, ["b (failed)"])["exit_code"] == exit_codes.CANDIDATE_FAILED
    assert "Not measured: b (failed)." in fleet_verdict({"a": ok}, ["b (failed)"])["recommendation"]["sentence"]
    for r in ok["verdict"]["candidates"]:
        r["status"], r["blocking"] = "blocked", ["accuracy >= 0.99: missed"]
    none = fleet_verdict({"a": ok}, [])
    assert none["exit_code"] == exit_codes.NO and none["recommendation"]["candidate"] is None
    assert none["recommendation"]["sentence"].startswith("No (candidate, machine) pair qualifies")


def test_pareto_front_over_pairs_is_the_hand_computed_one():
    def one(target, acc, p99, usd):
        r = sample_results()
        c = r["candidates"][0]
        c["quality"]["test"]["accuracy"], c["realtime"]["closed_loop"]["p99_ms"] = acc, p99
        c["cost"]["batch"]["usd_per_1m"] = c["cost"]["realtime"]["usd_per_1m"] = usd
        r["candidates"] = [c]
        r["verdict"] = {"candidates": [{"name": c["name"], "status": "qualifies"}],
                        "inputs": {"objective": None}, "exit_code": 0}
        return r
    # x dominates nothing it ties; y is worse than x on every axis; z is cheapest
    v = fleet_verdict({"x": one("x", 0.95, 1.0, 0.5), "y": one("y", 0.94, 2.0, 0.6),
                       "z": one("z", 0.95, 3.0, 0.1)}, [])
    assert {p["target"] for p in v["pareto_front"]} == {"x", "z"}
    # default objective: best accuracy (x and z tie), then min usd_per_million -> z
    assert v["recommendation"]["target"] == "z"


# -- what-if pricing ---------------------------------------------------------------------------
def _measured(arch="x86_64", provider=None, gpu_name=None):
    r = sample_results()
    r["candidates"] = [c for c in r["candidates"] if c["status"] == "ok"]
    r["profile"] = {"name": "local", "machine": {
        "architecture": arch, "cpu_model": "test cpu", "usable_cores": 2,
        "gpu": {"available": bool(gpu_name), "devices": [{"name": gpu_name}] if gpu_name else []}}}
    r["traffic"] = {"peak_rps": 100, "daily_volume": 1_000_000, "batch_rows_per_day": 10_000_000}
    if provider:
        r["candidates"][0]["model"]["details"] = {"provider": provider}
    return r


def test_whatif_carries_throughput_over_and_prices_on_the_other_profile():
    profile = load_profile("aws-c7i-2xlarge")  # 8 vCPUs
    doc = whatif(_measured(), "aws-c7i-2xlarge")
    assert doc["estimate"] is True and doc["notes"][0].startswith("ESTIMATE")
    logreg = doc["candidates"]["logreg"]
    best_rows = 900_000 * 1024 / (1024 + 8)  # sample_run's best batch size (1024)
    replicas = 8  # one thread per replica (no phases measured): 8 vCPUs // 1
    assert logreg["replicas_per_instance"] == replicas
    expected = profile.price_per_hour_usd / (best_rows * replicas * 3600) * 1e6
    assert logreg["batch"]["usd_per_1m"] == pytest.approx(expected, rel=1e-9)


def test_whatif_refuses_another_architecture_and_a_gpu_it_cannot_carry(tmp_path):
    arm = tmp_path / "arm.yaml"
    arm.write_text('name: arm\nvcpus: 2\nmemory_gb: 4\nprice_per_hour_usd: 0.07\ncpu: AWS Graviton3\n'
                   'source: test\nas_of: "2024-06"\n')
    assert profile_architecture(load_profile(str(arm))) == "aarch64"
    with pytest.raises(UserError, match="measured on x86_64, the profile is aarch64"):
        whatif(_measured(), str(arm))
    doc = whatif(_measured(provider="CUDAExecutionProvider", gpu_name="NVIDIA A10G"), "aws-c7i-large")
    assert "refused" in doc["candidates"]["forest"] and "batch" in doc["candidates"]["logreg"]
    same_gpu = whatif(_measured(provider="CUDAExecutionProvider", gpu_name="NVIDIA A10G"), "aws-g5-xlarge")
    assert "batch" in same_gpu["candidates"]["forest"]  # the same GPU model: carried over


def test_bench_report_profile_writes_an_estimate_and_leaves_results_alone(tmp_path):
    import json

    from sample_run import write_run

    run = write_run(tmp_path / "run", _measured())
    before = (run / "results.json").read_text()
    res = CliRunner().invoke(main, ["report", str(run), "--profile", "aws-m7i-xlarge"])
    assert res.exit_code == 0, res.output
    assert "what-if: priced on aws-m7i-xlarge (est.)" in res.output and "ESTIMATE" in res.output
    assert json.loads((run / "whatif-aws-m7i-xlarge.json").read_text())["estimate"] is True
    assert (run / "results.json").read_text() == before
    bad = CliRunner().invoke(main, ["report", str(run), "--profile", "no-such-profile"])
    assert bad.exit_code == exit_codes.USAGE and "unknown profile 'no-such-profile'" in bad.output


def test_bench_worker_refuses_an_unknown_profile_before_joining():
    res = CliRunner().invoke(main, ["worker", "--scheduler", "tcp://127.0.0.1:1", "--profile", "nope"])
    assert res.exit_code == exit_codes.USAGE
    assert res.output.strip().startswith("error: unknown profile 'nope'")
