"""Files for the README's monitoring walk-through: history, a live batch, labels that arrive later.

    python benchmarks/monitoring_example.py --out monitoring-example

writes, under --out:
  history.csv   30 days of labelled rows (id, ts, features, target): what the model is trained on
  suite.yaml    a suite that trains the candidate on history.csv
  batch.csv     the next 7 days as they arrive in production (no target); a few broken rows
  labels.csv    the ground truth of the batch, arriving later (id, target); on the last day
                the relation between features and label changed, so the model is wrong there
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROWS_PER_DAY = 144  # one every 10 minutes


def make(rng: np.random.Generator, days: int, start: str, id_from: int) -> pd.DataFrame:
    n = days * ROWS_PER_DAY
    frame = pd.DataFrame({
        "id": np.arange(id_from, id_from + n),
        "ts": pd.date_range(start, periods=n, freq="10min").strftime("%Y-%m-%d %H:%M"),
        "amount": rng.gamma(2.0, 50.0, n).round(2),
        "age": rng.integers(18, 80, n),
        "channel": rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2]),  # web, app, store
    })
    score = (frame["amount"] - 100) / 60 + (frame["channel"] == 1) * 0.8 - (frame["age"] - 50) / 30
    frame["target"] = (score + rng.normal(0, 0.7, n) > 0).astype(int)
    return frame


SUITE = """\
name: monitoring-example
data: {source: history.csv, target: target, id_column: id, time_column: ts}
candidates:
  - {name: forest, train: sklearn.ensemble.RandomForestClassifier,
     params: {n_estimators: 50, max_depth: 6, random_state: 0}}
realtime: {duration_s: 1}
batch: {duration_s: 0.5, batch_sizes: [1, 256]}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("monitoring-example"))
    out = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    make(rng, 30, "2024-05-01", 0).to_csv(out / "history.csv", index=False)
    (out / "suite.yaml").write_text(SUITE)
    batch = make(rng, 7, "2024-05-31", 10**6)
    labels = batch[["id", "target"]].copy()
    last_day = batch["ts"] >= "2024-06-06"
    labels.loc[last_day, "target"] = rng.integers(0, 2, int(last_day.sum()))  # the world changed
    live = batch.drop(columns="target").astype({"age": str})
    live.loc[[5, 77], "age"] = ["-3", "unknown"]  # broken upstream rows: quarantined, not scored
    live.loc[300, "channel"] = 7  # a channel code training never saw
    live.to_csv(out / "batch.csv", index=False)
    labels.to_csv(out / "labels.csv", index=False)
    print(f"wrote {out}/history.csv, suite.yaml, batch.csv, labels.csv")


if __name__ == "__main__":
    main()
