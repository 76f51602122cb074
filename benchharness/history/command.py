"""`bench history` and the reference run of `bench compare --against`."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from benchharness import schema
from benchharness.errors import UserError
from benchharness.exit_codes import OK as EXIT_OK
from benchharness.exit_codes import USAGE as EXIT_USAGE
from benchharness.history import store, trends
from benchharness.history.changepoint import MIN_REL_CHANGE
from benchharness.history.page import trend_page
from benchharness.results import load_results
from benchharness.run_folder import check_output_file, plain, write_output

AGAINST = ("last", "best")


def suite_focus(results_dir: str, frame) -> tuple[list[str], dict[str, float]]:
    """(the figures the newest run's limits and objective name, in that order; the absolute
    threshold of each limit): what the trend page leads with. Empty when no run can be read."""
    from benchharness.decide import figures as names
    from benchharness.decide.verdict import parse_objective

    newest = frame.sort_values("started_at")["run_id"].dropna()
    if newest.empty:
        return [], {}
    try:
        results = load_results(Path(results_dir) / str(newest.iloc[-1]))
    except Exception:  # a removed or unreadable folder: the page without a focus
        return [], {}
    focus, limits = [], {}
    for cand in schema.candidates(results):
        for lim in schema.limits(cand):
            metric = lim.get("metric")
            if metric and "baseline" not in str(lim.get("expression")):
                focus.append(metric)
                if lim.get("threshold") is not None:
                    limits.setdefault(metric, lim["threshold"])
    try:
        terms = parse_objective(schema.verdict(results).get("inputs", {}).get("objective"))
    except Exception:
        terms = []
    metric = next((names.primary_metric(c, results) for c in schema.candidates(results)
                   if names.primary_metric(c, results)), None)
    for t in terms:
        name = metric if t.name == "primary" else t.name
        if name:
            focus += names.explicit(name, results)
    return list(dict.fromkeys(focus)), limits


@click.command("history")
@click.argument("results_dir", default="results", type=click.Path(file_okay=False))
@click.option("--suite", default=None, help="Only this suite's runs.")
@click.option("--candidate", default=None, help="Only this candidate.")
@click.option("--figure", default=None, help="Only this figure (e.g. p99_ms, accuracy, usd_per_million).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write runs, sequences and steps as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False),
              help="Where the trend page goes (default: RESULTS_DIR/history.html).")
@click.option("--rebuild", is_flag=True, help="Rewrite the index from the run folders first.")
@click.option("--min-change", default=MIN_REL_CHANGE, show_default=True, type=click.FloatRange(0, None),
              help="Smallest relative step reported as a change point.")
def history(results_dir: str, suite: str | None, candidate: str | None, figure: str | None,
            json_out: str | None, html_out: str | None, rebuild: bool, min_change: float) -> None:
    """The runs in RESULTS_DIR over time, the steps in each figure, and a trend page."""
    try:
        if not Path(results_dir).is_dir():
            raise UserError(f"results folder not found: {results_dir}")
        # before any work: an output path that cannot be written is one line, exit 2
        check_output_file(html_out or Path(results_dir) / "history.html",
                          "--html" if html_out else "the trend page (RESULTS_DIR/history.html)")
        if json_out is not None:
            check_output_file(json_out, "--json")
        if rebuild:
            done = store.rebuild(results_dir, progress=lambda m: click.echo(m, err=True))
            click.echo(f"index rebuilt: {done['runs']} run(s), {len(done['skipped'])} skipped", err=True)
        frame = store.read_index(results_dir)
        if frame.empty and store.run_folders(results_dir):
            raise UserError(f"{results_dir} has run folders but no history index; "
                            "run `bench history --rebuild` to build it")
        missing = {f.name for f in store.run_folders(results_dir)} - set(frame["run_id"])
        cannot = store.unindexable(results_dir, sorted(missing))
        for name, why in cannot.items():
            click.echo(f"note: run folder {name} cannot be indexed: {why}", err=True)
        addable = missing - set(cannot)
        if addable:
            click.echo(f"note: {len(addable)} run folder(s) are not in the index (runs from before it, or "
                       "interrupted); `bench history --rebuild` adds them", err=True)
        frame = trends.select(frame, suite, candidate, None)
        if frame.empty:
            raise UserError(f"no indexed runs in {results_dir} match "
                            f"suite={suite!r} candidate={candidate!r}")
        if figure and figure not in set(frame["figure"].dropna()):
            known = ", ".join(sorted(set(frame["figure"].dropna())))
            raise UserError(f"--figure {figure!r} is not in the index; indexed figures: {known}")
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    seqs = trends.sequences(trends.select(frame, figure=figure), min_rel_change=min_change)
    lines = trends.change_lines(seqs)
    click.echo(trends.runs_table(frame, figure))
    click.echo("")
    click.echo("steps:" if lines else "steps: none (no figure moved by more than "
               f"{min_change:.0%} beyond its noise)")
    from benchharness.report.console import fold

    for line in lines:  # the figure and its move, then what changed, folded to the terminal
        head, _, changed = line.partition("; ")
        click.echo(fold(f"  {head}"))
        click.echo(fold(f"      {changed}"))
    page = Path(html_out) if html_out else Path(results_dir) / "history.html"
    focus, limit_lines = suite_focus(results_dir, frame)
    write_output(page, trend_page(seqs, lines, focus=focus, limits=limit_lines), "--html")
    click.echo(f"trend page: {page}")
    if json_out:
        runs = frame.drop_duplicates(["run_id", "candidate"])[
            ["run_id", "started_at", "suite", "candidate", "status", "machine", "quick"]]
        doc = {"runs": runs.to_dict("records"), "sequences": seqs,
               "change_points": [{"suite": s["suite"], "candidate": s["candidate"], "figure": s["figure"], **c}
                                 for s in seqs for c in s["change_points"]]}
        write_output(json_out, json.dumps(plain(doc), indent=2, allow_nan=False, default=str), "--json")
    sys.exit(EXIT_OK)


def reference_run(run_dir: str | Path, against: str) -> Path:
    """The run folder `bench compare RUN --against last|best|RUN_ID` compares RUN with.

    last: the newest earlier run of the same suite (same machine when there is one);
    best: the earlier run of the same suite whose candidates had the lowest p99_ms
    (geometric mean of the ratios over the candidates both runs measured);
    otherwise a run id (or its unique end) in the same results folder.
    """
    from benchharness.history.stage import previous_run

    run_dir = Path(run_dir)
    root = run_dir.parent
    results = load_results(run_dir)
    frame = store.read_index(root)
    if frame.empty:
        raise UserError(f"no history index in {root}; run `bench history {root} --rebuild` first")
    if against == "last":
        found = previous_run(frame, results) or previous_run(frame, results, same_machine=False)
        if not found:
            raise UserError(f"--against last: no earlier run of suite {results['suite']['name']!r} in {root}")
        return root / found
    if against == "best":
        return root / _best_run(frame, results, root)
    matches = sorted({r for r in frame["run_id"] if r == against or r.endswith(against)})
    if len(matches) != 1:
        raise UserError(f"--against {against!r}: {'no' if not matches else 'more than one'} run in {root} "
                        f"matches; give last, best or a run id ({len(matches)} matched)")
    return root / matches[0]


def _best_run(frame, results: dict, root: Path) -> str:
    mine = {c["name"]: schema.closed_loop(c).get("p99_ms")
            for c in schema.candidates(results) if c.get("status") == "ok"}
    rows = frame[(frame["suite"] == results["suite"]["name"]) & (frame["figure"] == "p99_ms")
                 & (frame["run_id"] != results["run_id"])
                 & (frame["started_at"].fillna("") <= (results.get("started_at") or ""))]
    scores = {}
    for run_id, grp in rows.groupby("run_id"):
        logs = [math.log(v / mine[c]) for c, v in zip(grp["candidate"], grp["value"])
                if mine.get(c) and v and v > 0]
        if logs:
            scores[run_id] = sum(logs) / len(logs)
    if not scores:
        raise UserError(f"--against best: no earlier run of suite {results['suite']['name']!r} in {root} "
                        "measured p99_ms of the same candidates")
    return min(scores, key=scores.get)
