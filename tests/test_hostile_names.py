"""Candidate names that a file system would fold into one file get one file each."""

import json

import pytest
from click.testing import CliRunner
from conftest import write_suite

from benchharness.cli import main
from benchharness.run_folder import safe_name


def test_names_that_fold_together_get_their_own_file_names():
    groups = [("m/1", "m_1"), ("Модель", "模型"), (".", ".."), ("Model", "model"), ("a b", "a_b")]
    for group in groups:
        names = {safe_name(n) for n in group}
        assert len(names) == len(group), group
        # case-insensitive disks (macOS, Windows) too
        assert len({n.lower() for n in names}) == len(group), group
    for name in ("m/1", "Модель", ".", "..", "a b"):
        assert all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in safe_name(name))
    assert safe_name("logreg") == "logreg"  # plain names stay readable


@pytest.mark.slow
def test_colliding_names_are_measured_as_their_own_models(tmp_path):
    suite = write_suite(tmp_path, """
name: names
data: {source: 'sklearn:breast_cancer'}
candidates:
  - {name: m/1, train: sklearn.dummy.DummyClassifier}
  - {name: m_1, train: sklearn.naive_bayes.GaussianNB}
  - {name: '.', train: sklearn.dummy.DummyClassifier}
  - {name: '..', train: sklearn.tree.DecisionTreeClassifier, params: {random_state: 0}}
limits: ['accuracy >= 0.8']
realtime: {duration_s: 0.1, warmup_count: 2, warmup_s: 0, trials: 2, open_loop: {enabled: false}}
batch: {batch_sizes: [8], duration_s: 0.1, trials: 2}
""")
    res = CliRunner().invoke(main, ["run", str(suite), "--quick", "--out", str(tmp_path / "out")])
    run_dir = next((tmp_path / "out").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    by_name = {c["name"]: c for c in results["candidates"]}
    assert len({c["model"]["path"] for c in by_name.values()}) == 4
    acc = {n: c["quality"]["test"]["accuracy"] for n, c in by_name.items()}
    assert acc["m/1"] < 0.8 < acc["m_1"], acc  # the dummy is not measured as the logistic model
    assert acc["."] < 0.8 < acc[".."], acc
    status = {r["name"]: r["status"] for r in results["verdict"]["candidates"]}
    assert status["m/1"] == status["."] == "blocked", res.output
