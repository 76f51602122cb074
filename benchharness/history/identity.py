"""What a run was measured with: suite file, data, machine, harness, git commit.

Computed once when the run ends (the suite file or the repository may change later) and
kept in results["history"]["identity"], so rebuilding the index from the run folders gives
the same rows. Runs without that section get what their results.json still tells.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from benchharness import schema
from benchharness.numbers import MISSING


def file_sha256(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def git_commit(folder: str | Path) -> str | None:
    """HEAD of the repository holding `folder` (with '+dirty' when it has changes), else None."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_fingerprint(env: dict) -> str | None:
    """Short hash of what makes two machines' timings comparable: host, CPU, cores, memory."""
    facts = [env.get("hostname"), env.get("cpu_model"), env.get("cpu_count_logical"),
             round((env.get("memory_total_mb") or 0) / 1024)]
    if not any(facts[:3]):
        return None
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:12]


def machine_label(env: dict) -> str:
    return f"{env.get('hostname', MISSING)} ({env.get('cpu_model', MISSING)}, {env.get('cpu_count_logical', MISSING)} CPUs)"


def software_fingerprint(env: dict) -> str | None:
    packages = env.get("packages") or {}
    if not packages:
        return None
    facts = [env.get("python"), sorted(packages.items())]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:12]


def compute_identity(results: dict, suite_path: str | Path | None) -> dict:
    """The identity of a run that has just been measured (see the module docstring)."""
    path = Path(suite_path) if suite_path else None
    return {
        "suite_sha256": file_sha256(path) if path else None,
        "git_commit": git_commit(path.resolve().parent) if path else None,
        **_from_results(results),
    }


def _from_results(results: dict) -> dict:
    env = results.get("environment") or {}
    return {
        "data_sha256": schema.get_path(results, "data.sha256"),
        "split_sha256": schema.get_path(results, "data.split.split_sha256"),
        "harness_version": (env.get("packages") or {}).get("benchharness"),
        "software": software_fingerprint(env),
        "machine": machine_fingerprint(env),
        "machine_label": machine_label(env),
        "profile": schema.run_section(results, "profile").get("name"),
    }


def identity(results: dict) -> dict:
    """The stored identity of a run, completed from results.json where it lacks a key."""
    found = dict(_from_results(results))
    found.update({"suite_sha256": None, "git_commit": None})
    stored = schema.run_section(results, "history").get("identity") or {}
    found.update({k: v for k, v in stored.items() if v is not None})
    return found
