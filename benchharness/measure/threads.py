"""Thread settings and CPU affinity for a measurement child, set explicitly and recorded.

Three layers decide how many threads a model uses: the runtime's own pools (onnxruntime's
intra/inter-op threads, passed as adapter options), the BLAS/OpenMP pools under numpy and
scikit-learn (environment variables before import, threadpoolctl after), and the CPUs the
process may run on (os.sched_setaffinity). Left implicit, each defaults to "all cores" and
two runs of the same model are not comparable; here each is set from the suite's `threads`
section and written into the results.
"""

from __future__ import annotations

import os

# the variables the BLAS/OpenMP libraries read once, at import
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_ORT_OPTIONS = {"intra_op": "intra_op_num_threads", "inter_op": "inter_op_num_threads"}


def child_env(threads: dict) -> dict[str, str]:
    """Environment for a measurement child: BLAS/OpenMP pools sized before any import."""
    blas = threads.get("blas")
    return {var: str(blas) for var in _THREAD_VARS} if blas else {}


def runtime_options(threads: dict, options: dict, accepted: frozenset[str]) -> dict:
    """The candidate's adapter options plus the suite's runtime threads, where the adapter
    takes them (onnxruntime) and the candidate did not set them itself."""
    out = dict(options)
    for key, option in _ORT_OPTIONS.items():
        if threads.get(key) and option in accepted and option not in out:
            out[option] = int(threads[key])
    return out


def apply_in_child(threads: dict) -> dict:
    """Pin the CPU set and cap BLAS/OpenMP pools in this process; return what is in force."""
    record: dict = {"requested": dict(threads)}
    affinity = threads.get("affinity")
    if affinity and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, set(affinity))
        except OSError:
            from benchharness.errors import SuiteError

            have = sorted(os.sched_getaffinity(0))
            raise SuiteError(f"'threads.affinity' must name CPUs this process may use, got "
                             f"{sorted(affinity)}; allowed: {have}") from None
    if hasattr(os, "sched_getaffinity"):
        record["affinity"] = sorted(os.sched_getaffinity(0))
    blas = threads.get("blas")
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        if blas:
            # kept alive for the life of the child: the limit lasts as long as the object
            global _LIMITS
            _LIMITS = threadpool_limits(limits=int(blas))
        record["threadpools"] = [
            {"api": p.get("user_api"), "library": p.get("internal_api"), "threads": p.get("num_threads")}
            for p in threadpool_info()
        ]
    except ImportError:  # threadpoolctl is a dependency; guard only against a broken install
        record["threadpools"] = None
    return record


_LIMITS = None
