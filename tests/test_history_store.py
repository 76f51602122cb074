"""The Parquet index: rows of a run, atomic parts, rebuild, concurrent writers, trends."""

import copy
import multiprocessing as mp

import pandas as pd
import pytest
from sample_run import sample_results, write_run

from benchharness.history import store, trends
from benchharness.history.stage import compare_with_previous
from benchharness.report.document import previous_run_blocks


def _run(i: int, p99: float = 2.5, host: str = "box-a") -> dict:
    r = sample_results()
    r["run_id"] = f"20261127-10{i:02d}00-sample-{i:06x}"
    r["started_at"] = f"2026-11-27T10:{i:02d}:00+00:00"
    r["environment"].update({"hostname": host, "cpu_model": "test cpu", "cpu_count_logical": 2})
    r["candidates"][0]["realtime"]["closed_loop"]["p99_ms"] = p99
    return r


def test_rows_of_a_run():
    rows = store.run_rows(_run(1))
    frame = pd.DataFrame(rows)
    forest = frame[frame["candidate"] == "forest"].set_index("figure")
    assert forest.loc["p99_ms", "value"] == 2.5 and forest.loc["p99_ms", "unit"] == "ms"
    assert forest.loc["accuracy", "value"] == 0.965
    assert (forest.loc["accuracy", "lo"], forest.loc["accuracy", "hi"]) == (0.94, 0.985)
    assert forest.loc["batch_usd_per_million", "value"] == 0.40
    # the plan says integration: realtime: usd_per_million is the real-time cost
    assert forest.loc["usd_per_million", "value"] == 1.6 and forest.loc["usd_per_million", "better"] == "lower"
    # a failed candidate keeps one row, with its status and no figure
    broken = frame[frame["candidate"] == "broken"]
    assert len(broken) == 1 and broken.iloc[0]["status"] == "failed" and pd.isna(broken.iloc[0]["figure"])
    assert set(frame["run_id"]) == {"20261127-100100-sample-000001"}
    assert frame["machine"].nunique() == 1 and frame["machine"].iloc[0]


def test_the_index_keeps_each_figures_interval_from_the_figure_table():
    r = _run(1)
    r["candidates"][0]["realtime"]["closed_loop"]["intervals"] = {"p99_ms": [2.4, 2.6], "p50_ms": [0.6, 0.7]}
    frame = pd.DataFrame(store.run_rows(r)).query("candidate == 'forest'").set_index("figure")
    assert (frame.loc["p99_ms", "lo"], frame.loc["p99_ms", "hi"]) == (2.4, 2.6)
    assert (frame.loc["p50_ms", "lo"], frame.loc["p50_ms", "hi"]) == (0.6, 0.7)
    assert (frame.loc["accuracy", "lo"], frame.loc["accuracy", "hi"]) == (0.94, 0.985)  # bootstrap


def test_write_read_rebuild(tmp_path):
    for i in range(3):
        write_run(tmp_path / f"20261127-10{i:02d}00-sample-{i:06x}", _run(i))
        store.write_run(tmp_path, _run(i))
    before = store.read_index(tmp_path)
    assert before["run_id"].nunique() == 3
    assert len(before) == 3 * len(store.run_rows(_run(0)))
    assert not list(tmp_path.glob("*/.*"))  # no temporary file left
    # a part whose results.json is gone, and a corrupt part: rebuild restores the truth
    (tmp_path / _run(9)["run_id"]).mkdir()
    store.write_run(tmp_path, _run(9))
    (tmp_path / _run(1)["run_id"] / store.INDEX_FILE).write_bytes(b"not parquet")
    with pytest.raises(Exception, match="--rebuild"):
        store.read_index(tmp_path)
    done = store.rebuild(tmp_path)
    assert done["runs"] == 3
    pd.testing.assert_frame_equal(store.read_index(tmp_path), before)


def _writer(folder: str, first: int, count: int) -> None:
    for i in range(first, first + count):
        store.write_run(folder, _run(i % 60))


def test_concurrent_writers_leave_a_valid_index(tmp_path):
    """Four processes write parts at once (two of them the same runs) while this one reads."""
    for i in range(60):
        (tmp_path / _run(i)["run_id"]).mkdir()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), first, 20)) for first in (0, 20, 40, 40)]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs):
        frame = store.read_index(tmp_path)  # never a half-written part
        assert frame.groupby("run_id").size().eq(len(store.run_rows(_run(0)))).all()
        reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    final = store.read_index(tmp_path)
    assert final["run_id"].nunique() == 60 and reads > 0


def test_sequences_name_the_run_and_what_changed():
    runs = [_run(i, p99=2.5 if i < 4 else 6.0) for i in range(7)]
    runs[4]["environment"]["hostname"] = "box-b"  # the step coincides with a machine change
    for r in runs[5:]:
        r["environment"]["hostname"] = "box-b"
    frame = pd.DataFrame([row for r in runs for row in store.run_rows(r)])
    seqs = trends.sequences(frame)
    moved = [(s["candidate"], s["figure"]) for s in seqs if s["change_points"]]
    assert moved == [("forest", "p99_ms")]
    step = next(s for s in seqs if s["change_points"])["change_points"][0]
    assert step["run_id"] == runs[4]["run_id"] and step["changed"] == ["machine"] and step["worse"]
    lines = trends.change_lines(seqs)
    assert len(lines) == 1 and "2.5 ms -> 6 ms" in lines[0] and "changed there: machine" in lines[0]
    assert "at run 000004 (11-27 10:04)" in lines[0]
    table = trends.runs_table(frame)
    assert max(len(line) for line in table.splitlines()) <= 100
    assert table.splitlines()[1].split()[2] == "000006"  # newest first
    assert len(table.splitlines()) == 1 + 7 * 4  # a line per run x candidate


def test_previous_run_block(tmp_path):
    frame = pd.DataFrame([row for i in range(2) for row in store.run_rows(_run(i))])
    latest = _run(2, p99=5.0)
    prev = compare_with_previous(frame, latest)
    assert prev["run_id"] == _run(1)["run_id"]
    row = next(r for r in prev["rows"] if r["candidate"] == "forest" and r["figure"] == "p99_ms")
    assert (row["before"], row["after"], row["change"]) == (2.5, 5.0, 1.0)
    latest["history"] = {"previous": prev}
    blocks = previous_run_blocks(latest)
    assert blocks[0].text == "Compared with the previous run"
    assert ["forest", "p99_ms", "2.5 ms", "5 ms", "+100%", "worse"] in blocks[2].rows
    # another machine: no previous run to compare with
    other = copy.deepcopy(latest)
    other["environment"]["hostname"] = "elsewhere"
    assert compare_with_previous(frame, other) is None
