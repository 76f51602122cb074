"""The two fleet commands: `bench worker` (on each target machine) and `bench fleet`."""

from __future__ import annotations

import sys

import click

from benchharness import exit_codes
from benchharness.errors import UserError

_TLS = [
    click.option("--tls-ca-file", type=click.Path(dir_okay=False, exists=True), help="CA certificate (PEM) for tls:// addresses."),
    click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), help="This side's certificate (PEM)."),
    click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="This side's private key (PEM)."),
]


def _tls(f):
    for opt in reversed(_TLS):
        f = opt(f)
    return f


@click.command()
@click.option("--scheduler", required=True, metavar="ADDRESS", help="The Dask scheduler, e.g. tcp://10.0.0.5:8786 or tls://...")
@click.option("--profile", required=True, metavar="NAME|PATH", help="This machine's hardware profile (profiles/*.yaml name or a YAML path).")
@click.option("--listen", default="127.0.0.1", show_default=True,
              help="Interface this worker listens on (loopback unless the scheduler is on another machine).")
@click.option("--name", default=None, help="Worker name (default: PROFILE@hostname).")
@_tls
def worker(scheduler: str, profile: str, listen: str, name: str | None, tls_ca_file, tls_cert, tls_key) -> None:
    """Serve fleet runs for one hardware profile (one at a time) from SCHEDULER.

    Runs whatever suite the scheduler's clients submit: expose the scheduler only to people
    you would let run code on this machine (see docs/fleet.md)."""
    from benchharness.fleet.worker import run_worker, security_from

    try:
        run_worker(scheduler, profile, listen, security_from(tls_ca_file, tls_cert, tls_key), name,
                   say=lambda m: click.echo(m, err=True))
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_codes.USAGE)
    except KeyboardInterrupt:
        click.echo("worker stopped (Ctrl-C)", err=True)
        sys.exit(exit_codes.INTERRUPTED)
    except OSError as exc:
        click.echo(f"error: cannot join the scheduler at {scheduler}: {exc}", err=True)
        sys.exit(exit_codes.USAGE)


@click.command()
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option("--targets", required=True, metavar="NAME[,NAME...]", help="Profiles to run on, one worker each.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="The Dask scheduler; without it a local cluster runs every target on THIS machine.")
@click.option("--out", "out_dir", default="results", show_default=True, help="Where the fleet folder is written.")
@click.option("--quick", is_flag=True, help="Short measurement windows (a smoke test, not a benchmark).")
@click.option("--worker-wait", default=60.0, show_default=True, type=click.FloatRange(0, None), metavar="SECONDS",
              help="How long a target waits for a worker advertising its profile (also after its worker left) before it fails.")
@_tls
def fleet(suite: str, targets: str, scheduler: str | None, out_dir: str, quick: bool, worker_wait: float,
          tls_ca_file, tls_cert, tls_key) -> None:
    """Run SUITE on one worker per target machine and say which candidate to ship on which."""
    from benchharness.fleet.report import summary_text
    from benchharness.fleet.submit import parse_targets, run_fleet
    from benchharness.fleet.worker import security_from

    try:
        from benchharness.run_folder import ensure_out_dir

        ensure_out_dir(out_dir)  # before any cluster starts
        if scheduler is not None:
            from benchharness.scheduler_address import require_listening

            scheduler = require_listening(scheduler)
        names = parse_targets(targets)
        doc = run_fleet(suite, names, scheduler=scheduler, out_dir=out_dir, quick=quick,
                        worker_wait_s=worker_wait, security=security_from(tls_ca_file, tls_cert, tls_key),
                        progress=lambda m: click.echo(m, err=True))
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_codes.USAGE)
    from pathlib import Path

    click.echo(summary_text(doc, Path(out_dir) / doc["fleet_id"]))
    sys.exit(doc["exit_code"])
