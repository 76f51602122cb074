"""The suite as typed sections: what `config.load_suite` returns and every stage reads.

`config.py` owns loading: the YAML, `--quick`, `--set`, the checks with their did-you-mean
errors and every default. It hands the validated mapping to `from_validated`, which builds
one frozen dataclass per section; each section's class lives next to the package that uses
it (measure/settings.py, data/settings.py, quality/settings.py, cost/settings.py,
history/settings.py). Stages read attributes (`ctx.suite.realtime.trials`).

`plan` stays a mapping, on purpose: the people's answers to checklist questions, copied as
they are into results. A candidate's entry is a `CandidateSettings`; tune, training and
`serve: true` make changed copies of it (`dataclasses.replace`), never edit it in place.
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

__all__ = ["Suite", "CandidateSettings", "candidate_from", "from_validated", "SECTIONS",
           "BootstrapSettings", "OpenLoopSettings", "SplitSettings"]


@dataclass(frozen=True)
class CandidateSettings:
    name: str
    model: str | None  # a path (resolved against the suite's folder), URL or module:attr
    format: str | None  # an adapter forced where the suffix is ambiguous
    train: str | None  # a dotted class path, e.g. sklearn.ensemble.RandomForestClassifier
    params: dict[str, Any]
    export: str | None  # onnx
    preprocess: str | None  # auto
    options: dict[str, Any]  # adapter options (e.g. onnxruntime session options)
    baseline: bool  # a declared baseline (e.g. today's production model)
    limits: list[Any] | dict[str, Any]  # this candidate's own limits, figure by figure
    serve: bool  # measured behind `bench serve` over loopback HTTP
    tune: dict[str, Any] | None  # a search space of deployments (tune/space.py)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    data: DataSettings
    candidates: list[CandidateSettings]  # tune replaces a tuned one by its variants, in place
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

    def candidate(self, name: str) -> CandidateSettings | None:
        """The entry of the candidate called `name`, or None."""
        return next((c for c in self.candidates if c.name == name), None)


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


def candidate_from(entry: dict[str, Any]) -> CandidateSettings:
    """A candidate from its validated mapping (config.CANDIDATE's keys, defaults filled)."""
    return typing.cast(CandidateSettings, _build(CandidateSettings, entry))


def from_validated(suite: dict[str, Any], traffic_given: tuple[str, ...] = ()) -> Suite:
    """The typed suite from `config`'s validated mapping (every key present)."""
    values = dict(suite)
    values["candidates"] = [candidate_from(c) for c in suite["candidates"]]
    values["plan"] = suite.get("plan") or {}
    values["traffic_given"] = tuple(traffic_given)
    return typing.cast(Suite, _build(Suite, values))
