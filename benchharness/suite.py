"""The suite as typed sections: what `config.load_suite` returns and every stage reads.

`config.py` owns loading: the YAML, `--quick`, `--set`, the checks with their did-you-mean
errors and every default. It hands the validated mapping to `from_validated`, which builds
one frozen dataclass per section; each section's class lives next to the package that uses
it (measure/settings.py, data/settings.py, quality/settings.py, cost/settings.py,
history/settings.py). Stages read attributes (`ctx.suite.realtime.trials`).

Two parts stay mappings, on purpose: each candidate's entry (`candidates`), because it
travels to child processes and tune writes variants of it, and `plan`, the people's answers
to checklist questions, copied as they are into results.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from benchharness.cost.settings import TrafficSettings
from benchharness.data.settings import ContractSettings, DataSettings, DriftSettings, SplitSettings
from benchharness.history.settings import TrackingSettings
from benchharness.measure.settings import (
    BatchSettings,
    IsolationSettings,
    OpenLoopSettings,
    RealtimeSettings,
    ThreadsSettings,
)
from benchharness.quality.settings import BootstrapSettings, QualitySettings

__all__ = ["Suite", "from_validated", "SECTIONS", "BootstrapSettings", "OpenLoopSettings",
           "SplitSettings"]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    data: DataSettings
    candidates: list[dict[str, Any]]  # each candidate's validated entry (see the module's note)
    quality: QualitySettings
    realtime: RealtimeSettings
    batch: BatchSettings
    limits: list[Any] | dict[str, Any] | None  # a list, or {fail: [...], warn: [...]}
    objective: str | list[str] | None
    plan: dict[str, Any]
    drift: DriftSettings
    contract: ContractSettings
    threads: ThreadsSettings
    isolation: IsolationSettings
    profile: str | None  # a profiles/*.yaml name or a path; None: local
    traffic: TrafficSettings
    tracking: TrackingSettings
    # the traffic keys the suite file states (the others are defaults, and the report says so)
    traffic_given: tuple[str, ...] = ()

    def candidate(self, name: str) -> dict[str, Any] | None:
        """The entry of the candidate called `name`, or None."""
        return next((c for c in self.candidates if c["name"] == name), None)


#: every section that is a dataclass, by its key in the suite (what the schema test checks)
SECTIONS: dict[str, type] = {
    "data": DataSettings, "quality": QualitySettings, "realtime": RealtimeSettings,
    "batch": BatchSettings, "drift": DriftSettings, "contract": ContractSettings,
    "threads": ThreadsSettings, "isolation": IsolationSettings, "traffic": TrafficSettings,
    "tracking": TrackingSettings,
}


def _build(cls: type, values: dict[str, Any]) -> Any:
    """`cls` from a validated mapping; a field typed as a section class is built from its
    mapping too (realtime.open_loop, data.split, quality.bootstrap)."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = values[f.name]
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = _build(typing.cast(type, kind), value)
        kwargs[f.name] = value
    return cls(**kwargs)


def from_validated(suite: dict[str, Any], traffic_given: tuple[str, ...] = ()) -> Suite:
    """The typed suite from `config`'s validated mapping (every key present)."""
    values = dict(suite)
    values["plan"] = suite.get("plan") or {}
    values["traffic_given"] = tuple(traffic_given)
    return typing.cast(Suite, _build(Suite, values))
