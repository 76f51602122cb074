import joblib
import numpy as np
import pytest

from benchharness.adapters.registry import find_format, load_model, supported_formats
from benchharness.errors import ModelError
from benchharness.train.training import export_onnx


@pytest.fixture
def forest_files(tmp_path, fitted_forest, cancer):
    X, _ = cancer
    joblib.dump(fitted_forest, tmp_path / "forest.joblib")
    export_onnx(fitted_forest, X.shape[1], tmp_path / "forest.onnx")
    return tmp_path / "forest.joblib", tmp_path / "forest.onnx"


def test_sklearn_and_its_onnx_export_agree(forest_files, cancer):
    X, _ = cancer
    skl_path, onnx_path = forest_files
    skl = load_model(str(skl_path))
    onx = load_model(str(onnx_path), {"intra_op_num_threads": 1})
    p_skl = skl.predict(skl.prepare(X))
    p_onx = onx.predict(onx.prepare(X))
    # float32 inputs in ONNX can flip a row sitting exactly on a split threshold
    assert np.mean(p_skl == p_onx) > 0.99
    proba_skl = skl.predict_proba(skl.prepare(X))
    proba_onx = onx.predict_proba(onx.prepare(X))
    assert proba_onx.shape == proba_skl.shape
    assert np.max(np.abs(proba_skl - proba_onx)) < 1e-3 or np.mean(p_skl == p_onx) > 0.99
    assert list(onx.classes.astype(int)) == [0, 1]


def test_onnx_zipmap_probabilities_become_a_matrix(tmp_path, fitted_forest, cancer):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    X, _ = cancer
    onx = convert_sklearn(fitted_forest, initial_types=[("input", FloatTensorType([None, X.shape[1]]))])
    path = tmp_path / "zipmap.onnx"
    path.write_bytes(onx.SerializeToString())
    model = load_model(str(path))
    proba = model.predict_proba(model.prepare(X.iloc[:10]))
    expected = fitted_forest.predict_proba(X.iloc[:10].to_numpy().astype(np.float32))
    assert proba.shape == (10, 2)
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    assert [int(c) for c in model.classes] == [0, 1]


def test_onnx_info_records_active_provider_and_digest(forest_files):
    _, onnx_path = forest_files
    model = load_model(str(onnx_path), {"providers": ["CUDAExecutionProvider"]})
    info = model.info
    assert info.format == "onnx" and info.runtime == "onnxruntime"
    assert info.details["providers_active"] == ["CPUExecutionProvider"]
    assert info.details["providers_unavailable"] == ["CUDAExecutionProvider"]
    assert info.size_bytes == onnx_path.stat().st_size and len(info.sha256) == 64


def test_onnx_width_mismatch_is_a_clear_error(forest_files, cancer):
    X, _ = cancer
    model = load_model(str(forest_files[1]))
    with pytest.raises(ModelError, match="expects 30 features, the data has 5"):
        model.prepare(X.iloc[:, :5])


def test_callable_function_and_class():
    f = load_model("models_for_tests:always_one")
    assert list(f.predict(np.zeros((3, 2)))) == [1, 1, 1]
    cls = load_model("models_for_tests:Threshold", {"kwargs": {"threshold": 0.5}})
    X = np.array([[0.0], [1.0]])
    assert list(cls.predict(X)) == [0, 1]
    assert cls.has_proba and cls.predict_proba(X).shape == (2, 2)


def test_skops_is_the_safe_path(tmp_path, fitted_forest, cancer):
    sio = pytest.importorskip("skops.io")
    X, _ = cancer
    sio.dump(fitted_forest, tmp_path / "m.skops")
    # a type skops does not trust by default is refused until the user lists it
    with pytest.raises(ModelError, match="not trusted by default.*sklearn.tree._tree.Tree"):
        load_model(str(tmp_path / "m.skops"))
    model = load_model(str(tmp_path / "m.skops"), {"trusted": ["sklearn.tree._tree.Tree"]})
    assert np.array_equal(model.predict(model.prepare(X)), fitted_forest.predict(X.to_numpy()))
    assert "no code runs" in model.info.details["security"]


def test_registry_unknown_format_lists_supported():
    with pytest.raises(ModelError) as err:
        find_format("model.h5")
    assert "model.h5" in str(err.value)
    for fmt in ("onnx", ".joblib", ".skops", "module:attr"):
        assert fmt in str(err.value)
    assert "onnx" in supported_formats()


def test_registry_errors_for_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "absent.onnx"))
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="cannot load .*corrupt.onnx"):
        load_model(str(bad))
    badpkl = tmp_path / "corrupt.joblib"
    badpkl.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load .*corrupt.joblib"):
        load_model(str(badpkl))


def test_registry_rejects_unknown_options(forest_files):
    with pytest.raises(ModelError, match="unknown option.*intra_threads.*allowed"):
        load_model(str(forest_files[1]), {"intra_threads": 1})


def test_callable_import_errors():
    with pytest.raises(ModelError, match="cannot import module"):
        load_model("no_such_module_xyz:f")
    with pytest.raises(ModelError, match="has no attribute"):
        load_model("models_for_tests:nothing_here")


def test_onnx_fed_text_columns_names_them(forest_files, cancer):
    X, _ = cancer
    model = load_model(str(forest_files[1]))
    frame = X.copy()
    frame["mean radius"] = "large"  # a text column where the model takes numbers
    with pytest.raises(ModelError, match=r"takes float32 numbers; the data has text columns mean radius \("):
        model.prepare(frame)
