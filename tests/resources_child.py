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
    """What a measuring child does: RSS before load, load, then one monitored phase."""
    from benchharness.measure.monitor import PhaseMonitor, prepare_monitoring, resources_section
    from benchharness.measure.resources import measure_load

    prepare_monitoring()
    model, load = measure_load(lambda: AllocatingModel(load_mb, call_mb))
    with PhaseMonitor(interval_s=0.01) as monitor:
        for i in range(calls):
            model.predict(float(i))
    return resources_section(load, {"realtime": monitor.summary(predictions=calls)})
