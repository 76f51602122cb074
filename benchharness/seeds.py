"""Every seed a run uses, from one function: the suite's `realtime.trial_seed` plus a fixed
offset per purpose, so two purposes never share a random stream and a run with the same
suite repeats its order exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchharness.suite import Suite

#: purpose -> offset from realtime.trial_seed (the first three are the trials' three phases)
OFFSETS = {"trials": 0, "open loop sweeps": 1, "open loop trials": 2, "extra trials": 100,
           "halving": 500}


def seed_for(suite: Suite, purpose: str, step: int = 0) -> int:
    """The seed of `purpose` (a key of OFFSETS), at its `step`-th use."""
    return int(suite.realtime.trial_seed) + OFFSETS[purpose] + step
