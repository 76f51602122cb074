"""`bench env`: the machine detected here and the profile a run would be priced with."""

from __future__ import annotations

import json

from benchharness import config
from benchharness.cost.hardware import (
    available_profiles,
    detect_machine,
    load_profile,
    profile_section,
)


def env_report(suite_path: str | None, profile_arg: str | None, as_json: bool = False) -> str:
    machine = detect_machine()
    name = profile_arg
    if name is None and suite_path:
        name = config.load_suite(suite_path).profile
    profile = load_profile(name, machine=machine)
    section = profile_section(profile, machine)
    if as_json:
        return json.dumps({"machine": machine, "profile": section}, indent=2)
    from benchharness.report.console import fold

    return fold("\n".join(machine_lines(machine) + [""] + profile_lines(section)
                          + ["", "profiles: " + ", ".join(available_profiles())]))


def machine_lines(m: dict) -> list[str]:
    gpu = m["gpu"]
    gpus = ", ".join(f"{d['name']} ({d['memory_total_mb']:.0f} MiB)" for d in gpu["devices"]) \
        if gpu["available"] else f"none ({gpu['reason']})"
    quota = f", container quota {m['cpu_quota_cores']:g} cores" if m["cpu_quota_cores"] else ""
    limit = f", container limit {m['memory_limit_gb']:g} GiB" if m["memory_limit_gb"] else ""
    return [
        "machine (detected)",
        f"  cpu      {m['cpu_model']} ({m['architecture']})",
        f"  cores    {m['logical_cores']} logical, {m['physical_cores']} physical, {m['usable_cores']} usable{quota}",
        f"  memory   {m['memory_gb']:g} GiB{limit}",
        f"  gpu      {gpus}",
        f"  energy   {'RAPL counters readable' if m['rapl']['available'] else 'no CPU energy counter: ' + m['rapl']['reason']}",
        f"  os       {m['os']}",
    ]


def profile_lines(p: dict) -> list[str]:
    gpu = f"{p['gpu']['count']} x {p['gpu']['model']}" if p["gpu"] else "none"
    spot = f", spot {p['spot_price_per_hour_usd']} USD/h" if p["spot_price_per_hour_usd"] else ""
    approx = " (approximate)" if p["approximate"] else ""
    lines = [
        f"profile  {p['name']}" + (f"  [{p['provider']} {p['instance_type']}, {p['region']}]" if p["provider"] else ""),
        f"  price    {p['price_per_hour_usd']:g} USD/hour on demand{approx}{spot}",
        f"  vcpus    {p['vcpus']}    memory {p['memory_gb']:g} GiB    gpu {gpu}",
        f"  source   {p['source']} (as of {p['as_of']})",
    ]
    if p["detected"]:
        lines.append(f"  detected {', '.join(p['detected'])} from this machine")
    lines += [f"  note     {m}" for m in p["mismatch"]]
    return lines
