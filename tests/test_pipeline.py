"""The pipeline's own promises: the stage table names only what exists, the typed suite matches
the suite schema key for key, the loops and the cost stage live in one place, and measure/
imports no later stage. Read from the code itself and from the committed real run."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import typing
from pathlib import Path

import pytest

from benchharness import config, context, pipeline, schema, suite

PACKAGE = Path(pipeline.__file__).parent
FIXTURE = Path(__file__).parent / "fixtures" / "quick_run" / "results.json"
STAGES = [*pipeline.BEFORE, *pipeline.PER_CANDIDATE, *pipeline.AFTER]
# stages that write only when the suite asks (tune, --against, MLflow)
ON_REQUEST = {"tune_candidates_stage", "tune_halving_stage", "tune_replicas_stage", "tune_answer_stage",
              "reference_candidates_stage", "against_stage", "tracking_stage", "tune_guard_stage",
              "start_servers_stage"}


def _names(kind: str) -> set[str]:
    return {part.split(".", 1)[1] for s in STAGES for part in (*s.reads, *s.writes) if part.startswith(kind + ".")}


def test_every_name_in_the_stage_table_exists():
    ctx_fields = {f.name for f in dataclasses.fields(context.RunContext)}
    assert _names("ctx") <= ctx_fields, _names("ctx") - ctx_fields
    suite_fields = {f.name for f in dataclasses.fields(suite.Suite)}
    assert _names("suite") <= suite_fields, _names("suite") - suite_fields
    results_keys = set(typing.get_type_hints(schema.Results))
    assert _names("results") <= results_keys, _names("results") - results_keys
    cand_keys = set(typing.get_type_hints(schema.Candidate))
    assert _names("candidate") <= cand_keys, _names("candidate") - cand_keys
    for s in STAGES:  # every part is kind.name
        assert all(re.fullmatch(r"(ctx|suite|results|candidate)\.\w+", p) for p in (*s.reads, *s.writes)), s.name


def test_the_real_run_has_what_its_stages_say_they_write():
    results = json.loads(FIXTURE.read_text())
    written = {p.split(".", 1)[1] for s in STAGES if s.name not in ON_REQUEST for p in s.writes
               if p.startswith("results.")}
    assert written - set(results) == set()
    cand_written = {p.split(".", 1)[1] for s in STAGES if s.name not in ON_REQUEST for p in s.writes
                    if p.startswith("candidate.")} - {"parity", "replicas"}  # an export's, a tune's
    forest = next(c for c in results["candidates"] if c["name"] == "forest")
    assert cand_written - set(forest) == set()


def test_each_typed_section_has_exactly_the_schema_keys():
    pairs = [(config.SUITE, suite.Suite)] + [(config.SUITE[key].section, cls) for key, cls in suite.SECTIONS.items()]
    pairs += [(config.SPLIT, suite.SplitSettings), (config.OPEN_LOOP, suite.OpenLoopSettings),
              (config.BOOTSTRAP, suite.BootstrapSettings), (config.CANDIDATE, suite.CandidateSettings)]
    for schema_keys, cls in pairs:
        fields = [f.name for f in dataclasses.fields(cls) if f.name != "traffic_given"]
        assert fields == list(schema_keys), cls.__name__


def test_the_quickstart_loads_as_typed_sections():
    s = config.load_suite(config.default_suite_path())
    assert isinstance(s.realtime.open_loop, suite.OpenLoopSettings)
    assert isinstance(s.data.split, suite.SplitSettings)
    assert s.realtime.open_loop.fractions == [0.5, 0.8, 0.95]  # a default filled by config
    assert [type(c) for c in s.candidates] == [suite.CandidateSettings] * len(s.candidates)
    assert s.candidate("forest-onnx").export == "onnx" and s.candidate("nope") is None
    assert set(s.traffic_given) == {"peak_rps", "daily_volume", "batch_rows_per_day"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.realtime.trials = 99  # type: ignore[misc]


def _sources() -> dict[Path, str]:
    return {p: p.read_text() for p in PACKAGE.rglob("*.py")}


def test_the_cost_stage_and_the_settle_loop_have_one_caller():
    callers = {p.relative_to(PACKAGE).as_posix() for p, text in _sources().items()
               if re.search(r"\bcost_stage\(ctx\)", text)}
    assert callers == {"pipeline.py"}
    loops = {p.relative_to(PACKAGE).as_posix() for p, text in _sources().items()
             if "sequential.next_step(" in text}
    assert loops == {"pipeline.py"}


def test_measure_imports_no_later_stage():
    later = ("decide", "cost", "history", "report", "tune", "against", "pipeline")
    for path in (PACKAGE / "measure").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                assert not (parts[0] == "benchharness" and len(parts) > 1 and parts[1] in later), (path, node.module)


def test_stages_read_the_suite_by_attribute_and_share_no_scratch_dict():
    reads = {}
    for path, text in _sources().items():
        if path.name == "config.py":
            continue
        n = len(re.findall(r"\bsuite\[|\bsuite\.get\(", text))
        if n:
            reads[path.relative_to(PACKAGE).as_posix()] = n
    # the one left: suite.py turning the validated mapping into the typed suite
    assert sum(reads.values()) <= 15, reads
    assert "extras" not in {f.name for f in dataclasses.fields(context.RunContext)}
    assert not [p for p, text in _sources().items() if "ctx.extras" in text]


def test_the_architecture_page_names_every_stage():
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    missing = [s.name for s in STAGES if s.name not in text]
    assert missing == []
