"""`bench fleet`: one suite on one worker per target, each run brought back, one answer.

Flow: validate and pack the suite (bundle.py) -> connect to the scheduler (or start an
embedded cluster on this machine) -> submit `task.run_target` once per target with the
resource `profile-<target>=1` -> watch every half second -> write each run folder under
`<out>/<fleet-id>/<target>/` -> judge (candidate, target) pairs (verdict.py) -> fleet.json
and the fleet report (report.py).

Faults:
- a target whose profile no worker advertises waits `worker_wait_s`, then is `failed`
  ("no worker ..."); the others go on. The same wait applies when the worker running a
  target leaves mid-run (a worker that rejoins in time picks the task up again).
- targets whose workers share a host run one after another (one benchmark per machine).
- Ctrl-C sets the fleet's cancel event (each running task stops its run, which saves what it
  measured, and sends it back), cancels what has not started, and writes what came back.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from benchharness.errors import UserError
from benchharness.fleet.bundle import pack_suite, unpack_tree
from benchharness.fleet.report import SAME_HARDWARE_NOTE
from benchharness.fleet.worker import RESOURCE_PREFIX, resource_name
from benchharness.run_folder import safe_name

LOOPBACK = "127.0.0.1"
POLL_S = 0.5
#: default wait for a worker of a target (also after its worker left mid-run)
DEFAULT_WORKER_WAIT_S = 60.0
#: after Ctrl-C, how long running targets get to stop and send back what they measured
CANCEL_WAIT_S = 40.0


@dataclass
class TargetRun:
    target: str
    status: str = "waiting"  # waiting | running | ok | failed | cancelled
    error: str | None = None
    run_dir: str | None = None  # relative to the fleet folder
    run_id: str | None = None
    worker: dict | None = None
    host: str | None = None
    exit_code: int | None = None
    wall_s: float | None = None
    profile: dict | None = None  # the run's profile section: name, price, mismatch, machine
    future: object = None
    missing_since: float | None = None
    said: set = field(default_factory=set)

    def to_dict(self) -> dict:
        prof = self.profile or {}
        return {
            "target": self.target, "status": self.status, "run_dir": self.run_dir,
            "error": self.error, "run_id": self.run_id, "worker": self.worker,
            "exit_code": self.exit_code, "wall_s": self.wall_s,
            "priced_with": prof.get("name"),
            "price_per_hour_usd": prof.get("price_per_hour_usd"),
            "machine": _machine_summary(prof.get("machine") or {}),
            "profile_mismatch": prof.get("mismatch"),
        }


def _machine_summary(machine: dict) -> dict | None:
    if not machine:
        return None
    gpu = machine.get("gpu") or {}
    devices = gpu.get("devices") or [] if gpu.get("available") else []
    return {"cpu_model": machine.get("cpu_model"), "architecture": machine.get("architecture"),
            "usable_cores": machine.get("usable_cores"), "memory_gb": machine.get("memory_gb"),
            "gpus": [d.get("name") for d in devices]}


def new_fleet_id(suite_name: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{safe_name(suite_name)}-fleet-{uuid.uuid4().hex[:6]}"


def parse_targets(text: str) -> list[str]:
    targets = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not targets:
        raise UserError(f"--targets needs at least one profile name (A,B,...), got {text!r}")
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise UserError(f"--targets names {dupes[0]!r} twice; each target runs once")
    return targets


def embedded_cluster(targets: list[str]):
    """A scheduler and one worker process per target on loopback, each advertising its profile."""
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {safe_name(t): {"cls": Nanny, "options": {
        "host": LOOPBACK, "nthreads": 1, "resources": {resource_name(t): 1}, "dashboard": False,
        "silence_logs": logging.ERROR, "preload": ["benchharness.fleet.quiet_worker"]}} for t in targets}
    scheduler = {"cls": Scheduler, "options": {"host": LOOPBACK, "dashboard": False,
                                               "dashboard_address": f"{LOOPBACK}:0"}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR,
                       name="bench-fleet")


def _host(address: str) -> str:
    return urlsplit(address).hostname or address


def _workers_by_target(client) -> dict[str, list[tuple[str, str]]]:
    """{profile name: [(worker address, host)]} from the workers' advertised resources."""
    out: dict[str, list[tuple[str, str]]] = {}
    for addr, ws in client.scheduler_info(n_workers=-1).get("workers", {}).items():
        for res in ws.get("resources") or {}:
            if res.startswith(RESOURCE_PREFIX):
                out.setdefault(res[len(RESOURCE_PREFIX):], []).append((addr, _host(addr)))
    return out


def run_fleet(suite_path: str | Path, targets: list[str], scheduler: str | None = None,
              out_dir: str | Path = "results", quick: bool = False,
              worker_wait_s: float = DEFAULT_WORKER_WAIT_S, security=None, progress=print) -> dict:
    """Run the suite on every target; return the fleet document (also saved as fleet.json)."""
    from benchharness.fleet.report import write_fleet

    bundle = pack_suite(suite_path)
    if scheduler is None:  # every target is priced here with its profile: check the names now
        from benchharness.cost.hardware import load_profile

        for t in targets:
            load_profile(t)
    fleet_id = new_fleet_id(bundle["suite_name"] or Path(suite_path).stem)
    fleet_dir = Path(out_dir) / fleet_id
    fleet_dir.mkdir(parents=True, exist_ok=True)
    for kept in bundle["kept_as_is"]:
        progress(f"note: {kept}")
    runs = [TargetRun(t) for t in targets]
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    interrupted = False
    cluster = client = None
    try:
        from distributed import Client

        if scheduler is None:
            progress(f"no --scheduler: starting a local cluster, one worker per target. {SAME_HARDWARE_NOTE}")
            cluster = embedded_cluster(targets)
            client = Client(cluster, security=security)
        else:
            progress(f"connecting to scheduler {scheduler}")
            try:
                client = Client(scheduler, security=security, timeout=30)
            except OSError as exc:
                raise UserError(f"cannot reach the scheduler at {scheduler}: {exc}") from None
        cancel_name = f"bench-fleet-cancel-{fleet_id}"
        try:
            _watch(client, runs, bundle, quick, cancel_name, worker_wait_s, fleet_dir, progress)
        except KeyboardInterrupt:
            interrupted = True
            progress("interrupted: cancelling the targets still running; keeping what comes back")
            _cancel(client, runs, cancel_name, fleet_dir, progress)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    doc = write_fleet(fleet_dir, fleet_id, runs, suite_path, bundle, scheduler, started, interrupted)
    return doc


def _submit(client, run: TargetRun, bundle: dict, quick: bool, cancel_name: str, fleet_id: str):
    from benchharness.fleet.task import run_target

    return client.submit(run_target, bundle, run.target, quick, cancel_name,
                         resources={resource_name(run.target): 1}, pure=False, retries=0,
                         key=f"bench-fleet-{fleet_id}-{safe_name(run.target)}")


def _watch(client, runs: list[TargetRun], bundle: dict, quick: bool, cancel_name: str,
           worker_wait_s: float, fleet_dir: Path, progress) -> None:
    fleet_id = fleet_dir.name
    while any(r.status in ("waiting", "running") for r in runs):
        workers = _workers_by_target(client)
        busy = {r.host for r in runs if r.status == "running"}
        for r in runs:
            present = workers.get(r.target, [])
            if r.status == "running" and r.future.done():
                _collect(r, fleet_dir, progress)
                continue
            if present:
                r.missing_since = None
            elif _gone_too_long(r, worker_wait_s):
                _give_up(client, r, worker_wait_s, progress)
                continue
            if r.status == "waiting" and present:
                host = present[0][1]
                if host in busy:
                    if "queued" not in r.said:
                        r.said.add("queued")
                        progress(f"[{r.target}] waits: its worker shares host {host} with a running target")
                    continue
                r.future = _submit(client, r, bundle, quick, cancel_name, fleet_id)
                r.status, r.host = "running", host
                busy.add(host)
                progress(f"[{r.target}] running on {present[0][0]}")
        time.sleep(POLL_S)


def _gone_too_long(r: TargetRun, wait_s: float) -> bool:
    if r.status not in ("waiting", "running"):
        return False
    now = time.monotonic()
    if r.missing_since is None:
        r.missing_since = now
    return now - r.missing_since >= wait_s


def _give_up(client, r: TargetRun, wait_s: float, progress) -> None:
    if r.status == "running":
        r.error = (f"its worker ({r.host}) left mid-run and no worker advertising "
                   f"{resource_name(r.target)} came back within {wait_s:g} s")
        client.cancel([r.future], force=True)
    else:
        r.error = (f"no worker advertises {resource_name(r.target)} (waited {wait_s:g} s); start one "
                   f"on that machine: bench worker --scheduler ADDRESS --profile {r.target}")
    r.status = "failed"
    progress(f"[{r.target}] FAILED: {r.error}")


def _collect(r: TargetRun, fleet_dir: Path, progress) -> None:
    fut = r.future
    if fut.status != "finished":
        exc = fut.exception() if fut.status == "error" else None
        r.status = "failed"
        r.error = f"the task ended with {type(exc).__name__}: {exc}" if exc else f"the task was {fut.status}"
        progress(f"[{r.target}] FAILED: {r.error}")
        return
    out = fut.result()
    r.status, r.error = out["status"], out.get("error")
    r.worker, r.exit_code, r.wall_s, r.run_id = out.get("worker"), out.get("exit_code"), out.get("wall_s"), out.get("run_id")
    if out.get("files"):
        target_dir = fleet_dir / safe_name(r.target)
        unpack_tree(out["files"], target_dir)
        r.run_dir = target_dir.name
        r.profile = _read_profile(target_dir)
    r.future = None
    where = (r.worker or {}).get("hostname", "?")
    if r.status == "ok":
        progress(f"[{r.target}] done on {where} in {r.wall_s} s -> {fleet_dir / (r.run_dir or '')}")
        for m in (r.profile or {}).get("mismatch") or []:
            progress(f"[{r.target}] note: the machine it ran on differs from the profile: {m}")
    else:
        progress(f"[{r.target}] {r.status.upper()}: {r.error}")


def _read_profile(run_dir: Path) -> dict | None:
    from benchharness.errors import UserError
    from benchharness.results import load_results

    try:
        return load_results(run_dir).get("profile")
    except (OSError, UserError):
        return None


def _cancel(client, runs: list[TargetRun], cancel_name: str, fleet_dir: Path, progress) -> None:
    from distributed import Event

    try:
        Event(cancel_name, client=client).set()
    except Exception as exc:  # noqa: BLE001 - the scheduler is gone: nothing more to ask
        progress(f"could not reach the scheduler to cancel: {exc}")
    waiting = [r for r in runs if r.status == "waiting"]
    for r in waiting:
        r.status, r.error = "cancelled", "cancelled before it started (Ctrl-C)"
    deadline = time.monotonic() + CANCEL_WAIT_S
    try:
        while any(r.status == "running" for r in runs) and time.monotonic() < deadline:
            for r in runs:
                if r.status == "running" and r.future.done():
                    _collect(r, fleet_dir, progress)
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: stop waiting
    for r in runs:
        if r.status == "running":
            client.cancel([r.future], force=True)
            r.status, r.error = "cancelled", "cancelled (Ctrl-C); nothing came back in time"
