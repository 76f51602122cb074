"""How busy the machine was while the trials ran: other processes' CPU, load, governor.

Around each trial the parent takes a `snapshot()` of the whole machine's busy CPU seconds
(psutil) and of the CPU seconds of this run's own processes (the harness, its fork server and
the children it reaped); the difference over the trial's wall time is what OTHER processes
used, in cores. The run's `machine_load` section sums it up and calls the machine busy when
other processes kept more than `BUSY_OTHER_SHARE` of its CPUs busy on average (or load
average exceeded the CPU count): figures taken then are slower and noisier than on a quiet
machine, and the terminal says so.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

BUSY_OTHER_SHARE = 0.25  # other processes using a quarter of the CPUs: a busy machine


def _own_cpu_s() -> float:
    import psutil

    def total(proc) -> float:
        t = proc.cpu_times()
        return t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)

    me = psutil.Process()
    seconds = total(me)
    for child in me.children(recursive=True):
        try:
            seconds += total(child)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return seconds


def snapshot() -> dict | None:
    """Machine and own CPU seconds now (None where psutil cannot read them)."""
    try:
        import psutil

        t = psutil.cpu_times()
        busy = t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + \
            getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)
        return {"wall": time.monotonic(), "busy_s": busy, "own_s": _own_cpu_s()}
    except Exception:  # psutil missing or a restricted /proc: no load figures, the run goes on
        return None


def other_cores(before: dict | None, after: dict | None) -> float | None:
    """Cores other processes kept busy between two snapshots."""
    if not before or not after:
        return None
    wall = after["wall"] - before["wall"]
    if wall <= 0:
        return None
    other = (after["busy_s"] - before["busy_s"]) - (after["own_s"] - before["own_s"])
    return max(0.0, other / wall)


def _governor() -> str | None:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    try:
        return path.read_text().strip()
    except OSError:
        return None


def machine_facts() -> dict:
    facts: dict = {"cpus": os.cpu_count(), "governor": _governor()}
    try:
        facts["loadavg_1m"] = os.getloadavg()[0]
    except OSError:
        facts["loadavg_1m"] = None
    try:
        import psutil

        freq = psutil.cpu_freq()
        facts["cpu_mhz"] = round(freq.current) if freq else None
    except Exception:
        facts["cpu_mhz"] = None
    return facts


def load_section(per_trial: list[dict]) -> dict:
    """The run's `machine_load`: other processes' cores per trial (mean, max), load average
    seen, governor, and `busy` with a sentence when the figures were taken on a busy machine."""
    facts = machine_facts()
    others = [t["other_cpu_cores"] for t in per_trial if t.get("other_cpu_cores") is not None]
    loads = [t["loadavg_1m"] for t in per_trial if t.get("loadavg_1m") is not None]
    cpus = facts["cpus"] or 1
    mean = sum(others) / len(others) if others else None
    out = {
        **facts,
        "other_cpu_cores_mean": mean,
        "other_cpu_cores_max": max(others) if others else None,
        "loadavg_1m_max": max(loads) if loads else None,
        "trials_observed": len(others),
        "busy": False,
        "note": None,
    }
    reasons = []
    if mean is not None and mean > BUSY_OTHER_SHARE * cpus:
        reasons.append(f"other processes kept {mean:.2g} of {cpus} CPUs busy on average")
    if loads and max(loads) > cpus:
        reasons.append(f"load average reached {max(loads):.3g} on {cpus} CPUs")
    if facts["governor"] and facts["governor"] not in ("performance",):
        out["governor_note"] = f"CPU frequency governor '{facts['governor']}' (not 'performance')"
    if reasons:
        out["busy"] = True
        out["note"] = ("figures taken on a busy machine: " + "; ".join(reasons)
                       + ". Latencies are slower and noisier than on a quiet one")
    return out


def trial_load(before: dict | None, after: dict | None) -> dict:
    try:
        loadavg = os.getloadavg()[0]
    except OSError:
        loadavg = None
    return {"other_cpu_cores": other_cores(before, after), "loadavg_1m": loadavg}
