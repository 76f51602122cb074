"""The reference run of `bench run --against`, and its candidates added to this run.

`find_reference(spec, out_dir, suite_name)`: a run folder, `last` (the newest earlier run of
the same suite in the results folder) or `best` (the earlier run of the same suite whose
candidates had the lowest p99_ms, by the geometric mean over the candidates the runs share
with the newest one).

`reference_candidates_stage`: each candidate of the reference that this run also has (by
name) is measured again, in this run's rounds, from the model file the reference measured:
the copy the reference kept (`against/keep.py`), else the path its results.json names, used
only when its sha256 is still the one the reference measured. Its options are this run's
candidate's (the deployment is held fixed; the model is what is compared). A reference
candidate that cannot be measured again is said in one line and left out: an endpoint or
Python code (what they run now is not what the reference ran), a file that changed and was
not kept. The reference candidates are named `NAME@reference`, have the role `reference`
and their results go to `results["against"]["candidates"]`, not among the run's own.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchharness import config, schema
from benchharness.adapters.base import file_digest
from benchharness.adapters.pickles import guard_pickle
from benchharness.context import CandidateRun, RunContext
from benchharness.errors import UserError
from benchharness.results import load_results
from benchharness.run_folder import has_results, run_folders
from benchharness.suite import candidate_from

SUFFIX = "@reference"
NOT_REPEATABLE = {"callable": "Python code (module:attr) is not kept with a run: what it runs now may "
                              "not be what the reference ran",
                  "http": "an endpoint serves what it serves now, not what the reference measured",
                  "mlflow": "a registry model is not kept with a run; name the version's file instead"}


def _runs_of(out_dir: Path, suite_name: str) -> list[tuple[Path, dict]]:
    """Earlier runs of the suite in the results folder, oldest first (run ids start with the
    time they started)."""
    found = []
    for folder in run_folders(out_dir):
        try:
            res = load_results(folder)
        except UserError:
            continue  # a crashed or foreign folder: not a reference
        if schema.run_section(res, "suite").get("name") == suite_name and schema.candidates(res):
            found.append((folder, res))
    return found


def find_reference(spec: str, out_dir: str | Path, suite_name: str) -> Path:
    """The reference run's folder for `--against SPEC` (see the module doc)."""
    if spec not in ("last", "best"):
        path = Path(spec)
        if not has_results(path):
            raise UserError(f"--against {spec!r}: not a run folder (no results.json there); "
                            "give a run folder, last or best")
        return path
    runs = [(p, r) for p, r in _runs_of(Path(out_dir), suite_name) if schema.verdict(r)]
    if not runs:
        raise UserError(f"--against {spec}: no finished earlier run of suite {suite_name!r} in {out_dir}")
    if spec == "last":
        return runs[-1][0]
    newest = {c["name"] for c in schema.candidates(runs[-1][1]) if c.get("status") == "ok"}

    def score(res: dict) -> float:
        logs = [math.log(v) for c in schema.candidates(res) if c.get("name") in newest
                for v in [schema.closed_loop(c).get("p99_ms")] if v and v > 0]
        return sum(logs) / len(logs) if logs else math.inf

    best = min(runs, key=lambda pr: score(pr[1]))
    if not math.isfinite(score(best[1])):
        raise UserError(f"--against best: no earlier run of suite {suite_name!r} in {out_dir} measured p99_ms")
    return best[0]


def model_file(ref_dir: Path, cand: dict) -> tuple[Path | None, str | None]:
    """(the reference candidate's model file, None) or (None, why it cannot be measured again)."""
    model = schema.model(cand)
    fmt = model.get("format")
    if fmt in NOT_REPEATABLE:
        return None, NOT_REPEATABLE[fmt]
    kept = model.get("kept")
    if kept and (ref_dir / kept).is_file():
        path = ref_dir / kept
    elif model.get("path") and Path(model["path"]).is_file():
        path = Path(model["path"])
    else:
        return None, (f"its model file {model.get('path')} is gone and the run kept no copy"
                      + (f" ({model['kept_note']})" if model.get("kept_note") else ""))
    if model.get("sha256") and file_digest(str(path))[1] != model["sha256"]:
        return None, (f"{path} is not the file the reference measured (sha256 differs) and the run kept "
                      "no copy")
    return path, None


def reference_candidates_stage(ctx: RunContext) -> None:
    if ctx.against is None:
        return
    ref_dir = Path(ctx.against)
    reference = load_results(ref_dir)
    section = ctx.results["against"] = {"run": reference.get("run_id"), "run_dir": str(ref_dir.resolve()),
                                        "candidates": [], "refused": [], "rows": [],
                                        "threshold": ctx.against_threshold}
    mine = {c.name: c for c in ctx.candidates if c.ok and c.result.get("role") == "candidate"}
    for ref in schema.candidates(reference):
        if ref.get("role", "candidate") != "candidate" or ref.get("status") != "ok" or ref["name"] not in mine:
            continue
        path, why = model_file(ref_dir, ref)
        if path is None:
            section["refused"].append({"candidate": ref["name"], "reason": why})
            ctx.progress(f"[{ref['name']}] --against: not measured again: {why}")
            continue
        own = mine[ref["name"]]
        spec = candidate_from(config.validate_section(
            {"name": ref["name"] + SUFFIX, "model": str(path), "format": schema.model(ref).get("format"),
             "options": dict(own.spec.options)}, config.CANDIDATE, "against"))
        try:
            guard_pickle(str(path), spec.format, warn=lambda line, n=spec.name: ctx.progress(f"[{n}] {line}"))
        except UserError as exc:  # --no-pickle: the reference's pickle is not loaded
            section["refused"].append({"candidate": ref["name"], "reason": str(exc)})
            ctx.progress(f"[{ref['name']}] --against: not measured again: {exc}")
            continue
        result = {"name": spec.name, "role": "reference", "status": "ok", "error": None,
                  "source": f"{ref_dir.name}: {ref['name']}", "model": None, "reference_of": ref["name"]}
        cand = CandidateRun(spec=spec, result=result, model_path=str(path), model_format=spec.format)
        ctx.candidates.append(cand)
        section["candidates"].append(result)
    if section["candidates"]:
        ctx.progress(f"--against {ref_dir.name}: {len(section['candidates'])} candidate(s) of the reference "
                     "measured again, round by round with this run's")
