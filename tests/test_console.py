"""Terminal output: tables fit the width, numbers are never broken, progress on stderr."""

from __future__ import annotations

import io

from benchharness.report.console import RunProgress, fold, render_table

HEADER = ["candidate", "status", "test accuracy [95% CI]", "vs best baseline", "p50 ms",
          "p99 ms", "batch rows/s", "peak MiB", "batch $/1M"]
ROWS = [["forest-onnx", "ok", "0.9441 [0.9091, 0.972]",
         "does not beat logistic 0.958 [0.9231, 0.986]", "0.00499", "0.0106", "223,578",
         "207", "$0.0000554"]] * 3


def _lines(text):
    return text.splitlines()


def test_a_wide_table_fits_by_dropping_the_least_important_columns():
    text = render_table(ROWS, HEADER, priorities=[0, 1, 2, 5, 7, 3, 6, 8, 4], width=80)
    assert max(len(line) for line in _lines(text)) <= 80
    assert "p99 ms" in text and "$0.0000554" in text        # kept: high priority
    assert "peak MiB" not in _lines(text)[0]                  # dropped first
    assert "left out at 80 columns: peak MiB" in text          # and said so
    for number in ("0.0106", "$0.0000554", "forest-onnx"):
        assert sum(line.count(number) for line in _lines(text)) == 3  # never broken


def test_a_table_that_fits_is_left_whole():
    text = render_table([["a", "1.5"], ["bb", "22"]], ["name", "ms"], width=100)
    assert "left out" not in text
    assert _lines(text)[0].split() == ["name", "ms"]


def test_empty_columns_go_first_and_silently():
    rows = [["a", "-", "1,234,567,890", "x" * 30], ["b", "-", "2", "y" * 30]]
    text = render_table(rows, ["name", "subgroup", "rows/s", "long text column here"], width=56)
    assert "subgroup" not in text and "left out" not in text


def test_fold_indents_continuations():
    out = fold("  " + "word " * 30, width=40)
    lines = _lines(out)
    assert all(len(line) <= 40 for line in lines)
    assert lines[0].startswith("  word") and lines[1].startswith("    word")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    p = RunProgress(stream)
    p.start(2, quick=True)
    p("[a] measuring")
    p.stop()
    assert stream.getvalue().splitlines() == [
        "QUICK RUN: short measurement windows, 200 bootstrap resamples; a smoke test, "
        "not a benchmark", "[a] measuring"]


def test_progress_bar_with_time_left_on_a_terminal():
    stream = _Tty()
    p = RunProgress(stream)
    p.start(2)
    p("[a] measuring")
    p("[b] measuring")
    p._progress.refresh()
    p.stop()
    out = stream.getvalue()
    assert "[a] measuring" in out and "[b] measuring" in out
    assert "measuring" in out and "left" in out and "/2" in out


def test_a_real_runs_terminal_output_fits_80_and_100_columns():
    """What `bench run` prints at the end, for the committed real run, at 80 and 100
    columns: wrapped once, no line over the width."""
    from pathlib import Path

    from benchharness.decide.verdict import summary_lines
    from benchharness.report.terminal import summary_text
    from benchharness.results import load_results

    real = load_results(Path(__file__).resolve().parent / "fixtures" / "quick_run")
    for width in (80, 100):
        text = summary_text(real, "/a/rather/long/results/folder/20261201-191317-quickstart-ad4148", width)
        verdict = "\n".join(summary_lines(real, width))
        assert fold(verdict, width) == verdict  # wrapped once, to the width: nothing left to fold
        long = [line for line in (text + "\n" + verdict).splitlines() if len(line) > width]
        assert not long, (width, long)


def test_a_long_variant_name_keeps_the_verdict_columns_in_line():
    """The real run's verdict with one candidate renamed as a tuned variant is named: the
    status column starts at the same place on every candidate's line."""
    from pathlib import Path

    from benchharness.decide.verdict import summary_lines
    from benchharness.results import load_results

    real = load_results(Path(__file__).resolve().parent / "fixtures" / "quick_run")
    long_name = "forest-onnx[onnx,int8_static,t2,graph_all]"
    for row in real["verdict"]["candidates"]:
        if row["name"] == "forest-onnx":
            row["name"] = long_name
    lines = summary_lines(real, 80)
    statuses = [line for line in lines if line.lstrip().split(" ")[-1:] and
                any(s in line for s in ("QUALIFIES", "BLOCKED", "INCONCLUSIVE"))]
    assert len({line.index(next(s for s in ("QUALIFIES", "BLOCKED", "INCONCLUSIVE") if s in line))
                for line in statuses}) == 1, statuses
    assert f"  {long_name}" in lines and all(len(line) <= 80 for line in lines)
