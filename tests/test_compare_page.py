"""`bench compare A B --html F` through the real CLI on the committed real run
(tests/fixtures/quick_run): the page is built from the rows `decide.compare` really returns,
never from rows made by hand, so a renamed field fails here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchharness.cli import main
from benchharness.decide.compare import compare_runs
from benchharness.report.compare_page import _change_pct, _result

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "quick_run"


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / name))


def _slow_down_batch(run: Path, candidate: str, factor: float) -> None:
    """The real run's batch throughput of one candidate, every trial divided by `factor`
    (a planted slowdown on the real layout; the rest of the run untouched)."""
    path = run / "results.json"
    doc = json.loads(path.read_text())
    cand = next(c for c in doc["candidates"] if c["name"] == candidate)
    for entry in cand["batch"]:
        entry["rows_per_s"] /= factor
        entry["intervals"]["rows_per_s"] = [v / factor for v in entry["intervals"]["rows_per_s"]]
        for trial in entry["trials"]:
            trial["rows_per_s"] /= factor
    path.write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    a, b = _copy(tmp, "a"), _copy(tmp, "b")
    _slow_down_batch(b, "forest", 3.0)
    out = tmp / "cmp.html"
    result = CliRunner().invoke(main, ["compare", str(a), str(b), "--html", str(out)])
    return result, out, compare_runs([a, b])


def test_the_command_writes_the_page_and_exits_on_the_regression(page):
    result, out, _ = page
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output  # the planted slowdown is a regression
    assert "internal error" not in result.output
    assert out.is_file() and f"page: {out}" in result.output
    html = out.read_text()
    assert "data:image/svg+xml;base64," in html and "Comparison of runs" in html
    assert (out.parent / "cmp-charts" / "changes-1.svg").is_file()


def test_every_row_compare_returns_is_on_the_page_with_its_result(page):
    _, out, doc = page
    html = out.read_text()
    rows = doc["comparisons"][0]["rows"]
    assert rows and all("result" in r for r in rows)
    assert html.count("<tr>") >= len(rows)
    for r in rows:
        assert _result(r) in html
    assert "REGRESSION" in html  # forest's batch throughput
    # the summary comes first, then the chart, then the full table
    assert html.index("Summary") < html.index("Changes") < html.index("Every figure")


def test_the_text_and_the_page_print_a_change_the_same_way(page):
    result, out, doc = page
    row = next(r for r in doc["comparisons"][0]["rows"]
               if r["candidate"] == "forest" and r["figure"] == "rows_per_s")
    assert "-67%" in result.output and "-67%" in out.read_text()
    assert round(_change_pct(row)) == 67  # worse is positive, whatever the direction


def test_any_result_name_and_the_detectable_change_are_shown(tmp_path):
    # the outcomes compare may return ('equivalent', 'inconclusive', ...) are shown as they are
    doc = compare_runs([_copy(tmp_path, "a"), _copy(tmp_path, "b")])
    for r in doc["comparisons"][0]["rows"]:
        r["result"], r["detectable"] = "inconclusive", 0.19
    from benchharness.report.compare_page import write_compare_html

    html = write_compare_html(doc, tmp_path / "p.html").read_text()
    assert "inconclusive" in html and "±19%" in html and "detectable" in html
