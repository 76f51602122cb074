"""A copy of each candidate's model file in the run folder (`models/`).

A run is then a reference that can be measured again (`bench run --against`) after the file
it measured was retrained, overwritten or deleted. Trained candidates' files are in `work/`
already, but `work/` is scratch space (a fleet leaves it behind), so they are kept too.
What is kept is recorded in the candidate's `model.kept` (a path relative to the run folder),
or why not in `model.kept_note`: a model over `KEEP_MAX_MB`, a folder, an endpoint or Python
code (nothing to copy: the code or the server may have changed since).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchharness.context import CandidateRun, RunContext
from benchharness.run_folder import MODELS_DIR, atomic_write, safe_name

KEEP_MAX_MB = 512


def _suffix(path: Path) -> str:
    """The file's suffixes as the format registry reads them (`.lgb.txt`, `.xgb.json`)."""
    name = path.name
    for multi in (".lgb.txt", ".xgb.json"):
        if name.endswith(multi):
            return multi
    return path.suffix


def keep_model_stage(ctx: RunContext, cand: CandidateRun) -> None:
    if cand.result.get("role") == "reference":  # measured from the reference's own copy
        return
    model = cand.result.get("model") or {}
    path = Path(cand.model_path) if cand.model_path else None
    if path is None or not path.is_file():
        what = "an endpoint or Python code" if not (path and path.exists()) else "a folder"
        model["kept_note"] = f"not kept: the model is {what}, there is no single file to copy"
        return
    size_mb = path.stat().st_size / 2**20
    if size_mb > KEEP_MAX_MB:
        model["kept_note"] = (f"not kept: {size_mb:,.0f} MB is over the {KEEP_MAX_MB} MB kept per model; "
                              "--against this run needs the file where results.json says")
        return
    folder = Path(ctx.run_dir) / MODELS_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{safe_name(cand.name)}{_suffix(path)}"
    # a copy, never a hard link: a tool that rewrites the model in place (joblib.dump opens
    # the same inode for writing) would change a linked "copy" too
    with open(path, "rb") as source:
        atomic_write(target, lambda fh: shutil.copyfileobj(source, fh, 1 << 20))
    model["kept"] = f"{MODELS_DIR}/{target.name}"
