"""Facts about the machine and software a run measured on (results["environment"])."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time

import psutil

KEY_PACKAGES = (
    "benchharness", "numpy", "pandas", "scikit-learn", "onnxruntime", "skl2onnx", "scipy",
    "psutil", "nvidia-ml-py", "xgboost", "xgboost-cpu", "lightgbm", "torch",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str]:
    out = {}
    for name in KEY_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def timer_resolution_ns(samples: int = 2000) -> int:
    """Smallest non-zero step of perf_counter_ns seen in a tight loop."""
    best = None
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        t1 = time.perf_counter_ns()
        while t1 == t0:
            t1 = time.perf_counter_ns()
        step = t1 - t0
        best = step if best is None or step < best else best
    return int(best or 0)


def environment_section() -> dict:
    vm = psutil.virtual_memory()
    thread_env = {k: os.environ.get(k) for k in (
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
    ) if os.environ.get(k) is not None}
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = None
    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": affinity,
        "memory_total_mb": round(vm.total / 2**20, 1),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "thread_env": thread_env,
        "timer": {"clock": "perf_counter_ns", "resolution_ns": timer_resolution_ns()},
    }
