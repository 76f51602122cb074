import os

import measure_models
import pytest

from benchharness.isolation.isolate import run_in_child, signal_name

M = measure_models.__name__


@pytest.fixture(params=["spawn", "forkserver"])
def method(request):
    return request.param


def test_value_comes_back_from_a_fresh_process(method):
    out = run_in_child(f"{M}:echo", {"a": 1, "b": [2, 3]}, timeout_s=60, start_method=method)
    assert out.ok, out.error
    assert out.value["got"] == {"a": 1, "b": [2, 3]}
    assert out.value["pid"] != os.getpid()


def test_exception_is_one_line_with_type(method):
    out = run_in_child(f"{M}:raises", timeout_s=60, start_method=method)
    assert out.status == "error"
    assert out.error == "RuntimeError: model exploded"
    assert "Traceback" in out.traceback


def test_segfault_is_recorded_with_signal_name(method):
    out = run_in_child(f"{M}:segfault", timeout_s=60, label="closed loop", start_method=method)
    assert out.status == "crashed"
    assert out.signal == "SIGSEGV"
    assert out.error == "closed loop crashed: killed by SIGSEGV"
    assert "Fatal Python error" in out.stderr_tail  # faulthandler's stack came back
    assert out.record()["signal"] == "SIGSEGV"


def test_abort_is_recorded_with_signal_name(method):
    out = run_in_child(f"{M}:abort", timeout_s=60, start_method=method)
    assert (out.status, out.signal) == ("crashed", "SIGABRT")


def test_hang_is_killed_at_the_timeout(method):
    out = run_in_child(f"{M}:hang", timeout_s=2, label="batch", start_method=method)
    assert out.status == "timeout"
    assert "timed out after 2 s" in out.error
    assert 2 <= out.wall_s < 20


def test_env_reaches_the_child(method):
    out = run_in_child("os:getenv", {"key": "BENCH_TEST_VAR"}, timeout_s=60, env={"BENCH_TEST_VAR": "7"}, start_method=method)
    assert out.value == "7"


def test_signal_name():
    assert signal_name(-11) == "SIGSEGV"
    assert signal_name(0) is None
    assert signal_name(1) is None


@pytest.mark.parametrize("target", ["no_such_module_xyz:f", f"{M}:no_such_attr"])
def test_bad_target_is_an_error_not_a_crash(target):
    out = run_in_child(target, timeout_s=60)
    assert out.status == "error"
    assert out.error.startswith(("ModuleNotFoundError", "AttributeError"))


def test_user_errors_come_back_without_the_type_prefix():
    out = run_in_child("benchharness.adapters.registry:load_model", {"source": "nowhere.onnx"}, timeout_s=60)
    assert out.error == "model file not found: nowhere.onnx"


def test_children_of_the_fork_server_share_no_state():
    first = run_in_child(f"{M}:count_calls", timeout_s=60, start_method="forkserver", preload=[M])
    second = run_in_child(f"{M}:count_calls", timeout_s=60, start_method="forkserver", preload=[M])
    assert (first.value, second.value) == (1, 1)


def test_crash_tail_keeps_the_stack_when_many_extensions_are_loaded():
    # with scikit-learn loaded, faulthandler's "Extension modules: ..." line alone is longer
    # than the tail kept: the stack that says where the crash happened must survive it
    out = run_in_child(f"{M}:segfault", timeout_s=60, start_method="forkserver",
                       preload=["numpy", "pandas", "sklearn.ensemble"])
    assert out.signal == "SIGSEGV"
    assert "Fatal Python error: Segmentation fault" in out.stderr_tail
    assert "in segfault" in out.stderr_tail
    assert "Extension modules" not in out.stderr_tail
