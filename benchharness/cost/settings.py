"""The suite's traffic section, typed (`config.py` validates it and fills the defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrafficSettings:
    peak_rps: float  # real time: the busiest second the service must serve
    daily_volume: float  # real-time predictions per day
    batch_rows_per_day: float  # rows scored by batch jobs per day
