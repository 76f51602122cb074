"""`isolation.memory_limit_mb` checked before anything is measured.

The limit caps a child's address space (RLIMIT_AS). A child starts with the address space of
the fork server it was forked from (the preloaded libraries: ~500 MB with scikit-learn and
onnxruntime), or, spawned, of an interpreter that imports them. A limit below that cannot
work: the child could not allocate anything, and a thread pool waiting for a thread that was
never made hangs until the timeout. So the run starts one child the way it will start every
measurement child, without the limit, reads its address space, and a limit below it (plus
`child_main.START_HEADROOM_MB`) is a suite error: one line, exit 2, nothing measured.
"""

from __future__ import annotations

from benchharness.context import RunContext
from benchharness.errors import SuiteError
from benchharness.isolation.child_main import START_HEADROOM_MB, needed_mb
from benchharness.isolation.isolate import run_in_child


def memory_limit_stage(ctx: RunContext) -> None:
    iso = ctx.suite.isolation
    limit = iso.memory_limit_mb
    if not limit:
        return
    from benchharness.measure.settings import as_dict
    from benchharness.measure.stages import preload_modules
    from benchharness.measure.threads import child_env

    if ctx.preload is None:
        ctx.preload = preload_modules(ctx)
    preload = ctx.preload
    forked = iso.start_method == "forkserver"  # a spawned child imports only what it needs
    out = run_in_child("benchharness.isolation.child_main:address_space_mb",
                       {"modules": list(preload) if forked else []},
                       timeout_s=300, env=child_env(as_dict(ctx.suite.threads)), label="memory check child",
                       start_method=iso.start_method, preload=preload)
    if not out.ok or not out.value:  # unknown here (no /proc): the children say it themselves
        return
    start = float(out.value)
    if limit < start + START_HEADROOM_MB:
        raise SuiteError(
            f"isolation.memory_limit_mb {limit:g} cannot work: a measurement child already has "
            f"~{start:.0f} MB of address space before it loads a model ("
            + (f"the libraries the fork server preloads: {', '.join(preload)}" if forked
               else "the interpreter") + f"); give at least "
            f"~{needed_mb(start)} MB, or leave it unset")
    ctx.progress(f"memory limit: {limit:g} MB of address space per child (a child starts at "
                 f"~{start:.0f} MB)")
