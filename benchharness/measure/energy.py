"""CPU energy from Intel/AMD RAPL counters (Linux powercap), where they can be read.

    with RaplMeter() as meter:
        ... n predictions ...
    section = meter.summary(predictions=n)

RAPL counts the energy of a whole CPU package (socket), every process on it included, so on
a busy or shared machine the figure is an upper bound for one model. Counters are read at
the start and end of the phase only (no sampling); wrap-around is handled with
`max_energy_range_uj`. Where no counter can be read (no powercap, a VM, or energy_uj
readable by root only, as on most distributions since 2020), the figure is None with the
reason; no estimate is made up.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
SOURCE = "rapl (whole CPU package, all processes)"
_TOP_LEVEL = re.compile(r"^intel-rapl:\d+$")  # packages; sub-zones (core, dram) are inside them


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def rapl_domains(root: Path = POWERCAP) -> tuple[list[Path], str | None]:
    """Top-level RAPL zones whose counter this process can read, or why there are none."""
    if not root.is_dir():
        return [], f"no RAPL counters ({root} does not exist)"
    zones = sorted(p for p in root.iterdir() if _TOP_LEVEL.match(p.name))
    if not zones:
        return [], f"no RAPL counters under {root}"
    readable = [z for z in zones if _read_int(z / "energy_uj") is not None]
    if not readable:
        return [], f"RAPL counters under {root} are not readable by this user"
    return readable, None


class RaplMeter:
    """Context manager: joules used by the CPU packages over one phase."""

    def __init__(self, root: Path = POWERCAP):
        self.zones, self.reason = rapl_domains(root)
        self._start: list[int | None] = []
        self._end: list[int | None] = []
        self._wall_s = 0.0

    def _read(self) -> list[int | None]:
        return [_read_int(z / "energy_uj") for z in self.zones]

    def __enter__(self) -> RaplMeter:
        self._start = self._read()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._end = self._read()
        self._wall_s = time.perf_counter() - self._t0

    def energy_j(self) -> float | None:
        if not self.zones:
            return None
        total_uj = 0
        for zone, a, b in zip(self.zones, self._start, self._end, strict=True):
            if a is None or b is None:
                return None
            if b < a:  # the counter wrapped once during the phase
                b += _read_int(zone / "max_energy_range_uj") or 0
            total_uj += b - a
        return total_uj / 1e6

    def summary(self, predictions: int | None = None) -> dict:
        energy = self.energy_j()
        if energy is None:
            return {"cpu_energy_j": None, "energy_source": None,
                    "reason": self.reason or "a RAPL counter could not be read"}
        out = {
            "cpu_energy_j": round(energy, 4),
            "energy_source": SOURCE,
            "cpu_power_mean_w": round(energy / self._wall_s, 2) if self._wall_s > 0 else None,
            "zones": [(z / "name").read_text().strip() if (z / "name").exists() else z.name for z in self.zones],
        }
        if predictions:
            out["cpu_energy_per_prediction_j"] = energy / predictions
        return out
