"""Models and child-process entry points for tests/test_resources.py.

Spawned children import this module by name (the test directory is on sys.path), so the
functions must live at module level.
"""

from __future__ import annotations

import numpy as np

MIB = 1024 * 1024


class AllocatingModel:
    """Keeps `load_mb` MiB alive from load on; allocates and frees `call_mb` MiB per call."""

    def __init__(self, load_mb: int, call_mb: int = 0):
        # np.ones writes every page, so the memory is resident, not just reserved
        self.weights = np.ones(load_mb * MIB // 8) if load_mb else None
        self.call_mb = call_mb

    def predict(self, x):
        if self.call_mb:
            scratch = np.ones(self.call_mb * MIB // 8)
            x = x + scratch[0]
        return x


def measure_in_child(load_mb: int, call_mb: int, calls: int) -> dict:
    """What a measuring child does (measure/child.py): the phase hook around the load and
    around a timed phase; then what the parent's resources stage makes of the records."""
    import time

    from benchharness.measure.monitor import PHASE_HOOK, phase_hook
    from benchharness.measure.resource_stage import resources_from_records

    with phase_hook("load") as load:
        model = AllocatingModel(load_mb, call_mb)
    with phase_hook("closed_loop") as phase:
        t0 = time.perf_counter()
        for i in range(calls):
            model.predict(float(i))
        wall = time.perf_counter() - t0
    result = {"realtime": {"closed_loop": {"qps": calls / wall, "count": calls}}}
    records = {"closed_loop": {"load": {PHASE_HOOK: load}, "closed_loop": {PHASE_HOOK: phase}}}
    return resources_from_records(result, records)
