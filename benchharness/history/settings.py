"""The suite's tracking section, typed (`config.py` validates it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackingSettings:
    mlflow: str | None  # tracking URI: sqlite:///mlflow.db or a server's http(s) URL
    experiment: str | None  # None: the suite's name
