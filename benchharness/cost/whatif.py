"""What-if pricing: a finished run re-priced on another hardware profile, as an ESTIMATE.

Nothing is measured again. Each candidate's measured throughput per replica (its CPU time
per prediction) is carried over to the other profile's instance: the replicas per instance
follow that profile's vCPUs, the price its hourly rate. That holds only as far as the other
machine's cores perform like the measured ones, so the result is labelled an estimate and
never replaces the run's own cost section (it is written beside it, `whatif-<profile>.json`).

Refused when it cannot hold: another CPU architecture (x86_64 figures say nothing about an
Arm core), or a candidate that ran on a GPU priced on a profile without that GPU. Flagged:
a CPU model that differs or is unknown, a GPU the run did not use.
"""

from __future__ import annotations

import re

from benchharness import schema
from benchharness.adapters.registry import ran_on_accelerator
from benchharness.cost.hardware import Profile, _same_gpu, load_profile
from benchharness.cost.stage import candidate_cost
from benchharness.errors import UserError

_ARM = re.compile(r"graviton|ampere|altra|arm|aarch64|axion|cobalt", re.I)
_X86 = re.compile(r"intel|xeon|amd|epyc|x86", re.I)


def profile_architecture(profile: Profile) -> str | None:
    """x86_64 / aarch64 from the profile's `cpu` text, None when it does not say."""
    text = profile.cpu or ""
    if _ARM.search(text):
        return "aarch64"
    if _X86.search(text):
        return "x86_64"
    return None


def _arch(name: str | None) -> str | None:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get((name or "").lower(), (name or "").lower() or None)


def whatif(results: dict, profile_name: str) -> dict:
    """The estimate: {profile, estimate: True, measured_on, notes, candidates {name: cost}}."""
    profile = load_profile(profile_name)
    measured_profile = schema.run_section(results, "profile")
    machine = measured_profile.get("machine") or {}
    measured_arch, target_arch = _arch(machine.get("architecture")), profile_architecture(profile)
    if measured_arch and target_arch and measured_arch != target_arch:
        raise UserError(f"cannot re-price on {profile.name}: the run was measured on {measured_arch}, "
                        f"the profile is {target_arch} ({profile.cpu}); run the suite on that machine "
                        "(bench fleet) instead")
    notes = [f"ESTIMATE: measured on {machine.get('cpu_model') or 'an unrecorded CPU'} "
             f"({machine.get('usable_cores') or '?'} usable cores), priced as {profile.name}: "
             "CPU time per prediction carried over, replicas from its vCPUs"]
    if target_arch is None:
        notes.append(f"profile {profile.name} does not name its CPU: architecture not checked")
    elif profile.cpu:
        notes.append(f"assumes {profile.cpu} cores run this model as fast as the measured ones")
    out: dict = {}
    for cand in schema.candidates(results):
        if cand.get("status") != "ok":
            continue
        gpu = ran_on_accelerator(cand)
        if gpu and not (profile.gpu and any(_same_gpu(profile.gpu["model"], d.get("name", ""))
                                             for d in (machine.get("gpu") or {}).get("devices") or [])):
            out[cand["name"]] = {"refused": f"ran on a GPU ({gpu}); {profile.name} has "
                                            f"{(profile.gpu or {}).get('model') or 'no GPU'}, so its "
                                            "throughput cannot be carried over"}
            continue
        out[cand["name"]] = candidate_cost(cand, cand.get("options") or {}, profile,
                                           schema.run_section(results, "traffic") or _default_traffic())
    if profile.gpu and not any(ran_on_accelerator(c) for c in schema.candidates(results)):
        notes.append(f"{profile.name} has a GPU ({profile.gpu['model']}) no candidate used: "
                     "the price includes it")
    return {"profile": profile.to_dict(), "estimate": True, "measured_with": measured_profile.get("name"),
            "notes": notes, "candidates": out}


def _default_traffic() -> dict:
    from benchharness import config

    return {k: f.default for k, f in config.TRAFFIC.items()}


def whatif_text(doc: dict, results: dict) -> str:
    """The estimate beside the measured cost, one row per candidate."""
    from benchharness.decide.figures import fmt
    from benchharness.report.console import render_table

    measured = {c["name"]: c for c in schema.candidates(results)}
    name = doc["profile"]["name"]
    rows = []
    for cand, cost in doc["candidates"].items():
        was = measured.get(cand) or {}
        if "refused" in cost:
            rows.append([cand, fmt(schema.cost_batch(was).get("usd_per_1m"), "USD"), "refused", "", "",
                         cost["refused"][:40]])
            continue
        rows.append([cand, fmt(schema.cost_batch(was).get("usd_per_1m"), "USD"),
                     fmt(cost["batch"].get("usd_per_1m"), "USD"),
                     fmt(schema.cost_realtime(was).get("usd_per_1m"), "USD"),
                     fmt(cost["realtime"].get("usd_per_1m"), "USD"), str(cost["replicas_per_instance"])])
    header = ["candidate", "batch $/1M", "est. batch $/1M", "rt $/1M", "est. rt $/1M", "est. replicas"]
    title = f"what-if: priced on {name} (est.) instead of {doc.get('measured_with')} (measured)"
    return "\n".join([title, render_table(rows, header), *[f"note: {n}" for n in doc["notes"]]])


def whatif_command(run_dir: str, profile: str) -> int:
    """`bench report RUN --profile NAME`: print the estimate, save it beside results.json."""
    from pathlib import Path

    import click

    from benchharness import exit_codes
    from benchharness.report.write import load_run
    from benchharness.run_folder import safe_name, write_json

    try:
        results = load_run(run_dir)
        doc = whatif(results, profile)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        return exit_codes.USAGE
    path = Path(run_dir) / f"whatif-{safe_name(doc['profile']['name'])}.json"
    try:
        write_json(path, doc)
    except OSError as exc:
        click.echo(f"error: cannot write the estimate into the run folder {run_dir!r}: "
                   f"{exc.strerror or exc}", err=True)
        return exit_codes.USAGE
    click.echo(whatif_text(doc, results))
    click.echo(f"estimate: {path} (the run's own results.json is unchanged)")
    return exit_codes.OK
