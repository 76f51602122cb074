"""GPU check, for a machine with an NVIDIA GPU: NVML sampling during a real ONNX model run
with onnxruntime's CUDA provider, and which provider actually ran.

It builds an MLP in ONNX (MatMul + Add + Relu layers, random weights), loads it through the
harness's ONNX adapter asking for CUDAExecutionProvider, and runs batches of rows for a few
seconds inside the harness's PhaseMonitor (CPU/RSS sampler, NVML GPU sampler, RAPL meter).
For comparison it measures the GPU idle, and the same model on the CPU provider. If the CUDA
provider did not run (onnxruntime falls back to CPU without raising), that is recorded, and
NVML is still checked under a PyTorch matrix-multiply load when PyTorch is there.

    python benchmarks/gpu_check.py [--seconds 8] [--width 2048] [--depth 8] [--batch 512] [--out DIR]

Prints a summary and writes gpu_check.json to --out (default: the current folder).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchharness.measure.gpu import GpuSampler, gpu_status  # noqa: E402
from benchharness.measure.monitor import PhaseMonitor  # noqa: E402
from benchharness.measure.resources import measure_load  # noqa: E402


def build_mlp(path: Path, width: int, depth: int, seed: int = 0) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "X"
    for i in range(depth):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(np.zeros(width, np.float32), f"B{i}")]
        nodes += [helper.make_node("MatMul", [prev, f"W{i}"], [f"M{i}"]),
                  helper.make_node("Add", [f"M{i}", f"B{i}"], [f"A{i}"]),
                  helper.make_node("Relu", [f"A{i}"], [f"H{i}"] if i < depth - 1 else ["Y"])]
        prev = f"H{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def timed_phase(fn, X, seconds: float, rows: int) -> dict:
    for _ in range(10):  # warm-up: kernels chosen, memory arena grown
        fn(X)
    calls = 0
    with PhaseMonitor(interval_s=0.1) as monitor:
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while time.perf_counter() < deadline:
            fn(X)
            calls += 1
        wall = time.perf_counter() - t0
    out = monitor.summary(predictions=calls * rows)
    out.update(calls=calls, rows_per_s=calls * rows / wall, ms_per_call=1000 * wall / calls)
    return out


def load_and_run(model_path: Path, providers: list[str], X, seconds: float) -> dict:
    from benchharness.adapters.registry import load_model

    adapter, load = measure_load(lambda: load_model(str(model_path), {"providers": providers}))
    details = adapter.info.details
    phase = timed_phase(adapter.predict_fn(), X, seconds, len(X))
    adapter.close()
    return {"providers_requested": providers, "provider_ran": details["provider"],
            "providers_active": details["providers_active"], "fallback": details.get("fallback"),
            "load": load, "phase": phase}


def torch_load(seconds: float) -> dict:
    """NVML under a known GPU load, when the CUDA provider could not give one."""
    try:
        import torch
    except ImportError:
        return {"skipped": "PyTorch is not installed"}
    if not torch.cuda.is_available():
        return {"skipped": "torch.cuda.is_available() is False"}
    a = torch.randn(8192, 8192, device="cuda")
    calls = 0
    with GpuSampler(interval_s=0.1) as gpu:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            (a @ a).sum().item()
            calls += 1
    return {"matmuls_8192": calls, "gpu": gpu.summary(predictions=calls)}


def short(phase: dict) -> str:
    gpu = phase.get("gpu") or {}
    dev = (gpu.get("devices") or [{}])[0]
    return (f"{phase['rows_per_s']:>12,.0f} rows/s  {phase['ms_per_call']:8.3f} ms/call  "
            f"cpu {phase['process_cpu_percent']:>6.1f}%  peak rss {phase['peak_rss_mb']:8.1f} MiB  "
            f"gpu util {dev.get('utilisation_mean_percent')}%  power {dev.get('power_mean_w')} W  "
            f"gpu mem (process) {dev.get('process_memory_max_mb')} MiB  "
            f"energy/row {gpu.get('energy_per_prediction_j')} J ({dev.get('energy_source')})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    import onnxruntime as ort

    report: dict = {"python": sys.version.split()[0], "onnxruntime": ort.__version__,
                    "onnxruntime_file": ort.__file__, "available_providers": ort.get_available_providers()}
    try:
        smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        report["nvidia_smi"] = (smi.stdout or smi.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        report["nvidia_smi"] = f"not run: {exc}"
    if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* Python packages
        try:
            ort.preload_dlls()
            report["preload_dlls"] = "ok"
        except Exception as exc:
            report["preload_dlls"] = f"{type(exc).__name__}: {exc}"
    report["gpu_status"] = gpu_status()
    with GpuSampler(interval_s=0.1) as idle:
        time.sleep(1.0)
    report["gpu_idle"] = idle.summary()
    print(json.dumps({k: report[k] for k in ("python", "onnxruntime", "available_providers", "nvidia_smi")}))
    print("gpu status:", json.dumps(report["gpu_status"]))

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "mlp.onnx"
        build_mlp(model, args.width, args.depth)
        report["model"] = {"width": args.width, "depth": args.depth, "batch": args.batch,
                           "file_mb": round(model.stat().st_size / 2**20, 1),
                           "gflop_per_call": 2 * args.batch * args.width**2 * args.depth / 1e9}
        X = np.random.default_rng(1).standard_normal((args.batch, args.width)).astype(np.float32)
        for name, providers, seconds in (("cuda", ["CUDAExecutionProvider"], args.seconds),
                                         ("cpu", ["CPUExecutionProvider"], min(3.0, args.seconds))):
            try:
                report[name] = load_and_run(model, providers, X, seconds)
            except Exception as exc:
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            r = report[name]
            print(f"\n[{name}] requested {providers}: ran on {r.get('provider_ran')}"
                  + (f"  FALLBACK: {r['fallback']}" if r.get("fallback") else "") + (f"  {r['error']}" if "error" in r else ""))
            if "phase" in r:
                print(f"  load {r['load']['load_time_ms']:.0f} ms, footprint {r['load']['footprint_mb']:.1f} MiB")
                print("  " + short(r["phase"]))
        if report["cuda"].get("provider_ran") != "CUDAExecutionProvider":
            # a second try with the CUDA libraries PyTorch brings already loaded in the process
            try:
                import torch  # noqa: F401

                report["cuda_after_torch_import"] = load_and_run(model, ["CUDAExecutionProvider"], X, args.seconds)
                r = report["cuda_after_torch_import"]
                print(f"\n[cuda, after import torch] ran on {r['provider_ran']}\n  " + short(r["phase"]))
            except Exception as exc:
                report["cuda_after_torch_import"] = {"error": f"{type(exc).__name__}: {exc}"}
    if report["cuda"].get("provider_ran") != "CUDAExecutionProvider":
        report["torch_load"] = torch_load(min(5.0, args.seconds))
        print("\n[torch matmul under NVML]", json.dumps(report["torch_load"])[:600])
    out = Path(args.out) / "gpu_check.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nidle: {json.dumps(report['gpu_idle'].get('devices', report['gpu_idle']))[:400]}")
    print(f"wrote {out} (pid {os.getpid()})")


if __name__ == "__main__":
    main()
