"""Dask worker preload for the embedded cluster: the worker processes ignore Ctrl-C.

The embedded workers are children of `bench fleet`, in the terminal's process group, so a
Ctrl-C would reach them too and kill them before they send back what their runs measured.
`bench fleet` itself handles Ctrl-C: it asks each running task to stop its run, then closes
the cluster. (Each run is in its own session and stops only when asked, or when its worker
is gone.)
"""

from __future__ import annotations

import signal


def dask_setup(worker) -> None:  # the name Dask calls in a preload module
    signal.signal(signal.SIGINT, signal.SIG_IGN)
