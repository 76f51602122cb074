"""The child process a fleet task starts on the worker: `api.run_suite`, as `bench run` does.

    python -m benchharness.fleet.runner SUITE OUT_DIR PROFILE [--quick]

Running the suite in its own process keeps the Dask worker's threads and event loop out of
the run's process (the measurements themselves happen in its children, as in `bench run`),
gives the run a main thread for Ctrl-C, and lets a cancelled task stop it. A watchdog
stops the run when the worker that started it is gone (SIGINT to itself, so the run's own
clean-up stops its children), so a killed worker leaves no run behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from benchharness import exit_codes

#: how long an orphaned run may take to stop its children before it is ended outright
ORPHAN_GRACE_S = 15.0


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    print("the worker that started this run is gone: stopping", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(ORPHAN_GRACE_S)
    os._exit(exit_codes.INTERRUPTED)


def main(argv: list[str]) -> int:
    from benchharness.api import run_suite
    from benchharness.errors import UserError

    suite, out_dir, profile = argv[:3]
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        run_suite(suite, out_dir=out_dir, quick="--quick" in argv[3:],
                  progress=lambda m: print(m, file=sys.stderr, flush=True),
                  overrides={"profile": profile})
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exit_codes.USAGE
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
