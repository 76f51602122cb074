"""What `bench serve` does between parsing its flags and serving (kept out of cli.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from benchharness.errors import UserError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_options(options_json: str | None) -> dict:
    if not options_json:
        return {}
    try:
        options = json.loads(options_json)
    except ValueError as exc:
        raise UserError(f"--options must be a JSON object, got {options_json!r} ({exc})") from None
    if not isinstance(options, dict):
        raise UserError(f"--options must be a JSON object, got {options_json!r}")
    return options


def default_name(model: str) -> str:
    stem = Path(model).name.split(".")[0] or "model"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)


def serve_command(model: str, host: str, port: int, name: str | None, fmt: str | None,
                  options_json: str | None, max_request_bytes: int, exit_with_stdin: bool) -> None:
    from benchharness.adapters.registry import check_model_source
    from benchharness.serve.server import serve_model

    options = parse_options(options_json)
    name = name or default_name(model)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise UserError(f"--name must use letters, digits, '_', '-', '.', got {name!r}")
    from benchharness.adapters.pickles import guard_pickle

    guard_pickle(model, fmt, warn=lambda line: click.echo(line, err=True))
    if host not in LOOPBACK:
        click.echo(f"warning: listening on {host}, reachable from other machines; there is no authentication", err=True)
    check_model_source(model, options, fmt)  # a missing file or unknown option: exit 2 at once
    spec = {"model": model, "format": fmt, "options": options, "name": name,
            "max_request_bytes": max_request_bytes}
    # the model loads in its own process only; one that cannot load is exit 2, before serving
    serve_model(spec, host, port, announce=lambda line: click.echo(line), exit_with_stdin=exit_with_stdin)
