"""What replicas measured side by side (tune/replicas.py) mean for an instance's price.

Pure: the `replicas` section of a candidate and the number of replicas a profile fits in,
the plan the cost stage prices (how many replicas, the instance's batch throughput, the
real-time scaling) and where each figure came from.

- The profile fits N and N was measured: the instance's batch throughput IS the measured
  aggregate of N replicas (source `measured`). When fewer replicas measured together did more
  than N (they fought over the cores), the plan runs that many.
- The profile fits more than were measured (a 2-core machine, an 8-vCPU profile): each of the
  N replicas is priced at the per-replica rate of the largest count measured together (its
  efficiency carried over), source `extrapolated`, and the plan says from how many.

Real time: each replica's sustainable open-loop rate is scaled by the closed loop's measured
efficiency at that count (capped at 1: a noisy efficiency above 1 earns no extra capacity).
"""

from __future__ import annotations


def replica_plan(section: dict | None, fit: int) -> dict | None:
    """The plan for an instance that fits `fit` replicas, or None when none were measured."""
    runs = {r["replicas"]: r for r in (section or {}).get("measured") or []
            if r.get("batch_rows_per_s")}
    if 1 not in runs:
        return None
    usable = [n for n in runs if n <= fit]
    largest = max(usable)

    def efficiency(n: int) -> float:
        eff = (runs[n].get("efficiency") or {}).get("closed_loop")
        return min(1.0, eff) if eff else 1.0

    if fit in runs:
        n = max(usable, key=lambda k: runs[k]["batch_rows_per_s"])
        return {"replicas": n, "source": "measured", "measured_together": n,
                "instance_rows_per_s": runs[n]["batch_rows_per_s"],
                "realtime_efficiency": efficiency(n),
                "note": f"{n} replica(s) measured together on this machine"
                        + ("" if n == fit else f" did more than the {fit} the profile fits")}
    per_replica = runs[largest]["batch_rows_per_s"] / largest
    return {"replicas": fit, "source": "extrapolated", "measured_together": largest,
            "instance_rows_per_s": per_replica * fit,
            "realtime_efficiency": efficiency(largest),
            "note": f"the profile fits {fit} replicas; {largest} were measured together here: "
                    f"each of the {fit} is priced at their per-replica rate (extrapolated)"}
