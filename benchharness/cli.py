"""The `bench` command line: parse, call the API, print, exit code.

Exit codes: 0 every candidate measured; 2 a usage or suite error (nothing measured);
3 a candidate failed or crashed (the others were still measured and saved).
"""

from __future__ import annotations

import sys
import time

import click

from benchharness.errors import UserError

EXIT_OK, EXIT_NONE_QUALIFIES, EXIT_USAGE, EXIT_CANDIDATE_FAILED = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="benchharness")
def main() -> None:
    """benchharness: which model goes to production, on which machine, at what cost."""


@main.command()
@click.argument("suite", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default="results", show_default=True, help="Where run folders are written.")
@click.option("--quick", is_flag=True, help="Short measurement windows (a smoke test, not a benchmark).")
def run(suite: str | None, out_dir: str, quick: bool) -> None:
    """Run SUITE (default: the built-in quickstart) and print the summary."""
    from benchharness.api import run_suite
    from benchharness.report.terminal import summary_text

    started = time.perf_counter()
    try:
        ctx = run_suite(suite, out_dir=out_dir, quick=quick, progress=lambda m: click.echo(m, err=True))
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(summary_text(ctx.results, str(ctx.run_dir)))
    click.echo(f"wall time: {time.perf_counter() - started:.1f} s", err=True)
    failed = [c for c in ctx.candidates if not c.ok]
    sys.exit(EXIT_CANDIDATE_FAILED if failed else EXIT_OK)
