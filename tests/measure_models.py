"""Synthetic models with a known service time, for the performance-engine tests.

Busy-waiting (not sleeping) makes the service time a floor the model really spends on the
CPU, like inference does. Also here: models that crash the process natively, hang, fail on
some rows, or stall periodically. They are importable by `module:attr` from a child process.
"""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np


def busy_wait(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class FixedService:
    """predict(X) busy-waits `ms` milliseconds per call."""

    def __init__(self, ms: float = 1.0):
        self.seconds = ms / 1000

    def predict(self, X):
        busy_wait(self.seconds)
        return np.zeros(len(X))


class Stalling:
    """`ms` per call, and every `every`-th call stalls `stall_ms` (a GC pause, a page fault...)."""

    def __init__(self, ms: float = 0.5, every: int = 200, stall_ms: float = 40.0):
        self.seconds, self.every, self.stall = ms / 1000, every, stall_ms / 1000
        self.calls = 0

    def predict(self, X):
        self.calls += 1
        busy_wait(self.stall if self.calls % self.every == 0 else self.seconds)
        return np.zeros(len(X))


class LognormalService:
    """Heavy-tailed service time (median `ms`), seeded: a tail that is slow to pin down."""

    def __init__(self, ms: float = 0.2, sigma: float = 1.5, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.ms, self.sigma = ms, sigma

    def predict(self, X):
        busy_wait(self.ms / 1000 * self.rng.lognormal(0.0, self.sigma))
        return np.zeros(len(X))


class FailsOnNegative:
    """Raises on any request whose first feature is negative (bad rows in production)."""

    def predict(self, X):
        X = np.asarray(X)
        if (X[:, 0] < 0).any():
            raise ValueError(f"negative input {X[0, 0]:.3f}")
        return np.zeros(len(X))


def segfault(**_):
    ctypes.string_at(0)  # reads address 0: SIGSEGV in native code


def abort(**_):
    os.abort()


def hang(**_):
    time.sleep(3600)


def raises(**_):
    raise RuntimeError("model exploded\nsecond line is dropped")


def echo(**kwargs):
    return {"got": kwargs, "pid": os.getpid()}


class SegfaultOnPredict:
    """Loads fine, then crashes the process on the first prediction."""

    def predict(self, X):
        ctypes.string_at(0)


class HangOnPredict:
    def predict(self, X):
        time.sleep(3600)


class SleepService:
    """Sleeps `ms` per call: releases the GIL, like a native runtime does."""

    def __init__(self, ms: float = 10.0):
        self.seconds = ms / 1000

    def predict(self, X):
        time.sleep(self.seconds)
        return np.zeros(len(X))


class _CountingModel:
    def __init__(self, calls: int = 50):
        self.limit, self.calls = calls, 0

    def predict(self, X):
        self.calls += 1
        if self.calls > self.limit:
            self.misbehave()
        return np.zeros(len(X))


class SegfaultAfter(_CountingModel):
    """Answers `calls` requests (enough for the predictions), then segfaults."""

    def misbehave(self):
        ctypes.string_at(0)


class HangAfter(_CountingModel):
    def misbehave(self):
        time.sleep(3600)


class Flaky:
    """Every `every`-th call raises: a model that fails on some requests in production."""

    def __init__(self, every: int = 7):
        self.every, self.calls = every, 0

    def predict(self, X):
        self.calls += 1
        if self.calls % self.every == 0:
            raise ValueError(f"bad request number {self.calls}")
        return np.zeros(len(X))


def phase_timer(phase: str):
    """A phase hook (the contract the resource sampler follows): times each phase."""
    from contextlib import contextmanager

    @contextmanager
    def timed():
        rec = {"phase": phase, "pid": os.getpid()}
        t0 = time.perf_counter()
        yield rec
        rec["seconds"] = time.perf_counter() - t0

    return timed()


def write_image_model(path) -> None:
    """An ONNX model over images [N, 3, 8, 8] (no tabular data): mean over pixels."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["score"], axes=[1, 2, 3], keepdims=0)],
        "image_mean",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


_CALLS = []


def count_calls(**_):
    """Module state grows by one per call in a process: a fresh child always says 1."""
    _CALLS.append(1)
    return len(_CALLS)
