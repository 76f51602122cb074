"""The deployment file of a tuned candidate's recommended variant.

Written to the run folder as `deploy-<variant>.yaml` with a copy of the model file beside it
(`deploy/`), so the folder alone is enough to ship it: runtime, session options, threads,
batch size, replicas, the model's path and sha256, and the `bench serve` command that starts
it (`bench serve MODEL --options JSON` reads the same session options the run measured).
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import yaml

from benchharness import schema
from benchharness.adapters.base import file_digest
from benchharness.context import CandidateRun, RunContext
from benchharness.decide import figures
from benchharness.run_folder import atomic_write, safe_name


def _best_batch_size(result: dict) -> int | None:
    best = figures._best_batch(result)
    size = (best or {}).get("batch_size")
    return int(size) if isinstance(size, (int, float)) else None


def replicas_entry(result: dict) -> dict:
    """Replicas per instance as priced, and where the number came from."""
    cost = result.get("cost") or {}
    plan = cost.get("replicas_plan")
    measured = schema.replicas(result).get("measured") or []
    if plan:
        source = f"{plan['source']}: {plan['note']}"
    elif cost.get("replicas_per_instance"):
        source = "the profile's fit (vCPUs / threads, memory), not measured side by side"
    else:
        source = "not priced: one"
    return {
        "replicas": int(cost.get("replicas_per_instance") or 1),
        "replicas_source": source,
        "profile": cost.get("profile"),
        "replicas_measured": [
            {k: r.get(k) for k in ("replicas", "qps", "batch_rows_per_s", "p99_ms_worst_replica",
                                   "efficiency")}
            for r in measured
        ],
    }


def deployment(cand: CandidateRun, model_copy: Path, row: dict) -> dict:
    model = cand.result.get("model") or {}
    opts = dict(cand.spec.options)
    onnx = schema.variant(cand.result).get("export") == "onnx"
    # a model that is no file (a `module:attr` callable, a URL) ships as named: no digest
    size, sha = file_digest(str(model_copy)) if Path(model_copy).is_file() else (None, None)
    serve = ["bench", "serve", str(model_copy)]
    if opts:
        serve += ["--options", json.dumps(opts, sort_keys=True)]
    if cand.model_format and not onnx:
        serve += ["--format", cand.model_format]
    return {
        "variant": cand.name,
        "variant_of": cand.result.get("variant_of"),
        "settings": schema.variant(cand.result) or None,
        "runtime": model.get("runtime") or ("onnxruntime" if onnx else None),
        "runtime_version": model.get("runtime_version"),
        "format": model.get("format") or ("onnx" if onnx else cand.model_format),
        "model": {
            "path": str(model_copy),
            "sha256": sha,
            "size_bytes": size,
            "measured_from": cand.model_path,
        },
        "session_options": opts,
        "intra_op_num_threads": opts.get("intra_op_num_threads") if onnx else None,
        "batch_size": _best_batch_size(cand.result),
        **replicas_entry(cand.result),
        "measured": {
            k: row.get(k)
            for k in (
                "quality",
                "p99_ms",
                "cost_per_1m",
                "rows_per_s",
                "label_agreement",
                "quality_delta",
            )
        },
        "serve_command": " ".join(shlex.quote(p) for p in serve),
    }


def write_deployment(ctx: RunContext, cand: CandidateRun, rows: list[dict]) -> dict:
    """Copy the model into `deploy/` and write `deploy-<variant>.yaml`; return {file, sha256}."""
    folder = Path(ctx.run_dir) / "deploy"
    folder.mkdir(parents=True, exist_ok=True)
    source = Path(cand.model_path)
    if source.is_file():
        copy = folder / f"{safe_name(cand.name)}{source.suffix}"
        shutil.copy2(source, copy)
    else:
        copy = Path(cand.model_path)
    row = next(r for r in rows if r["name"] == cand.name)
    doc = deployment(cand, copy, row)
    path = Path(ctx.run_dir) / f"deploy-{safe_name(cand.name)}.yaml"
    atomic_write(path, yaml.safe_dump(doc, sort_keys=False))
    return {
        "file": path.name,
        "model": str(copy.relative_to(ctx.run_dir)) if source.is_file() else str(copy),
        "sha256": doc["model"]["sha256"],
    }
