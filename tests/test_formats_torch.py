"""PyTorch on CPU: TorchScript archives and torch.export programs (few tests: torch is slow to import)."""

from __future__ import annotations

import numpy as np
import pytest

from benchharness.adapters.registry import load_model
from benchharness.errors import ModelError

torch = pytest.importorskip("torch")
# writing TorchScript files (deprecated upstream, still what many teams have) warns
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("torch")
    clf = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    reg = torch.nn.Sequential(torch.nn.Linear(4, 1)).eval()
    example = torch.randn(5, 4)
    torch.jit.save(torch.jit.script(clf), str(root / "clf.pt"))
    torch.jit.save(torch.jit.script(reg), str(root / "reg.pt"))
    program = torch.export.export(clf, (example,), dynamic_shapes={"input": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(root / "clf.pt2"))
    return root, clf, reg


@pytest.mark.parametrize("name", ["clf.pt", "clf.pt2"])
def test_classifier_logits_become_probabilities_and_labels(torch_files, name):
    root, clf, _ = torch_files
    X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(clf(torch.from_numpy(X)), dim=1).numpy()
    model = load_model(str(root / name), {"classes": ["a", "b", "c"], "threads": 1})
    native = model.prepare(X)
    np.testing.assert_allclose(model.predict_proba(native), expected, atol=1e-6)
    np.testing.assert_array_equal(model.predict(native), np.array(["a", "b", "c"])[expected.argmax(1)])
    assert model.signature.n_features == 4 and model.info.details["task"] == "classification"
    out = model.predict_fn()(model.take(native, 0, 1))  # the timed call: the module itself
    assert tuple(out.shape) == (1, 3)


def test_one_output_column_is_regression(torch_files):
    root, _, reg = torch_files
    X = np.ones((3, 4), dtype=np.float32)
    model = load_model(str(root / "reg.pt"))
    assert not model.has_proba
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(model.prepare(X)), reg(torch.from_numpy(X)).numpy().ravel(), rtol=1e-6)


def test_bad_files_and_options_are_clear_errors(tmp_path, torch_files):
    root, clf, _ = torch_files
    torch.save(clf.state_dict(), tmp_path / "weights.pt")  # a state dict is not a program
    with pytest.raises(ModelError, match="cannot load torchscript model"):
        load_model(str(tmp_path / "weights.pt"))
    with pytest.raises(ModelError, match="option 'output' must be one of auto, logits, proba"):
        load_model(str(root / "clf.pt"), {"output": "softmax"})


@pytest.mark.slow  # the child imports torch (~10 s on a busy 2-core box)
def test_suite_benchmarks_an_exported_program(tmp_path, torch_files):
    from conftest import write_suite

    from benchharness.api import run_suite

    root, _, _ = torch_files
    suite = write_suite(tmp_path, f"""
name: torch
data: {{source: "sklearn:iris", split: {{seed: 0}}}}
candidates:
  - {{name: mlp, model: {root / "clf.pt2"}, options: {{threads: 1}}}}
realtime: {{duration_s: 0.2, warmup_count: 5, warmup_s: 0.05, trials: 2, open_loop: {{trials: 2}}}}
batch: {{batch_sizes: [8], duration_s: 0.1, warmup_count: 1, trials: 2}}
""")
    [res] = run_suite(suite, out_dir=tmp_path / "out", progress=lambda m: None).results["candidates"]
    assert res["status"] == "ok", res["error"]
    assert res["model"]["format"] == "torch_export" and res["model"]["runtime"] == "torch.export"
    assert res["realtime"]["closed_loop"]["count"] > 0 and res["batch"][0]["rows_per_s"] > 0
    assert "accuracy" in res["quality"]["test"]  # an untrained net: any score, but scored
