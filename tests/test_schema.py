"""benchharness/schema.py against real output: its TypedDicts name every key the stages wrote
in the committed real run (tests/fixtures/quick_run), the figure table reads only paths the
schema defines and the real run has, and the accessors give empty sections, never an
exception, for a candidate whose stages failed. Regenerate the fixture with
`python tests/fixtures/make_quick_run.py`."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from benchharness import schema
from benchharness.decide import figures
from benchharness.results import load_results

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "quick_run"
#: figures the quick run cannot have: no subgroups or time windows in the quickstart suite, no GPU
NOT_IN_QUICK_RUN = {"subgroup_gap", "window_gap", "gpu_mem_mb"}


@pytest.fixture(scope="module")
def real():
    return load_results(FIXTURE)


def ok_candidates(results):
    cands = [c for c in schema.candidates(results) if c["status"] == "ok"]
    assert len(cands) == 3
    return cands


def _is_typed_dict(tp) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__optional_keys__")


def _keys(td) -> set[str]:
    return set(td.__required_keys__) | set(td.__optional_keys__)


def _undeclared(doc: dict, td, where: str) -> list[str]:
    """Keys of `doc` that the TypedDict `td` (and the TypedDicts nested in it) does not declare."""
    hints = typing.get_type_hints(td)
    out = []
    for key, value in doc.items():
        if key not in hints:
            out.append(f"{where}.{key}")
            continue
        tp = hints[key]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if _is_typed_dict(tp) and isinstance(value, dict):
            out += _undeclared(value, tp, f"{where}.{key}")
        elif origin is list and args and _is_typed_dict(args[0]) and isinstance(value, list):
            for i, item in enumerate(value):
                out += _undeclared(item, args[0], f"{where}.{key}[{i}]")
        elif origin is dict and len(args) == 2 and _is_typed_dict(args[1]) and isinstance(value, dict):
            for k, item in value.items():
                out += _undeclared(item, args[1], f"{where}.{key}.{k}")
    return out


def test_the_schema_declares_every_key_the_stages_wrote(real):
    assert _undeclared(real, schema.Results, "results") == []


def test_the_hand_written_sample_run_uses_only_schema_keys():
    from sample_run import sample_results

    assert _undeclared(sample_results(), schema.Results, "sample") == []


def test_the_walker_finds_a_key_the_schema_lacks(real):
    # the check above can fail: a key no TypedDict declares, deep in a section, is reported
    doc = {"candidates": [{"realtime": {"open_loop": {"rates": [{"p99_ms": 1.0, "p99_latency": 2.0}]}}}]}
    assert _undeclared(doc, schema.Results, "results") == [
        "results.candidates[0].realtime.open_loop.rates[0].p99_latency"]


def _declared_path(path: str) -> bool:
    """Does the dotted path, read from a candidate, follow keys the TypedDicts declare?"""
    td = schema.Candidate
    for part in path.split("."):
        if not _is_typed_dict(td) or part not in _keys(td):
            return False
        td = typing.get_type_hints(td)[part]
    return True


def test_every_path_of_the_figure_table_is_a_schema_path():
    paths = [m.path for m in figures.MEASURES.values() if m.path]
    assert len(paths) >= 15
    assert [p for p in paths if not _declared_path(p)] == []
    assert not _declared_path("resources.rss_peak_mb")  # the test can fail: a name nothing writes


def test_every_path_of_the_figure_table_exists_in_the_real_run(real):
    for c in ok_candidates(real):
        for m in figures.MEASURES.values():
            if m.path:
                assert schema.get_path(c, m.path) is not None, (c["name"], m.name, m.path)


def test_every_figure_resolves_on_the_real_run_for_the_stages_it_ran(real):
    for c in ok_candidates(real):
        missing = [n for n in figures.MEASURES if figures.resolve(n, c, real) is None]
        # a figure the load generator limited is INVALID: it reads as not measured
        invalid = {n for n in figures.MEASURES if figures.invalid(c, n)}
        assert set(missing) == NOT_IN_QUICK_RUN | invalid, c["name"]


def test_every_trial_figure_has_its_section_interval_and_trials_in_the_real_run(real):
    for c in ok_candidates(real):
        for name in figures.TRIAL_FIGURES:
            iv = figures.interval(c, name, real)
            if figures.invalid(c, name):  # INVALID: used by nothing, its interval neither
                assert iv is None and figures.trial_values(c, name, real) is None
                continue
            assert iv is not None, (c["name"], name)
            values = figures.trial_values(c, name, real)
            assert values is not None, (c["name"], name)
            assert values, (c["name"], name)


def test_accessors_read_the_real_sections(real):
    c = ok_candidates(real)[0]
    assert schema.closed_loop(c)["p99_ms"] == c["realtime"]["closed_loop"]["p99_ms"]
    assert schema.open_loop_rates(c) == c["realtime"]["open_loop"]["rates"]
    assert [b["batch_size"] for b in schema.batch_entries(c)] == [1, 64, 1024]
    assert schema.best_batch(c)["rows_per_s"] == max(b["rows_per_s"] for b in c["batch"])
    assert schema.cost_batch(c)["usd_per_1m"] == c["cost"]["batch"]["usd_per_1m"]
    assert schema.cost_realtime(c)["usd_per_1m"] == c["cost"]["realtime"]["usd_per_1m"]
    assert "closed_loop" in schema.resource_phases(c)
    assert schema.quality_ci(c, "accuracy") == c["quality"]["ci"]["accuracy"]
    assert schema.limits(c) and schema.limits(c)[0]["expression"] == c["limits"][0]["expression"]
    assert schema.primary_metric(c, real) == "accuracy"
    assert schema.verdict(real)["recommended"] == real["verdict"]["recommended"]
    assert schema.baselines(real) and schema.run_section(real, "profile")["name"] == "local"
    best = schema.open_loop_rate_at_best(c)
    sustainable = [r["target_rate_per_s"] for r in c["realtime"]["open_loop"]["rates"] if r.get("sustainable")]
    assert best["target_rate_per_s"] == max(sustainable)


FAILED = [
    {"name": "crashed", "role": "candidate", "status": "failed", "error": "ModelError: boom"},
    {"name": "nulls", "status": "failed", "error": "x", "quality": None, "realtime": None, "batch": None,
     "resources": None, "cost": None, "limits": None, "parity": None, "model": None},
    {"name": "half", "status": "failed", "error": "x", "realtime": {"closed_loop": None, "open_loop": {}},
     "cost": {"batch": None}, "batch": [None, "not an entry"], "resources": {"phases": None}},
]


@pytest.mark.parametrize("cand", FAILED, ids=[c["name"] for c in FAILED])
def test_accessors_give_empty_sections_for_a_candidate_whose_stages_failed(cand):
    if cand["name"] != "half":  # "half" has realtime, resources and cost sections, nothing in them
        for section in (schema.realtime, schema.resources, schema.cost):
            assert section(cand) == {}, section.__name__
    for section in (schema.quality, schema.closed_loop, schema.open_loop, schema.resource_phases,
                    schema.cost_batch, schema.cost_realtime, schema.parity, schema.model):
        assert section(cand) == {}, section.__name__
    for entries in (schema.open_loop_rates, schema.batch_entries, schema.limits):
        assert entries(cand) == [], entries.__name__
    assert schema.best_batch(cand) is None and schema.open_loop_rate_at_best(cand) is None
    assert schema.quality_ci(cand, "accuracy") is None and schema.primary_metric(cand, {}) is None
    results = {"candidates": [cand]}
    for name in figures.MEASURES:
        assert figures.resolve(name, cand, results) is None, name
        assert figures.interval(cand, name, results) is None, name
        assert figures.trial_values(cand, name, results) is None, name


@pytest.mark.parametrize("results", [{}, {"candidates": None}, {"candidates": [None, 3]}, None])
def test_run_accessors_never_raise_on_a_run_without_sections(results):
    assert schema.candidates(results) == [] and schema.baselines(results) == []
    assert schema.verdict(results) == {} and schema.run_quality(results) == {}
    assert schema.run_section(results, "profile") == {}


def test_run_section_refuses_a_name_that_is_not_a_section():
    with pytest.raises(KeyError, match="not a run-level section"):
        schema.run_section({}, "profiles")
