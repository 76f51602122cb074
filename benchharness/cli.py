"""The `bench` command line: parse, call the API, print, exit code.

Exit codes come from the one table in `exit_codes.py` (docs/exit-codes.md). `BenchGroup`
handles what any command can end with, once for all of them: a UserError (one line, exit 2),
Ctrl-C (130) and SIGTERM (143) after the command saved what it had, and any other exception,
which is a bug of ours (one line naming where the details were written, exit 70).
"""

from __future__ import annotations

import signal
import sys
import time

import click

from benchharness import exit_codes, schema
from benchharness.decide.verdict import EXIT_CRASH, EXIT_OK
from benchharness.errors import Terminated, UserError
from benchharness.exit_codes import USAGE as EXIT_USAGE


class BenchGroup(click.Group):
    """The one place where a command's exceptions become a line on stderr and an exit code."""

    def invoke(self, ctx: click.Context):
        previous = _handle_sigterm()
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt as exc:
            click.echo(f"\ninterrupted (Ctrl-C){_saved(exc)}", err=True)
            sys.exit(exit_codes.INTERRUPTED)
        except Terminated as exc:
            click.echo(f"\nterminated (SIGTERM){_saved(exc)}", err=True)
            sys.exit(exit_codes.TERMINATED)
        except Exception as exc:  # a bug of ours: never shown as a traceback, never exit 1
            where = _save_details(exc)
            first = (str(exc).strip().splitlines() or [""])[0]
            click.echo(f"internal error (a bug in benchharness): {type(exc).__name__}: {first}; "
                       f"details in {where}", err=True)
            sys.exit(exit_codes.INTERNAL_ERROR)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame):
    raise Terminated()


def _handle_sigterm():
    """SIGTERM raises Terminated in the main thread, as Ctrl-C raises KeyboardInterrupt."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _saved(exc: BaseException) -> str:
    run_dir = getattr(exc, "run_dir", None)
    return f"; what was measured is saved in {run_dir}" if run_dir else ""


def _save_details(exc: BaseException) -> str:
    """The traceback, in the run folder when the run had one, else a temporary file."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    where = getattr(exc, "details_path", None)
    if where:
        return str(where)
    try:
        fd, where = tempfile.mkstemp(prefix="bench-internal-error-", suffix=".txt")
        with open(fd, "w") as fh:
            fh.write(text)
        return where
    except OSError:
        return "(could not be written)"


def _no_pickle(ctx: click.Context, param, value: bool) -> None:
    if value:
        from benchharness.adapters.pickles import refuse_pickles

        refuse_pickles()


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="benchharness")
@click.option("--no-pickle", is_flag=True, expose_value=False, is_eager=True, callback=_no_pickle,
              help="Refuse every pickle/joblib model (they run code on load); accept skops and ONNX. "
                   "Same as BENCH_NO_PICKLE=1.")
def main() -> None:
    """benchharness: which model goes to production, on which machine, at what cost."""


@main.command()
@click.argument("suite", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default="results", show_default=True, help="Where run folders are written.")
@click.option("--quick", is_flag=True, help="Short measurement windows (a smoke test, not a benchmark).")
@click.option("--strict", is_flag=True, help="Exit non-zero when any limit of any candidate is not met (warnings too): "
                   "4 when all such limits are inconclusive, else 1.")
@click.option("--profile", default=None, metavar="NAME|PATH",
              help="Hardware profile that prices the run (profiles/*.yaml name or a YAML path); overrides the suite's.")
@click.option("--mlflow", "mlflow_uri", default=None, metavar="URI",
              help="Also log the run to MLflow tracking (e.g. sqlite:///mlflow.db, http://host:5000).")
@click.option("--against", default=None, metavar="RUN_DIR|last|best",
              help="Measure that run's candidates again, round by round with this run's, and judge "
                   "each figure's change on the paired ratios (exit 1 on a regression).")
@click.option("--threshold", default=0.05, show_default=True, type=click.FloatRange(0, None),
              help="With --against: a change worse than this over its whole interval is a regression.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override a suite setting, dotted key, YAML value (repeatable): --set realtime.trials=8.")
@click.option("--only", default=None, metavar="NAME[,NAME...]",
              help="Measure only these candidates (and the suite's declared baselines).")
def run(suite: str | None, out_dir: str, quick: bool, strict: bool, profile: str | None,
        mlflow_uri: str | None, against: str | None, threshold: float, settings: tuple[str, ...],
        only: str | None) -> None:
    """Run SUITE (default: the built-in quickstart) and print the summary."""
    from benchharness import config
    from benchharness.api import run_suite
    from benchharness.report.console import RunProgress
    from benchharness.report.terminal import summary_text

    started = time.perf_counter()
    progress = RunProgress()
    overrides = {"profile": _profile_arg(profile)} if profile else None
    if settings:
        overrides = config.deep_merge(config.parse_set(settings), overrides or {})
    if only:
        overrides = {**(overrides or {}), "only": [n.strip() for n in only.split(",") if n.strip()]}
    try:
        if mlflow_uri:
            overrides = {**(overrides or {}), "tracking": {"mlflow": mlflow_uri}}
        planned = config.load_suite(suite or config.default_suite_path(), quick=quick, overrides=overrides)
        progress.start(len(planned.candidates), quick=quick)
        ctx = run_suite(suite, out_dir=out_dir, quick=quick, progress=progress, overrides=overrides,
                        against=against, against_threshold=threshold)
    finally:
        progress.stop()
    click.echo(summary_text(ctx.results, str(ctx.run_dir)))
    click.echo(f"wall time: {time.perf_counter() - started:.1f} s", err=True)
    failed = [c for c in ctx.candidates if not c.ok]
    sys.exit(_verdict_exit(ctx.results, strict, EXIT_CRASH if failed else EXIT_OK))


def _verdict_exit(results: dict, strict: bool, fallback: int) -> int:
    """The exit code the verdict decided (fallback when the verdict stage did not run)."""
    from benchharness.decide.verdict import summary_lines
    from benchharness.report.console import fold

    v = schema.verdict(results)
    if not v:
        return fallback
    click.echo(fold("\n".join(summary_lines(results))))
    against = schema.run_section(results, "against").get("exit_code", exit_codes.OK)
    return exit_codes.combine(v["exit_code_strict" if strict else "exit_code"], against)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--suite", "suite_path", type=click.Path(dir_okay=False),
              help="Judge again with this suite's limits, objective and plan (nothing is re-measured).")
@click.option("--profile", default=None, metavar="NAME|PATH",
              help="What-if: re-price the run on this profile (an estimate, written to whatif-NAME.json).")
def report(run_dir: str, suite_path: str | None, profile: str | None) -> None:
    """Remake report.html, report.md and the charts of RUN_DIR from its results.json."""
    if profile:
        from benchharness.cost.whatif import whatif_command

        sys.exit(whatif_command(run_dir, _profile_arg(profile)))
    from benchharness import config
    from benchharness.decide.verdict import rejudge
    from benchharness.report.write import write_report
    from benchharness.results import load_results, save_results

    results = load_results(run_dir)
    try:
        if suite_path:
            rejudge(results, config.load_suite(suite_path))
            save_results(results, run_dir)
        written = write_report(run_dir, results)
    except OSError as exc:  # a read-only run folder: one line, not an internal error
        raise UserError(f"cannot write into the run folder {run_dir!r}: {exc.strerror or exc} "
                        f"({exc.filename or run_dir})") from None
    if schema.verdict(results):
        from benchharness.decide.verdict import headline
        from benchharness.report.console import fold

        click.echo(fold(headline(results)))  # to the terminal's width, as `bench run` prints it
        click.echo(fold(schema.verdict(results)["sentence"]))
    click.echo(f"report: {run_dir}/{written['html']} and {written['markdown']}")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--threshold", default=0.10, show_default=True, type=click.FloatRange(0, None),
              help="Relative change in the worse direction that counts as a regression.")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="1 - confidence of the interval of each change (a bootstrap over the runs' trials).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the comparison as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False),
              help="Also write the comparison as an HTML page with a chart of the changes.")
@click.option("--against", default=None, metavar="last|best|RUN_ID",
              help="Reference run from the history index of RUN_DIR's results folder (see bench history).")
def compare(run_dirs: tuple[str, ...], threshold: float, alpha: float, json_out: str | None,
            html_out: str | None, against: str | None) -> None:
    """Compare runs with the first one (e.g. before/after a change, or two machines)."""

    from benchharness.decide.compare import compare_runs, compare_text

    if against:
        from benchharness.history.command import reference_run

        try:
            run_dirs = (str(reference_run(run_dirs[0], against)), *run_dirs)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    if len(run_dirs) < 2:
        click.echo(f"error: compare needs at least two run directories, got {len(run_dirs)}", err=True)
        sys.exit(EXIT_USAGE)
    from benchharness.run_folder import check_output_file, write_output
    from benchharness.run_folder import plain as _plain

    for flag, path in (("--json", json_out), ("--html", html_out)):
        if path is not None:  # before comparing: a path that cannot be written is one line, exit 2
            check_output_file(path, flag)
    doc = compare_runs(list(run_dirs), threshold=threshold, alpha=alpha)
    click.echo(compare_text(doc))
    if json_out:
        import json

        write_output(json_out, json.dumps(_plain(doc), indent=2, allow_nan=False), "--json")
    if html_out:
        from benchharness.report.compare_page import write_compare_html

        try:
            click.echo(f"page: {write_compare_html(doc, html_out)}")
        except OSError as exc:
            raise UserError(f"cannot write --html {html_out!r}: {exc.strerror or exc}") from None
    sys.exit(doc["exit_code"])


@main.command()
@click.argument("suite", required=False, type=click.Path(dir_okay=False))
@click.option("--runs", default=5, show_default=True, type=click.IntRange(3, 50),
              help="Identical runs of the suite to measure the drift between runs from.")
@click.option("--quick", is_flag=True, help="Calibrate --quick runs (their windows are shorter).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Keep the runs in this folder (default: a temporary one, removed after).")
def calibrate(suite: str | None, runs: int, quick: bool, out_dir: str | None) -> None:
    """Measure this machine's run-to-run drift; later runs use it instead of the priors."""
    import tempfile

    from benchharness import config, machine_calibration
    from benchharness.api import run_suite
    from benchharness.history.identity import machine_fingerprint
    from benchharness.measure.run_level import TAIL_RUN_CV

    docs, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-calibrate-") as tmp:
        for i in range(runs):
            done = time.perf_counter() - started
            eta = f", about {done / i * (runs - i):.0f} s left" if i else ""
            click.echo(f"calibrate: run {i + 1}/{runs}{eta}", err=True)
            ctx = run_suite(suite, out_dir=out_dir or tmp, quick=quick, progress=lambda _m: None)
            docs.append(ctx.results)
    fingerprint = machine_fingerprint(schema.run_section(docs[0], "environment"))
    if not fingerprint:
        raise UserError("calibrate: this machine has no fingerprint (hostname and CPU unknown); nothing stored")
    found = machine_calibration.estimate(docs)
    path = machine_calibration.save(fingerprint, quick, schema.run_section(docs[0], "suite").get("name", "?"), runs, found)
    priors = {"centre": config.RUN_CV, "tail": TAIL_RUN_CV, "batch": config.BATCH_RUN_CV}
    click.echo(f"run-level drift on this machine ({runs} identical runs{', --quick' if quick else ''}):")
    for cls, prior in priors.items():
        value = found["classes"].get(cls)
        shown = "not measured" if value is None else f"{value:.1%}"
        click.echo(f"  {cls:<7} {shown:>13}   (built-in prior {prior:.0%})")
    click.echo(f"stored for machine {fingerprint} in {path}; later runs here use it in place of the priors")


from benchharness.data.commands import monitor, validate  # noqa: E402  (data checks)

main.add_command(validate)
main.add_command(monitor)
from benchharness.history.command import history  # noqa: E402

main.add_command(history)

from benchharness.fleet.commands import fleet, worker  # noqa: E402  (one suite on many machines)

main.add_command(worker)
main.add_command(fleet)


@main.command()
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback unless you mean otherwise).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--name", default=None, help="Model name in the URL /v2/models/NAME (default: the file's stem).")
@click.option("--format", "fmt", default=None, help="Force an adapter (see the supported formats).")
@click.option("--options", "options_json", default=None, help='Adapter options as JSON, e.g. \'{"intra_op_num_threads": 1}\'.')
@click.option("--max-request-bytes", default=16 * 1024 * 1024, show_default=True, type=click.IntRange(1), help="Larger request bodies get HTTP 413.")
@click.option("--exit-with-stdin", is_flag=True, hidden=True)
def serve(model: str, host: str, port: int, name: str | None, fmt: str | None, options_json: str | None,
          max_request_bytes: int, exit_with_stdin: bool) -> None:
    """Serve MODEL over HTTP with the Open Inference Protocol (KServe V2)."""
    from benchharness.serve.cli import serve_command

    serve_command(model, host, port, name, fmt, options_json, max_request_bytes, exit_with_stdin)


def _profile_arg(profile: str) -> str:
    """A --profile path is relative to where the command runs, not to the suite."""
    from pathlib import Path

    return str(Path(profile).resolve()) if Path(profile).is_file() else profile


@main.command()
@click.argument("suite", required=False, type=click.Path(dir_okay=False))
@click.option("--profile", default=None, metavar="NAME|PATH", help="Profile to show (default: the suite's, else local).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def env(suite: str | None, profile: str | None, as_json: bool) -> None:
    """Show the machine detected here and the hardware profile a run would be priced with."""
    from benchharness.report.env import env_report

    click.echo(env_report(suite, _profile_arg(profile) if profile else None, as_json))
