"""A format whose package is not installed: a one-line error naming the extra to install.

The boundary is the import: a `None` entry in sys.modules makes `import xgboost` fail
exactly as it does where the package is absent.
"""

from __future__ import annotations

import sys

import pytest

from benchharness.adapters.registry import load_model
from benchharness.errors import MissingExtraError


@pytest.mark.parametrize("package, source, words", [
    ("xgboost", "m.ubj", "XGBoost models needs the 'xgboost-cpu' package: pip install -e '.[xgboost]'"),
    ("lightgbm", "m.lgb.txt", "LightGBM models needs the 'lightgbm' package: pip install -e '.[lightgbm]'"),
    ("torch", "m.pt2", "PyTorch models needs the 'torch' package: pip install -e '.[torch]'"),
    ("httpx", "http://127.0.0.1:9/v2/models/m", "HTTP model candidates needs the 'httpx' package: pip install -e '.[serve]'"),
])
def test_missing_package_names_its_extra(tmp_path, monkeypatch, package, source, words):
    if "://" not in source:
        (tmp_path / source).write_bytes(b"x")
        source = str(tmp_path / source)
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(MissingExtraError) as info:
        load_model(source)
    assert words in str(info.value)


def test_missing_uvicorn_stops_bench_serve_with_the_extra(monkeypatch):
    from benchharness.serve.server import make_server

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(MissingExtraError, match=r"bench serve needs the 'uvicorn' package: pip install -e '\.\[serve\]'"):
        make_server(object(), "m")


def test_missing_onnxmltools_stops_a_boosting_export(tmp_path, monkeypatch):
    from benchharness.train.native import export_onnx

    monkeypatch.setitem(sys.modules, "onnxmltools", None)
    with pytest.raises(MissingExtraError, match=r"export: onnx of xgboost models needs the 'onnxmltools' package"):
        export_onnx("xgboost", object(), 4, tmp_path / "m.onnx")
