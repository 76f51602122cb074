"""Shared fixtures: small real datasets and models trained in the test."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# a user's `bench calibrate` result would replace the priors the tests assert: every test
# (and every child process it starts) reads its own, empty calibration file
os.environ["BENCH_CALIBRATION"] = str(Path(tempfile.mkdtemp(prefix="bench-tests-")) / "calibration.json")

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # so `module:attr` test models import in child processes too
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(scope="session")
def cancer():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True, as_frame=True)


@pytest.fixture(scope="session")
def fitted_forest(cancer):
    from sklearn.ensemble import RandomForestClassifier

    X, y = cancer
    return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(X.to_numpy(), y)


def write_suite(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def forest_onnx(tmp_path_factory, fitted_forest, cancer):
    """`fitted_forest` exported to ONNX and loaded (one intra-op thread)."""
    from benchharness.adapters.registry import load_model
    from benchharness.train.training import export_onnx

    X, _ = cancer
    path = tmp_path_factory.mktemp("onnx") / "forest.onnx"
    export_onnx(fitted_forest, X.shape[1], path)
    return load_model(str(path), {"intra_op_num_threads": 1})


@pytest.fixture(autouse=True)
def _no_pickle_switch_ends_with_the_test():
    """`bench --no-pickle` sets BENCH_NO_PICKLE in its own process for its children; under
    click's CliRunner that process is the test run, so the switch must not outlive the test."""
    import os

    before = os.environ.get("BENCH_NO_PICKLE")
    yield
    if before is None:
        os.environ.pop("BENCH_NO_PICKLE", None)
    else:
        os.environ["BENCH_NO_PICKLE"] = before
