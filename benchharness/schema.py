"""The layout of results.json: typed sections and the accessors every reader goes through.

This is the one place that knows where a stage puts its section. The stages build their
sections to the TypedDicts below (total=False: a key is absent when the stage could not
compute it); readers call the accessors, which return the section or an empty one (an
empty dict, an empty list) when the stage did not run or the candidate failed, never
raising. Named figures (`p99_ms`, `usd_per_million`) are read through
`decide.figures.resolve`, which uses these accessors. Older documents are brought to this
layout by `results.load_results` (step-by-step upgrades), so no reader tries alternatives.

Units live in key names: `_ms`, `_s`, `_mb`, `_usd`, `_per_s`.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

#: [lo, hi] of a 95% interval; a bound is None where the trials do not pin it down
Interval = list[float | None]


# -- what every measured section carries -------------------------------------------------------
class Unstable(TypedDict, total=False):
    figure: str
    reason: str


class Stability(TypedDict, total=False):
    cv: dict[str, float]
    unstable: list[Unstable]


class RunLevel(TypedDict, total=False):
    """The run-level term each interval was widened by (measure/run_level.py): {figure: cv}
    and where it came from ("prior" | "history of N runs")."""

    cv: dict[str, float]
    source: dict[str, str]


class TailBound(TypedDict, total=False):
    """LoadGen's one-sided early-stopping bound of a tail percentile (measure/stats.tail_bound):
    "p99 <= upper_ms with `confidence` over `queries`"; upper_ms None below `min_queries`."""

    q: float
    confidence: float
    queries: int
    min_queries: int
    upper_ms: float | None


class Measured(TypedDict, total=False):
    """Point values sit beside these: intervals across trials, one dict per trial in the order
    run (the figures, `count`, `duration_s`), how much the trials disagree, and the run-level
    term of the intervals."""

    intervals: dict[str, Interval]
    trials: list[dict[str, Any]]
    stability: Stability
    run_level: RunLevel
    confidence: float


class Latency(TypedDict, total=False):
    count: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    error_count: int
    error_rate: float
    first_error: str | None


# -- realtime: closed loop and open loop (measure/stages.py) ------------------------------------
class ClosedLoop(Measured, Latency, total=False):
    qps: float
    duration_s: float
    cpu_s: float
    samples_file: str
    settings: dict[str, Any]
    phases: dict[str, Any]
    server_model: dict[str, Any]  # an HTTP candidate: the server-reported model time
    # LoadGen's early-stopping bound of each tail over the pooled samples (measure/stats.tail_bound):
    # {p99_ms: {q, confidence, queries, min_queries, upper_ms}}
    tail_bounds: dict[str, TailBound]  # p99_ms, p999_ms


class OpenLoopRate(Measured, Latency, total=False):
    """One offered rate: latency from the scheduled arrival, the model's own (`model_*`, the
    generator's delay removed), the service time and the generator's delay."""

    target_rate_per_s: float
    achieved_rate_per_s: float
    service_mean_ms: float
    service_p50_ms: float
    service_p90_ms: float
    service_p95_ms: float
    service_p99_ms: float
    service_p999_ms: float
    service_max_ms: float
    model_mean_ms: float
    model_p50_ms: float
    model_p90_ms: float
    model_p95_ms: float
    model_p99_ms: float
    model_p999_ms: float
    model_max_ms: float
    generator_delay_mean_ms: float
    generator_delay_p50_ms: float
    generator_delay_p90_ms: float
    generator_delay_p95_ms: float
    generator_delay_p99_ms: float
    generator_delay_p999_ms: float
    generator_delay_max_ms: float
    late_start_share: float
    queued_share: float
    dropped: int
    generator: dict[str, Any]
    judged_on: str
    sustainable: bool


class OpenLoop(Measured, total=False):
    arrival: str
    workers: int
    duration_s: float
    p99_limit_ms: float
    p99_limit_source: str
    error_rate_limit: float
    max_sustainable_rate_per_s: float | None
    trial_rates_per_s: list[float | None]
    rates: list[OpenLoopRate]
    late_start_warning: str | None
    samples_file: str
    settings: dict[str, Any]
    phases: dict[str, Any]


class Realtime(TypedDict, total=False):
    closed_loop: ClosedLoop
    open_loop: OpenLoop


# -- batch: one entry per batch size ------------------------------------------------------------
class BatchEntry(Measured, Latency, total=False):
    batch_size: int
    rows_per_batch: int
    batches: int
    rows_per_s: float
    batches_per_s: float
    duration_s: float
    samples_key: str
    samples_file: str


# -- resources (measure/resource_stage.py) ------------------------------------------------------
class ResourcePhase(TypedDict, total=False):
    wall_s: float
    cpu_user_s: float
    cpu_system_s: float
    cpu_s: float
    process_cpu_percent: float
    system_cpu_percent: float
    per_core_cpu_percent: list[float]
    threads_max: int
    peak_rss_mb: float
    peak_source: str
    sampled_peak_rss_mb: float
    maxrss_mb: float
    rss_end_mb: float
    samples: int
    sample_interval_s: float
    gpu: dict[str, Any]
    energy: dict[str, Any]
    rows_per_s: float
    cpu_ms_per_prediction: float


class ResourceLoad(TypedDict, total=False):
    rss_before_load_mb: float
    rss_after_load_mb: float
    footprint_mb: float
    load_time_ms: float
    cpu_s: float
    load_peak_rss_mb: float
    measured_in: str
    footprint_by_child_mb: dict[str, float]


class Resources(Measured, total=False):
    footprint_mb: float
    load_time_ms: float
    peak_rss_mb: float
    cpu_ms_per_prediction: float
    cpu_source: str
    gpu_available: bool
    gpu_energy_per_prediction_j: float | None
    cpu_energy_per_prediction_j: float | None
    load: ResourceLoad
    phases: dict[str, ResourcePhase]


# -- cost (cost/stage.py) -----------------------------------------------------------------------
class CostBatch(Measured, total=False):
    batch_size: int
    rows_per_s_per_replica: float
    rows_per_s_per_instance: float
    usd_per_1m: float | None
    rows_per_day: int
    hours_per_day: float
    daily_usd: float
    monthly_usd: float
    reason: str  # why it could not be priced (usd_per_1m is None)


class CostRealtime(Measured, total=False):
    peak_rps: float
    daily_volume: int
    sustainable_per_s_per_replica: float
    rate_source: str
    replicas_efficiency: float  # measured side by side: aggregate / (N x one replica)
    rate_warning: str | None
    instances: int
    capacity_per_s: float
    monthly_usd: float
    usd_per_1m: float | None
    utilisation: float
    reason: str


class Cost(TypedDict, total=False):
    profile: str
    price_per_hour_usd: float
    price_is_approximate: bool
    threads_per_replica: int
    threads_source: str
    replicas_per_instance: int
    replicas_by_memory: int | None  # how many fit the profile's memory (None: on a GPU)
    replicas_plan: dict[str, Any]  # replicas measured side by side (tune/replicas.py)
    batch: CostBatch
    realtime: CostRealtime
    cold_start_usd: float | None
    spot_batch_usd_per_1m: float


# -- quality (quality/evaluate.py, quality/slices.py, quality/stage.py) ---------------------------
class SliceRow(TypedDict, total=False):
    group: str
    rows: int
    value: float | None
    reliable: bool
    gap: float | None
    unavailable: str
    note: str
    start: str
    end: str


class SubgroupTable(TypedDict, total=False):
    """quality.subgroups[column]: the metric per group of one column."""

    metric: str
    groups: list[SliceRow]
    worst: dict[str, Any] | None
    binned: bool
    unavailable: str


class Windows(TypedDict, total=False):
    window: str | int
    metric: str
    windows: list[SliceRow]
    worst: dict[str, Any] | None
    trend: dict[str, float] | None
    unavailable: str


class DeltaVsBaseline(TypedDict, total=False):
    baseline: str
    metric: str
    delta: float | None
    ci: Interval | None
    reason: str
    baseline_value: float
    baseline_ci: Interval | None


class CalibrationRef(TypedDict, total=False):
    """A classifier's scores calibrated on its test split (data/calibration.py), kept for
    `bench monitor --run`: the file in the run folder, or null and the reason there is none."""

    file: str | None  # relative to the run folder: calibration/<candidate>.json
    method: str  # isotonic | platt
    rows: int
    cv_calibration_error: dict[str, float]
    reason: str


class Quality(TypedDict, total=False):
    task: str
    primary_metric: str
    higher_is_better: bool
    rows: dict[str, int | None]
    test: dict[str, float]
    train: dict[str, float]
    ci: dict[str, Interval]  # metric -> [lo, hi], the bootstrap interval on test
    confidence: float
    bootstrap_resamples: int
    gap: dict[str, float]
    overfit: dict[str, Any]
    unavailable: dict[str, str]
    train_unavailable: dict[str, str]
    ci_unavailable: dict[str, str]
    confusion_matrix: dict[str, Any] | None
    subgroups: dict[str, SubgroupTable]
    windows: Windows
    production: dict[str, Any]
    calibration: CalibrationRef
    delta_vs_best_baseline: DeltaVsBaseline
    normalised_gain: float | None
    beats_baseline: bool | None
    baseline_statement: str


# -- limits and the verdict (decide/limits.py, decide/verdict.py) -------------------------------
class LimitResult(TypedDict, total=False):
    expression: str
    metric: str
    severity: str  # fail | warn
    status: str  # pass | warn | fail | unknown | inconclusive
    value: float | None
    judged: float | None
    threshold: float | None
    margin: float | None
    unit: str
    note: str
    interval: Interval | None


class VerdictEntry(TypedDict, total=False):
    name: str
    status: str  # qualifies | inconclusive | blocked | crashed
    blocking: list[str]
    inconclusive: list[str]
    to_change: list[str]
    warnings: list[str]
    limits_passed: int
    limits_total: int
    warn_limits_total: int
    on_pareto_front: bool


class Verdict(TypedDict, total=False):
    inputs: dict[str, Any]
    candidates: list[VerdictEntry]
    ranking: list[str]
    ties: list[dict[str, Any]]
    # each qualifying candidate against the recommended one on the measured terms, judged on
    # per-round ratios: {term, candidate, against, change, interval, rounds, shown_worse}
    paired: list[dict[str, Any]]
    recommended: str | None
    close_call: list[str]  # [recommended, better by points on a measured term it tied on]
    could_qualify: list[str]
    what_to_change: list[dict[str, Any]]
    pareto_front: list[str]
    pareto_axes: list[str]
    sentence: str
    exit_code: int
    exit_code_strict: int


# -- a candidate and the run document -----------------------------------------------------------
class Model(TypedDict, total=False):
    format: str
    runtime: str
    runtime_version: str
    path: str
    size_bytes: int
    sha256: str
    details: dict[str, Any]
    kept: str  # the copy the run keeps, relative to the run folder (against/keep.py)
    kept_note: str  # why no copy was kept


class ReplicaFigures(TypedDict, total=False):
    """One replica's figures while N ran together (tune/replicas.py)."""

    qps: float
    p50_ms: float | None
    p99_ms: float | None
    count: int
    errors: int
    batch_rows_per_s: float
    batch_errors: int
    start_lag_ms: float


class ReplicaRun(TypedDict, total=False):
    """N replicas measured together in one common window: their aggregate and each one."""

    replicas: int
    window_s: float
    batch_size: int
    qps: float
    batch_rows_per_s: float
    p99_ms_worst_replica: float | None
    per_replica: list[ReplicaFigures]
    efficiency: dict[str, float | None]  # closed_loop, batch: aggregate / (N x one replica's)


class Replicas(TypedDict, total=False):
    """A tuned variant's replicas measured side by side: what the profile fits, each N measured."""

    asked: Any  # "auto" or a list of counts
    machine_cores: int
    fit: dict[str, Any]  # the profile's vCPUs and memory, replicas by each, and the smaller
    measured: list[ReplicaRun]
    not_measured: list[str]
    note: str


class Variant(TypedDict, total=False):
    """What a tune variant sets (tune/space.Variant.settings)."""

    export: str
    quantize: str
    intra_op_num_threads: int | None
    graph_optimization_level: str


class Candidate(TypedDict, total=False):
    name: str
    role: str  # candidate | baseline
    status: str  # ok | failed | interrupted
    error: str | None
    source: str
    model: Model
    training: dict[str, Any]
    signature: dict[str, Any]
    load_s: float
    quality: Quality
    realtime: Realtime
    batch: list[BatchEntry]
    batch_full_split_s: float
    batch_full_split: dict[str, Any]
    batch_settings: dict[str, Any]
    resources: Resources
    parity: dict[str, Any]
    cost: Cost
    limits: list[LimitResult]
    variant_of: str
    variant: Variant
    replicas: Replicas  # a tuned variant's replicas measured side by side (tune/replicas.py)
    reference_of: str  # a reference run's candidate measured again (`--against`): its name there
    served: dict[str, Any]  # a `serve: true` candidate: the `bench serve` process it was measured behind


class RunQuality(TypedDict, total=False):
    task: str
    primary_metric: str
    higher_is_better: bool
    bootstrap: dict[str, Any]
    best_baseline: dict[str, Any] | None
    class_balance: dict[str, Any]


class ChangeRow(TypedDict, total=False):
    """One figure's change (`bench compare --json` rows and `against.rows`)."""

    candidate: str
    figure: str
    unit: str
    before: float | None
    after: float | None
    better: str  # higher | lower
    change: float | None
    interval: Interval | None
    rounds: int
    detectable: float | None  # the smallest change the row could show at its noise
    result: str  # regression | improvement | equivalent | inconclusive | untested
    test: str
    regression: bool


class Against(TypedDict, total=False):
    """`bench run --against`: the reference run's candidates measured again in this run's
    rounds (against/), each figure's paired change."""

    run: str
    run_dir: str
    candidates: list[Candidate]  # the reference's candidates as measured now (NAME@reference)
    refused: list[dict[str, str]]  # {candidate, reason}: not measured again
    threshold: float
    rows: list[ChangeRow]
    gated: list[str]
    regressions: int
    inconclusive: int
    exit_code: int


class RunSuite(TypedDict, total=False):
    """Which suite the run ran: its name, the file, and whether --quick shortened it."""

    name: str
    path: str
    quick: bool


class Traffic(TypedDict, total=False):
    """The traffic the run is priced for (suite `traffic:`), and which keys were defaults."""

    peak_rps: float
    daily_volume: float
    batch_rows_per_day: float
    defaults_used: list[str]


class TrialOrder(TypedDict, total=False):
    """One trial as it ran: which, how long, and the machine's load around it."""

    candidate: str
    measurement: str  # closed_loop | batch | open_loop
    trial: int
    seconds: float
    other_cpu_cores: float | None  # cores other processes kept busy meanwhile (measure/machine_load.py)
    loadavg_1m: float | None


class TrialsRecord(TypedDict, total=False):
    """The run's trial order (seeded blocked rounds) and what the sequential rule added."""

    seed: int
    order: list[TrialOrder]
    extended: list[dict[str, Any]]  # {candidate, measurement, trial, reason}


class Results(TypedDict, total=False):
    schema_version: int
    upgraded_from: int
    run_id: str
    suite: RunSuite
    started_at: str
    finished_at: str
    environment: dict[str, Any]
    data: dict[str, Any]
    candidates: list[Candidate]
    profile: dict[str, Any]
    traffic: Traffic
    quality: RunQuality
    baselines: list[Baseline]
    trials: TrialsRecord
    machine_load: dict[str, Any]
    plan: dict[str, Any]
    verdict: Verdict
    against: Against
    tune: dict[str, Any]
    history: dict[str, Any]
    charts: dict[str, Any]
    report: dict[str, Any]
    tracking: dict[str, Any]  # where MLflow logged the run
    stage_errors: list[dict[str, Any]]  # a stage after measuring that failed: its name and error
    interrupted: str  # KeyboardInterrupt or Terminated: the run was cut off


# -- accessors: the section, or an empty one ----------------------------------------------------
def get_path(doc: Any, path: str) -> Any:
    """The value at a dotted path (`quality.test.accuracy`), None where any step is missing."""
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[Any]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def candidates(results: Any) -> list[Candidate]:
    """Every candidate of the run (declared baselines included), in the suite's order."""
    return _dicts(_dict(results).get("candidates"))


class Baseline(TypedDict, total=False):
    """An automatic baseline (results["baselines"]), scored like a candidate."""

    name: str
    role: str  # baseline
    kind: str  # automatic
    status: str
    error: str | None
    description: str
    quality: Quality


def baselines(results: Any) -> list[Baseline]:
    """The automatic baselines the quality stage scored (declared ones are candidates)."""
    return _dicts(_dict(results).get("baselines"))


def quality(cand: Any) -> Quality:
    return cast(Quality, _dict(_dict(cand).get("quality")))


def run_quality(results: Any) -> RunQuality:
    """The run-level quality section: task, primary metric, bootstrap settings, best baseline."""
    return cast(RunQuality, _dict(_dict(results).get("quality")))


def primary_metric(cand: Any, results: Any = None) -> str | None:
    """The primary quality metric: the candidate's own, else the run's."""
    return quality(cand).get("primary_metric") or run_quality(results).get("primary_metric")


def quality_ci(cand: Any, metric: str) -> Interval | None:
    """The bootstrap interval of a test metric as written (quality.ci.<metric>), or None."""
    ci = _dict(quality(cand).get("ci")).get(metric)
    return list(ci) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None


def realtime(cand: Any) -> Realtime:
    return cast(Realtime, _dict(_dict(cand).get("realtime")))


def closed_loop(cand: Any) -> ClosedLoop:
    return cast(ClosedLoop, _dict(realtime(cand).get("closed_loop")))


def open_loop(cand: Any) -> OpenLoop:
    return cast(OpenLoop, _dict(realtime(cand).get("open_loop")))


def open_loop_rates(cand: Any) -> list[OpenLoopRate]:
    """The open-loop rate entries in the order the sweep and trials recorded them."""
    return _dicts(open_loop(cand).get("rates"))


def open_loop_rate_at_best(cand: Any) -> OpenLoopRate | None:
    """The open-loop rate entry at the highest sustainable rate (else the lowest rate tried)."""
    rates = open_loop_rates(cand)
    if not rates:
        return None
    ok = [r for r in rates if r.get("sustainable")]
    return max(ok, key=lambda r: r.get("target_rate_per_s") or 0) if ok else \
        min(rates, key=lambda r: r.get("target_rate_per_s") or 0)


def batch_entries(cand: Any) -> list[BatchEntry]:
    """One entry per batch size measured, in the order measured."""
    return _dicts(_dict(cand).get("batch"))


def best_batch(cand: Any) -> BatchEntry | None:
    """The batch entry with the highest rows/s (positive), or None."""
    rows = [b for b in batch_entries(cand)
            if isinstance(b.get("rows_per_s"), (int, float)) and not isinstance(b.get("rows_per_s"), bool)
            and b["rows_per_s"] > 0]
    return max(rows, key=lambda b: b["rows_per_s"], default=None)


def resources(cand: Any) -> Resources:
    return cast(Resources, _dict(_dict(cand).get("resources")))


def resource_phases(cand: Any) -> dict[str, ResourcePhase]:
    """resources.phases: phase name (`predict`, `closed_loop`, `batch@64`, `open_loop@R`) -> figures."""
    return {k: cast(ResourcePhase, v) for k, v in _dict(resources(cand).get("phases")).items()
            if isinstance(v, dict)}


def cost(cand: Any) -> Cost:
    return cast(Cost, _dict(_dict(cand).get("cost")))


def cost_batch(cand: Any) -> CostBatch:
    return cast(CostBatch, _dict(cost(cand).get("batch")))


def cost_realtime(cand: Any) -> CostRealtime:
    return cast(CostRealtime, _dict(cost(cand).get("realtime")))


def limits(cand: Any) -> list[LimitResult]:
    """The candidate's limit outcomes, as the verdict stage wrote them."""
    return _dicts(_dict(cand).get("limits"))


def parity(cand: Any) -> dict[str, Any]:
    """An export against its original (label agreement, probability difference), or {}."""
    return _dict(_dict(cand).get("parity"))


def model(cand: Any) -> Model:
    return cast(Model, _dict(_dict(cand).get("model")))


def replicas(cand: Any) -> Replicas:
    """A tuned variant's replicas measured side by side, or {}."""
    return cast(Replicas, _dict(_dict(cand).get("replicas")))


def variant(cand: Any) -> Variant:
    """What a tune variant sets, or {} for a candidate that is not one."""
    return cast(Variant, _dict(_dict(cand).get("variant")))


def run_suite(results: Any) -> RunSuite:
    """The run's `suite` section: the suite's name, its file and --quick."""
    return cast(RunSuite, _dict(_dict(results).get("suite")))


def verdict(results: Any) -> Verdict:
    return cast(Verdict, _dict(_dict(results).get("verdict")))


#: run-level sections other stages add, each a dict (see Results): read with run_section
RUN_SECTIONS = ("suite", "environment", "data", "profile", "traffic", "trials", "machine_load", "plan",
                "tune", "history", "charts", "report", "against")


def run_section(results: Any, key: str) -> dict[str, Any]:
    """A run-level section (`profile`, `traffic`, `data`, `history`, ...), or {} when its stage
    did not run."""
    if key not in RUN_SECTIONS:
        raise KeyError(f"{key!r} is not a run-level section of results.json; known: {', '.join(RUN_SECTIONS)}")
    return _dict(_dict(results).get(key))
