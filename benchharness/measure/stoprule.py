"""When a timed phase has enough samples: the stop rule.

The run's measurements use it as one fixed window per trial (min = max = the trial's share
of the budget, `stages._fixed_window`): whether a figure is pinned down is judged across
trials (`intervals.stability`), not inside one process, whose samples are correlated.
The adaptive rule below stays for callers of `run_closed_loop` that time one window.

A phase runs at least `min_duration_s` AND `min_count` samples, then stops as soon as the
confidence interval of the tail percentile (`percentile`, binomial order statistics, see
`stats.py`) is narrower than `rel_width` of its point value, and at the latest after
`max_duration_s` (or `max_count` samples). Stopping at the limit means the figure is not
pinned down: the phase reports `stable: false`.

Defaults (realtime closed loop): at least 1 s and 100 requests, p99 interval at 95%
confidence within 5% of p99, at most 5 s. LoadGen asks 10 s and 100 queries by default; we
stop earlier only when the interval says the tail is already measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from benchharness.measure.stats import relative_width


@dataclass(frozen=True)
class StopRule:
    min_duration_s: float = 1.0
    min_count: int = 100
    max_duration_s: float = 5.0
    percentile: float = 99.0
    confidence: float = 0.95
    rel_width: float = 0.05
    max_count: int = 2_000_000  # memory bound: 16 MB of int64 samples

    @classmethod
    def from_config(cls, cfg: dict) -> StopRule:
        """From a suite section (realtime or batch): `duration_s` is the maximum, and a
        `min_duration_s` above it is lowered to it."""
        names = {
            "min_duration_s": "min_duration_s", "duration_s": "max_duration_s",
            "min_count": "min_count", "stop_percentile": "percentile",
            "ci_confidence": "confidence", "ci_rel_width": "rel_width",
        }
        kwargs = {field: cfg[key] for key, field in names.items() if cfg.get(key) is not None}
        rule = cls(**kwargs)
        if rule.min_duration_s > rule.max_duration_s:
            rule = replace(rule, min_duration_s=rule.max_duration_s)
        return rule

    def is_stable(self, samples: np.ndarray) -> bool:
        return relative_width(samples, self.percentile, self.confidence) <= self.rel_width

    def decide(self, samples: np.ndarray, elapsed_s: float) -> str | None:
        """Why to stop now ("stable", "max_duration", "max_count"), or None to go on."""
        n = len(samples)
        if n >= self.max_count:
            return "max_count"
        if elapsed_s >= self.max_duration_s:
            return "max_duration"
        if elapsed_s < self.min_duration_s or n < self.min_count:
            return None
        return "stable" if self.is_stable(samples) else None

    def to_dict(self) -> dict:
        return asdict(self)
