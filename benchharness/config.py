"""The suite file: schema, defaults, YAML loading and validation.

The schema is one dict per section: key -> Field(type, default, check). Unknown keys are
errors (a typo must not silently change a benchmark). Every error names the key, the value
received and what is allowed. Each capability owns its section below; add keys there.
"""

from __future__ import annotations

import copy
import difflib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from benchharness.errors import SuiteError
from benchharness.suite import Suite, from_validated

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_suite_path() -> Path:
    """The built-in quickstart suite, shipped inside the package (found from a wheel too)."""
    return Path(str(resources.files("benchharness") / "suites" / "quickstart.yaml"))


_NO_DEFAULT = object()


@dataclass(frozen=True)
class Field:
    types: tuple | type
    default: Any = None
    check: Callable[[Any], str | None] | None = None  # returns what is allowed, or None if ok
    required: bool = False
    section: dict | None = None  # nested schema for dict values
    items: dict | None = None  # schema for each dict in a list value


# -- checks ---------------------------------------------------------------------------------
def positive(v) -> str | None:
    return None if v > 0 else "a positive number"


def non_negative(v) -> str | None:
    return None if v >= 0 else "a number >= 0"


def fraction(v) -> str | None:
    return None if 0 < v < 1 else "a number between 0 and 1 (exclusive)"


def positive_ints(v) -> str | None:
    ok = v and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
    return None if ok else "a non-empty list of positive integers"


MAX_BATCH_ROWS = 1_000_000  # one call; the batch is built in memory (1e8 rows took 8.7 GB here)


def batch_size_list(v) -> str | None:
    if positive_ints(v):
        return positive_ints(v)
    return None if max(v) <= MAX_BATCH_ROWS else f"a list of positive integers up to {MAX_BATCH_ROWS:,} rows per call"


def one_of(*allowed) -> Callable[[Any], str | None]:
    def check(v):
        return None if v in allowed else "one of " + ", ".join(map(str, allowed))

    return check


NUM = (int, float)

# -- sections ---------------------------------------------------------------------------------
SPLIT = {
    "test_size": Field(NUM, 0.25, fraction),
    "validation_size": Field(NUM, 0.0, lambda v: None if 0 <= v < 1 else "a number in [0, 1)"),
    "seed": Field(int, 0),
    "stratify": Field(bool, True),
    "time_ordered": Field(bool, False),  # last rows by data.time_column go to test
}

DATA = {
    "source": Field(str),  # sklearn:NAME, or a .csv / .parquet path
    "train": Field(str),
    "test": Field(str),
    "validation": Field(str),
    "target": Field(str, "target"),
    "features": Field(list),  # default: every column but target/id/time
    "drop": Field(list, []),
    "id_column": Field(str),
    "time_column": Field(str),
    "resampled": Field(bool, False),  # the training data was re-sampled (quality compares balance)
    "split": Field(dict, None, section=SPLIT),
}

CANDIDATE = {
    "name": Field(str, required=True),
    "model": Field(str),  # a path (relative to the suite), URL or module:attr
    "format": Field(str),  # force an adapter when the suffix is ambiguous
    "train": Field(str),  # dotted class path, e.g. sklearn.ensemble.RandomForestClassifier
    "params": Field(dict, {}),
    "export": Field(str, None, one_of("onnx")),
    "preprocess": Field(str, None, one_of("auto")),  # impute + one-hot text columns before a train: estimator
    "options": Field(dict, {}),  # adapter options (e.g. onnxruntime session options)
    "baseline": Field(bool, False),  # a declared baseline (e.g. today's production model)
    "limits": Field((list, dict), [], lambda v: _check_limits(v)),  # override the suite's, figure by figure
    "serve": Field(bool, False),  # measure it behind `bench serve` over loopback HTTP
    "tune": Field(dict, None),  # a search space of deployments (tune/space.py checks it)
}

def percent(v) -> str | None:
    return None if 0 < v < 100 else "a percentile between 0 and 100 (exclusive)"


def positive_numbers(v) -> str | None:
    ok = v and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in v)
    return None if ok else "a non-empty list of positive numbers"


def cpu_list(v) -> str | None:
    ok = v and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
    if not ok:
        return "a non-empty list of CPU numbers (integers >= 0)"
    # checked here, not only in each child: a CPU this machine lacks is a suite error
    # (exit 2, nothing measured), not every candidate failing the same way
    have = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if have is not None and not set(v) <= set(have):
        return f"CPUs this process may use: {have}"
    return None


# Trials (docs/measurement.md): each timed measurement runs as `trials` fresh children,
# interleaved across candidates in an order seeded by `trial_seed`; one trial times
# budget_s / trials seconds (budget_s defaults to duration_s, so trials replace one long
# window). A figure whose trials disagree by more than `unstable_cv` (std/mean; twice that
# for p99/p99.9) is marked unstable. A measured limit still inconclusive gets more trials,
# up to `max_trials`. `run_cv` is the relative standard deviation of a figure between
# identical runs that the trials of one run cannot see (the machine's state drifts over
# minutes); every measured interval is widened by it (measure/intervals.py). The default is
# what `benchmarks/aa_test.py` measured between identical runs of the quickstart on a 2-core
# VM; set 0 to get the trials-only interval, more on a machine that drifts more.
RUN_CV = 0.03
BATCH_RUN_CV = 0.10  # batch throughput uses every core: it moved ~10% between identical runs
OPEN_LOOP = {
    "enabled": Field(bool, True),
    "rates_per_s": Field(list, None, positive_numbers),  # default: fractions of closed-loop qps
    "fractions": Field(list, [0.5, 0.8, 0.95], positive_numbers),
    "refine_steps": Field(int, 1, non_negative),  # bisections between last pass and first fail
    "arrival": Field(str, "poisson", one_of("poisson", "constant")),
    "workers": Field(int, 1, positive),  # concurrent requests in service
    "duration_s": Field(NUM, 1.0, positive),  # per rate, per trial
    "trials": Field(int, 3, positive),  # the sweep's measurement of the chosen rates + 2 more
    "min_count": Field(int, 100, positive),  # requests per rate, whatever the duration
    "p99_limit_ms": Field(NUM, None, positive),  # a hard p99 limit wins; default: max(5 x closed p99, 1 ms)
    "late_threshold_ms": Field(NUM, 1.0, positive),
    "seed": Field(int, 0),
    "timeout_s": Field(NUM, None, positive),  # default: derived from the sweep's length
}

REALTIME = {
    "duration_s": Field(NUM, 5.0, positive),  # the closed loop's budget when budget_s is unset
    "trials": Field(int, 5, positive),
    "budget_s": Field(NUM, None, positive),  # timed seconds over all trials (default: duration_s)
    "max_trials": Field(int, 10, positive),  # the most trials an inconclusive limit may add up to
    "trial_seed": Field(int, 0),  # order of the interleaved trials, bootstrap seeds
    "unstable_cv": Field(NUM, 0.10, positive),
    "run_cv": Field(NUM, RUN_CV, non_negative),  # drift between runs that trials cannot see
    "min_duration_s": Field(NUM, 1.0, positive),  # unused by trials (fixed windows); kept valid
    "min_count": Field(int, 100, positive),
    "stop_percentile": Field(NUM, 99.0, percent),
    "ci_confidence": Field(NUM, 0.95, fraction),
    "ci_rel_width": Field(NUM, 0.05, positive),
    "warmup_count": Field(int, 20, non_negative),
    "warmup_s": Field(NUM, 0.2, non_negative),  # per trial
    "rows_per_request": Field(int, 1, positive),
    "timeout_s": Field(NUM, None, positive),  # default: 60 s + twice warm-up and duration
    "synthetic_rows": Field(int, 1024, positive),  # perf-only candidates: generated rows
    "synthetic_seed": Field(int, 0),
    "open_loop": Field(dict, None, section=OPEN_LOOP),
}

BATCH = {
    "batch_sizes": Field(list, [1, 64, 1024], batch_size_list),
    "duration_s": Field(NUM, 2.0, positive),  # one batch size's budget when budget_s is unset
    "trials": Field(int, 4, positive),  # 4 + 4 trials: the least `bench compare` can test at 5%
    "budget_s": Field(NUM, None, positive),  # timed seconds per batch size over all trials
    "max_trials": Field(int, 6, positive),
    "unstable_cv": Field(NUM, 0.10, positive),
    "run_cv": Field(NUM, BATCH_RUN_CV, non_negative),
    "min_duration_s": Field(NUM, 0.5, positive),
    "min_count": Field(int, 20, positive),
    "stop_percentile": Field(NUM, 90.0, percent),
    "ci_confidence": Field(NUM, 0.95, fraction),
    "ci_rel_width": Field(NUM, 0.05, positive),
    "warmup_count": Field(int, 2, non_negative),
    "warmup_s": Field(NUM, 0.1, non_negative),  # per batch size
    "full_split": Field(bool, True),  # also time the whole test split in one call
    "timeout_s": Field(NUM, None, positive),  # default: 60 s + twice the sweep's length
}

# How measurement children start (isolate.py): forkserver forks each child from a server
# that has imported the libraries (never a model); spawn starts a new interpreter each time.
ISOLATION = {
    "start_method": Field(str, "forkserver", one_of("forkserver", "spawn")),
    "preload": Field(list, []),  # extra modules the fork server imports (the formats' are added)
    # address-space cap of every measurement child (RLIMIT_AS, MB); past it that candidate
    # fails with one line. Counts what the libraries map too: leave room (1000+ MB for torch)
    "memory_limit_mb": Field(NUM, None, positive),
}

# Threads and CPUs of every measurement child (measure/threads.py), recorded in results.
THREADS = {
    "intra_op": Field(int, 1, positive),  # onnxruntime intra_op_num_threads (unless the candidate sets it)
    "inter_op": Field(int, 1, positive),  # onnxruntime inter_op_num_threads
    "blas": Field(int, 1, positive),  # OpenMP/MKL/OpenBLAS threads (env + threadpoolctl)
    "affinity": Field(list, None, cpu_list),  # CPUs the child may run on; default: all
}

def window_size(v) -> str | None:
    """A time window: a calendar period or a positive number of rows."""
    ok = v in ("day", "week", "month") if isinstance(v, str) else v > 0
    return None if ok else "day, week, month or a positive number of rows"


def baseline_names(v) -> str | None:
    from benchharness.quality.baselines import ALL_BASELINES

    return None if all(b in ALL_BASELINES for b in v) else "a list drawn from " + ", ".join(ALL_BASELINES)


BOOTSTRAP = {
    "resamples": Field(int, 1000, positive),
    "seed": Field(int, 0),
    "confidence": Field(NUM, 0.95, fraction),
}

QUALITY = {
    "task": Field(str, "auto", one_of("auto", "binary", "multiclass", "regression")),
    "primary_metric": Field(str),  # checked against the task once it is known
    "baselines": Field(list, None, baseline_names),  # automatic baselines; default: all for the task
    "bootstrap": Field(dict, None, section=BOOTSTRAP),
    "subgroups": Field(list, []),  # columns to slice the test metrics by
    "min_group_rows": Field(int, 30, positive),  # fewer rows: shown, marked, never the worst
    "bins": Field(int, 4, lambda v: None if v >= 2 else "an integer >= 2"),  # quantile bins
    "window": Field((str, int), None, window_size),  # time windows over the test span
    "production_window": Field((str, int), None, window_size),  # the window production is judged on
    "overfit_gap": Field(NUM, 0.1, positive),  # relative drop train -> test that flags overfitting
}

# -- limits, objective, plan (decide/limits.py, decide/verdict.py, report/checklist.py) ---
def _check_limits(v) -> None:
    from benchharness.decide.limits import check_spec

    check_spec(v)  # raises SuiteError showing the expression and the allowed form


def _check_objective(v) -> None:
    from benchharness.decide.verdict import _TERM, parse_objective

    try:
        parse_objective(v)
    except SuiteError:
        for item in [v] if isinstance(v, str) else v if isinstance(v, list) else []:
            m = _TERM.match(item) if isinstance(item, str) else None
            hint = _figure_hint(m.group(2)) if m else ""
            if hint:
                raise SuiteError(f"'objective' term {item!r}: unknown name {m.group(2)!r}{hint}") from None
        raise


def _figure_hint(name: str) -> str:
    """' (did you mean accuracy?)' for a misspelt figure or metric name; '' for a known one."""
    from benchharness.decide import figures

    if name in figures.MEASURES or figures.is_quality_name(name) or "." in name:
        return ""
    close = difflib.get_close_matches(name, [*figures.MEASURES, *figures.QUALITY_METRICS], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


TEXT = (str, int, float)
# the checklist items only people can answer (see report/checklist.py PLAN_KEYS)
PLAN = {
    "ground_truth": Field(TEXT),
    "ground_truth_delay": Field(TEXT),
    "human_in_the_loop": Field(TEXT),
    "feedback": Field(TEXT),
    "fallback": Field(TEXT),
    "wrong_prediction_cost": Field(TEXT),
    "transparency": Field(TEXT),
    "ethics": Field(TEXT),
    "integration": Field(str, None, one_of("batch", "realtime", "both")),
    "data_lineage": Field(TEXT),
    "retraining": Field(TEXT),
}

DRIFT = {  # data.drift: which test decides per column, and the thresholds (DESIGN.md defaults)
    "small_reference_rows": Field(int, 1000, positive),  # <= this: statistical tests, else distances
    "p_value": Field(NUM, 0.05, fraction),  # KS / chi-squared / proportion test: drift when p < this
    "wasserstein": Field(NUM, 0.1, positive),  # Wasserstein / reference std: drift when >= this
    "jensen_shannon": Field(NUM, 0.1, positive),  # Jensen-Shannon distance (base 2): drift when >= this
    "psi_warn": Field(NUM, 0.1, positive),
    "psi_alert": Field(NUM, 0.2, positive),
    "psi_bins": Field(int, 10, positive),
    "numeric_min_unique": Field(int, 5, non_negative),  # numeric with more distinct values: KS/Wasserstein
    "dataset_share": Field(NUM, 0.5, lambda v: None if 0 < v <= 1 else "a number in (0, 1]"),
}

CONTRACT = {  # the data contract learned from the training data (run_dir/contract.yaml)
    "range_tolerance": Field(NUM, 0.1, non_negative),  # share of the training span added on each side
    "max_categories": Field(int, 50, non_negative),  # more distinct strings: free text, not checked
    "null_rate_tolerance": Field(NUM, 0.05, non_negative),  # batch null rate allowed above training's
    "extra_columns": Field(str, "warn", one_of("ignore", "warn", "quarantine")),
}

# -- hardware profile and traffic (resources and cost) ------------------------------------
TRAFFIC = {
    "peak_rps": Field(NUM, 100, positive),  # real-time: the busiest second the service must serve
    "daily_volume": Field(NUM, 1_000_000, positive),  # real-time predictions per day
    "batch_rows_per_day": Field(NUM, 10_000_000, positive),  # rows scored by batch jobs per day
}

# Logging the run to MLflow tracking (history/mlflow_log.py); `bench run --mlflow URI` sets it.
TRACKING = {
    "mlflow": Field(str),  # tracking URI: sqlite:///mlflow.db (embedded) or a server's http(s) URL
    "experiment": Field(str),  # default: the suite's name
}

SUITE = {
    "name": Field(str, required=True),
    "description": Field(str, ""),
    "data": Field(dict, None, section=DATA),
    "candidates": Field(list, required=True, items=CANDIDATE),
    "quality": Field(dict, None, section=QUALITY),
    "realtime": Field(dict, None, section=REALTIME),
    "batch": Field(dict, None, section=BATCH),
    "limits": Field((list, dict), None, _check_limits),  # list, or {fail: [...], warn: [...]}
    "objective": Field((str, list), None, _check_objective),  # e.g. [max accuracy within 0.005, min usd_per_million]
    "plan": Field(dict, None, section=PLAN),
    "drift": Field(dict, None, section=DRIFT),
    "contract": Field(dict, None, section=CONTRACT),
    "threads": Field(dict, None, section=THREADS),
    "isolation": Field(dict, None, section=ISOLATION),
    "profile": Field(str),  # a profiles/*.yaml name or a path (default: local)
    "traffic": Field(dict, None, section=TRAFFIC),
    "tracking": Field(dict, None, section=TRACKING),
}

# What --quick changes: short windows, small sweeps.
QUICK = {
    "realtime": {
        "duration_s": 0.5, "min_duration_s": 0.2, "warmup_count": 10, "warmup_s": 0.05,
        "trials": 3, "max_trials": 5,
        "open_loop": {"duration_s": 0.3, "min_count": 20, "fractions": [0.5, 0.9], "refine_steps": 0,
                      "trials": 2},
    },
    "batch": {"duration_s": 0.3, "min_duration_s": 0.1, "batch_sizes": [1, 256]},
    "quality": {"bootstrap": {"resamples": 200}},
}


# -- validation ---------------------------------------------------------------------------------
def _type_name(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false",
             list: "a list", dict: "a mapping"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _is_type(value, types) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def validate_section(raw: Any, schema: dict, where: str) -> dict:
    """Check `raw` against `schema`, fill defaults, return a new dict."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SuiteError(f"{where or 'suite'} must be a mapping, got {raw!r}")
    unknown = [k for k in raw if k not in schema]
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        close = difflib.get_close_matches(str(unknown[0]), list(schema), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SuiteError(f"unknown key {key!r}{hint}; allowed: {', '.join(schema)}")
    out = {}
    for key, f in schema.items():
        path = f"{where}.{key}" if where else key
        if key not in raw or raw[key] is None:
            if f.required:
                raise SuiteError(f"missing required key {path!r}")
            if f.section is not None:
                out[key] = validate_section({}, f.section, path)
            else:
                out[key] = copy.deepcopy(f.default)
            continue
        value = raw[key]
        if not _is_type(value, f.types):
            raise SuiteError(f"{path!r} must be {_type_name(f.types)}, got {value!r}")
        if f.section is not None:
            value = validate_section(value, f.section, path)
        if f.items is not None:
            value = [validate_section(item, f.items, f"{path}[{i}]") for i, item in enumerate(value)]
        if f.check is not None:
            allowed = f.check(value)
            if allowed:
                raise SuiteError(f"{path!r} must be {allowed}, got {value!r}")
        out[key] = value
    return out


def _check_trials(suite: dict) -> None:
    """`max_trials` is the most trials a figure gets, the first `trials` included."""
    for section in ("realtime", "batch"):
        sec = suite.get(section) or {}
        trials, most = sec.get("trials"), sec.get("max_trials")
        if trials is not None and most is not None and trials > most:
            raise SuiteError(f"{section}.trials {trials} is more than {section}.max_trials {most} "
                             "(the most trials a figure may get, the extra ones an inconclusive "
                             f"limit adds included); raise max_trials to at least {trials} or "
                             "lower trials")


def _check_candidates(suite: dict) -> None:
    names = [c["name"] for c in suite["candidates"]]
    if not names:
        raise SuiteError("'candidates' must list at least one candidate, got []")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SuiteError(f"candidate names must be unique, got {dupes} more than once")
    for i, c in enumerate(suite["candidates"]):
        given = [k for k in ("model", "train") if c[k]]
        if len(given) != 1:
            raise SuiteError(
                f"candidates[{i}] ({c['name']!r}) must have exactly one of 'model' or 'train', got {given or 'neither'}"
            )
        if c["export"] and not c["train"]:
            raise SuiteError(f"candidates[{i}] ({c['name']!r}): 'export' needs 'train', got model {c['model']!r}")
        from benchharness.tune.space import validate as validate_tune

        c["tune"] = validate_tune(c["tune"], f"candidates[{i}].tune")


def _check_data(suite: dict, given: bool) -> None:
    d = suite["data"]
    has_source = bool(d["source"])
    has_files = bool(d["train"] or d["test"])
    if given and not (has_source or has_files):
        raise SuiteError("data: needs 'source' (a .csv/.parquet file or sklearn:NAME, split by the harness) "
                         "or 'train' and 'test' files; got neither")
    if has_source and has_files:
        raise SuiteError("data: give either 'source' (split by the harness) or 'train' and 'test', not both")
    if has_files and not (d["train"] and d["test"]):
        raise SuiteError(f"data: 'train' and 'test' go together, got train={d['train']!r} test={d['test']!r}")


def _resolve_paths(suite: dict, base: Path) -> None:
    """Paths in the suite are relative to the suite file."""

    def resolve(p: str | None) -> str | None:
        if not p or "://" in p or p.startswith(("sklearn:", "models:/")) or _looks_like_callable(p):
            return p
        path = Path(p)
        return str(path if path.is_absolute() else (base / path).resolve())

    d = suite["data"]
    for key in ("source", "train", "test", "validation"):
        d[key] = resolve(d[key])
    for c in suite["candidates"]:
        c["model"] = resolve(c["model"])
        if c["model"] and _looks_like_callable(c["model"]):
            # a `module:attr` model beside the suite file imports without PYTHONPATH
            c["options"].setdefault("sys_path", [str(base)])
    if suite.get("profile") and suite["profile"].endswith((".yaml", ".yml")):
        suite["profile"] = resolve(suite["profile"])


def preflight(suite: Suite) -> None:
    """Before anything is measured: every candidate's `train:` class imports and every model
    path exists (a `module:attr` model's module is found). SuiteError in one line, with the
    closest name, naming the candidate: the run stops in seconds with exit 2 instead of
    failing one candidate after the others were measured."""
    import importlib.util

    from benchharness.errors import ModelError
    from benchharness.train.fit import _did_you_mean, _missing_module_hint, import_estimator

    for i, c in enumerate(suite.candidates):
        where = f"candidates[{i}] ({c.name!r})"
        if c.train:
            try:
                import_estimator(c.train)
            except ModelError as exc:
                raise SuiteError(f"{where}: {exc}") from None
        model = c.model
        if not model or "://" in model or model.startswith(("models:/", "sklearn:")):
            continue
        if _looks_like_callable(model):
            module = model.split(":", 1)[0]
            extra = [p for p in c.options.get("sys_path", []) if p not in sys.path]
            sys.path[:0] = extra
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            finally:
                for p in extra:
                    sys.path.remove(p)
            if not found:
                raise SuiteError(f"{where}: model {model!r}: no module {module!r} to import"
                                 f"{_missing_module_hint(module)}")
            continue
        path = Path(model)
        if not path.exists():
            folder = path.parent
            if folder.is_dir():
                hint = _did_you_mean(path.name, [p.name for p in folder.iterdir()])
                raise SuiteError(f"{where}: model file not found: {path}{hint}")
            raise SuiteError(f"{where}: model file not found: {path} (no folder {folder})")


def _looks_like_callable(p: str) -> bool:
    from benchharness.adapters.registry import _CALLABLE_RE

    return bool(_CALLABLE_RE.match(p)) and not Path(p).suffix


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def quicken(raw: dict, quick: dict) -> dict:
    """Apply --quick: never longer or heavier than the suite itself asks, and the suite's own
    batch sizes kept (the table and charts then show the sizes the suite asked for)."""
    out = copy.deepcopy(raw)
    for k, v in quick.items():
        mine = out.get(k)
        if isinstance(v, dict):
            out[k] = quicken(mine, v) if isinstance(mine, dict) else copy.deepcopy(v)
        elif mine is None or (isinstance(v, list) and k != "batch_sizes"):
            out[k] = copy.deepcopy(v)
        elif _is_type(mine, (int, float)) and _is_type(v, (int, float)):
            out[k] = min(mine, v)
        # else the suite's: its batch sizes, or a wrong type left for validation to name
    return out


def parse_set(items: list[str] | tuple[str, ...]) -> dict:
    """`--set realtime.trials=8 --set batch.batch_sizes=[1,64]`: settings from the command
    line as one nested override (values read as YAML: 8 is a number, [1, 64] a list), merged
    over the suite before it is validated, so a wrong key gets the suite's own error."""
    out: dict = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or any(not part for part in key.strip().split(".")):
            raise SuiteError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. realtime.trials=8")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        node = out
        *parents, last = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SuiteError(f"--set {item!r}: {part!r} was set to a value by an earlier --set")
        node[last] = parsed
    return out


def only_candidates(suite: dict, only: list[str]) -> None:
    """`--only logreg,forest`: measure these candidates (and the suite's declared baselines);
    an unknown name is a SuiteError with the closest one."""
    known = [c["name"] for c in suite["candidates"]]
    for name in only:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SuiteError(f"--only: no candidate {name!r}{hint}; the suite has {', '.join(known)}")
    suite["candidates"] = [c for c in suite["candidates"] if c["name"] in only or c.get("baseline")]


def parse_suite(raw: Any, base_dir: Path, quick: bool = False, overrides: dict | None = None) -> Suite:
    """Validate a suite already parsed from YAML: the typed suite every stage reads."""
    if not isinstance(raw, dict):
        raise SuiteError(f"a suite must be a YAML mapping at the top level, got {type(raw).__name__}")
    if quick:
        raw = quicken(raw, QUICK)
    overrides = dict(overrides or {})
    only = overrides.pop("only", None)  # --only: a choice of candidates, not a suite key
    if overrides:
        raw = deep_merge(raw, overrides)
    suite = validate_section(raw, SUITE, "")
    _check_candidates(suite)
    _check_data(suite, given=raw.get("data") is not None)
    _check_trials(suite)
    _resolve_paths(suite, base_dir)
    if only:
        only_candidates(suite, only)
    given = raw.get("traffic") or {}
    return from_validated(suite, traffic_given=tuple(k for k, v in given.items() if v is not None))


def load_suite(path: str | Path, quick: bool = False, overrides: dict | None = None) -> Suite:
    """The typed suite from a suite file (SuiteError in one line for any problem)."""
    path = Path(path)
    raw = read_suite_file(path)
    try:
        return parse_suite(raw, path.resolve().parent, quick=quick, overrides=overrides)
    except SuiteError as exc:
        raise SuiteError(f"{path.name}: {exc}") from None


def read_suite_file(path: Path) -> Any:
    """The suite file's YAML as written (the one place a suite is parsed; a fleet bundle
    rewrites its paths from this)."""
    if not path.exists():
        raise SuiteError(f"suite file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise SuiteError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at line {line}); "
                         "save the suite file as UTF-8") from None
    except IsADirectoryError:
        raise SuiteError(f"suite file {path} is a directory; give a YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError(f"{path}: not valid YAML{where}: {problem}") from None
    return raw
