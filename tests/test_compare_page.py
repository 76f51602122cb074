"""`bench compare --html`: the summary, a chart of the changes and the full table."""

from __future__ import annotations

from benchharness.report.compare_page import _change_pct, compare_blocks, write_compare_html
from benchharness.report.document import Table


def _row(figure, before, after, better, regression, unit="ms"):
    return {"candidate": "m", "figure": figure, "unit": unit, "before": before, "after": after,
            "change": (after - before) / before, "better": better, "worse": regression,
            "significant": True, "p_value": 0.001, "test": "Mann-Whitney U", "method": "mw",
            "regression": regression}


DOC = {"reference": "run-a", "threshold": 0.1, "alpha": 0.01, "regressions": 1, "exit_code": 1,
       "comparisons": [{"run": "run-b", "regressions": 1, "setup_changes": [],
                        "environment_changes": ["python: 3.11 -> 3.12"],
                        "only_in_reference": [], "only_in_run": [],
                        "rows": [_row("p99_ms", 2.0, 3.0, "lower", True),
                                 _row("qps", 1000.0, 1100.0, "higher", False, "req/s")]}]}


def test_positive_change_means_worse_whatever_the_direction():
    assert _change_pct(_row("p99_ms", 2.0, 3.0, "lower", True)) == 50.0       # slower: worse
    assert round(_change_pct(_row("qps", 1000.0, 1100.0, "higher", False)), 6) == -10.0  # more qps


def test_summary_comes_first_with_the_regressions(tmp_path):
    blocks = compare_blocks(DOC, ["c.svg"])
    texts = [getattr(b, "text", "") for b in blocks]
    assert texts.index("Summary") < texts.index("Changes") < texts.index("Every figure")
    assert any("machine changed: python: 3.11 -> 3.12" in t for t in texts)
    regressions = next(b for b in blocks if isinstance(b, Table) and b.caption == "Regressions")
    assert regressions.rows == [["m", "p99_ms", "2 ms", "3 ms", "+50.0%"]]


def test_the_page_inlines_its_chart(tmp_path):
    page = write_compare_html(DOC, tmp_path / "cmp.html")
    html = page.read_text()
    assert "data:image/svg+xml;base64," in html and "Comparison of runs" in html
    assert (tmp_path / "cmp-charts" / "changes-1.svg").is_file()
