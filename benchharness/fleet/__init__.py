"""One suite on a fleet of target machines through Dask distributed.

`bench worker` (worker.py) runs on each target machine and advertises its hardware profile
as the Dask resource `profile-<NAME>=1`; `bench fleet` (submit.py) ships the suite and the
files it names (bundle.py) to one worker per target, where task.py runs `api.run_suite` in a
child process (runner.py) priced with that target's profile, brings each run folder back,
and answers over (candidate, target) pairs (verdict.py, report.py, fleet.json).
"""
