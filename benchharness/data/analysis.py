"""Distribution analysis of the splits, run in every `bench run` (results["data"]["distribution"]).

The checklist asks whether train, validation and test come from the same distribution,
labels included. For each pair of splits (train against test, train against validation,
validation against test): every feature's drift (`drift.dataset_drift`), the label's drift and
its distribution, the sizes, and rows that appear in more than one split (leakage: a test row
the model saw in training inflates the test score). Findings worth a person's attention are
listed as one-line `warnings`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
from sklearn.utils.multiclass import type_of_target

from benchharness.context import Dataset, RunContext
from benchharness.data.contract import learn_contract
from benchharness.data.drift import column_drift, dataset_drift, thresholds_with_defaults

#: (reference, current) pairs compared, when both splits exist
PAIRS = [("train", "test"), ("train", "validation"), ("validation", "test")]


def _splits(ds: Dataset) -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    out = {"train": (ds.X_train, ds.y_train), "test": (ds.X_test, ds.y_test)}
    if ds.X_val is not None and len(ds.X_val):
        out = {"train": out["train"], "validation": (ds.X_val, ds.y_val), "test": out["test"]}
    return out


def is_classification(y: pd.Series, task: str = "auto") -> bool:
    if task != "auto":
        return task != "regression"
    return type_of_target(y.dropna()) not in ("continuous", "continuous-multioutput")


def label_distribution(y: pd.Series, classification: bool) -> dict:
    """Class counts and shares, or summary statistics of a numeric target."""
    if classification:
        counts = y.value_counts(dropna=False).sort_index()
        return {
            "counts": {str(k): int(v) for k, v in counts.items()},
            "shares": {str(k): float(v / len(y)) for k, v in counts.items()},
        }
    q = y.quantile([0.05, 0.5, 0.95])
    return {"mean": float(y.mean()), "std": float(y.std()), "min": float(y.min()), "max": float(y.max()),
            "p05": float(q.iloc[0]), "p50": float(q.iloc[1]), "p95": float(q.iloc[2])}


def row_hashes(X: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(X, index=False)


def leakage(splits: dict[str, tuple[pd.DataFrame, pd.Series]]) -> dict:
    """Rows of one split whose features also occur in another, and duplicates within train."""
    hashes = {name: row_hashes(X) for name, (X, _) in splits.items()}
    out: dict = {"within_train": int(hashes["train"].duplicated().sum())}
    for ref, cur in PAIRS:
        if ref in hashes and cur in hashes:
            seen = hashes[cur].isin(set(hashes[ref]))
            out[f"{ref}_{cur}"] = {"rows": int(seen.sum()), f"share_of_{cur}": float(seen.mean())}
    return out


def analyse_dataset(ds: Dataset, thresholds: dict | None = None, task: str = "auto") -> dict:
    """The whole distribution section for one dataset (pure: no context, no files)."""
    t = thresholds_with_defaults(thresholds)
    splits = _splits(ds)
    classification = is_classification(ds.y_train, task)
    total = sum(len(X) for X, _ in splits.values())
    comparisons = {}
    for ref, cur in PAIRS:
        if ref in splits and cur in splits:
            report = dataset_drift(splits[ref][0], splits[cur][0], thresholds=t)
            report["label"] = column_drift(splits[ref][1], splits[cur][1], t)
            comparisons[f"{ref}_vs_{cur}"] = report
    section = {
        "sizes": {name: {"rows": len(X), "share": len(X) / total} for name, (X, _) in splits.items()},
        "labels": {
            "task": "classification" if classification else "regression",
            **{name: label_distribution(y, classification) for name, (_, y) in splits.items()},
        },
        "comparisons": comparisons,
        "leakage": leakage(splits),
        "thresholds": t,
    }
    section["warnings"] = warnings(section)
    return section


def warnings(section: dict) -> list[str]:
    """One line per finding a person should look at before trusting the test score."""
    out = []
    for pair, rep in section["comparisons"].items():
        a, b = pair.split("_vs_")
        if rep["n_drifted"]:
            verdict = "dataset drift" if rep["dataset_drift"] else "some columns differ"
            cols = ", ".join(rep["drifted_columns"][:5]) + (" ..." if rep["n_drifted"] > 5 else "")
            out.append(f"{a} vs {b}: {verdict}: {rep['n_drifted']} of {rep['n_tested']} columns drifted ({cols})")
        if rep["label"].get("drift"):
            out.append(f"{a} vs {b}: the label distribution differs ({rep['label']['method']} "
                       f"score {rep['label']['score']:.3g}, threshold {rep['label']['threshold']:g})")
    leak = section["leakage"]
    for key, value in leak.items():
        if key != "within_train" and value["rows"]:
            a, b = key.split("_", 1)
            share = next(v for k, v in value.items() if k.startswith("share_of_"))
            out.append(f"leakage: {value['rows']} {b} rows ({share:.1%}) also appear in {a}")
    if leak["within_train"]:
        out.append(f"{leak['within_train']} duplicate rows within train")
    return out


def data_analysis_stage(ctx: RunContext) -> None:
    """Run stage: add results["data"]["distribution"] (keys the data stage wrote are kept)."""
    if ctx.dataset is None:
        return
    splits = "train / validation / test" if ctx.dataset.X_val is not None else "train / test"
    ctx.progress(f"analysing the distribution of {splits}")
    try:
        section = analyse_dataset(ctx.dataset, dataclasses.asdict(ctx.suite.drift), ctx.suite.quality.task)
    except Exception as exc:  # an analysis that fails must not cost the run its measurements
        section = {"error": f"{type(exc).__name__}: {exc}", "warnings": [f"distribution analysis failed: {exc}"]}
    ctx.results.setdefault("data", {})["distribution"] = section
    for line in section["warnings"]:
        ctx.progress(f"data: {line}")


def data_contract_stage(ctx: RunContext) -> None:
    """Run stage: learn the contract from the training features, save run_dir/contract.yaml."""
    if ctx.dataset is None:
        return
    options = dataclasses.asdict(ctx.suite.contract)
    try:
        contract = learn_contract(ctx.dataset.X_train, learned_from={"split": "train", "run_id": ctx.results.get("run_id")},
                                  **options)
        path = contract.save(ctx.run_dir / "contract.yaml")
    except Exception as exc:  # as above: record, go on
        ctx.results.setdefault("data", {})["contract"] = {"error": f"{type(exc).__name__}: {exc}"}
        ctx.progress(f"data contract not learned: {type(exc).__name__}: {exc}")
        return
    ctx.results.setdefault("data", {})["contract"] = {
        "path": path.name,
        "columns": len(contract.columns),
        "options": contract.learned_from.get("options", {}),
    }
    ctx.progress(f"data contract: {path} ({len(contract.columns)} columns); check new data with "
                 f"`bench validate --contract {path} DATA`")


def distribution_lines(results: dict) -> list[str]:
    """A few lines for the terminal report: sizes, drift per pair, warnings."""
    dist = (results.get("data") or {}).get("distribution")
    if not dist or "error" in dist:
        return [f"data: distribution analysis failed: {dist['error']}"] if dist else []
    sizes = ", ".join(f"{k} {v['rows']}" for k, v in dist["sizes"].items())
    lines = [f"data: {sizes} rows"]
    for pair, rep in dist["comparisons"].items():
        lines.append(f"  {pair.replace('_', ' ')}: {rep['n_drifted']}/{rep['n_tested']} columns drifted"
                     + (" (dataset drift)" if rep["dataset_drift"] else ""))
    lines += [f"  ! {w}" for w in dist["warnings"]]
    return lines
