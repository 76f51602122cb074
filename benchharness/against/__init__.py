"""`bench run SUITE --against RUN_DIR|last|best`: an earlier run's candidates measured again,
round by round beside this run's, so each figure's change is a paired ratio.

- `keep.py`: every run keeps a copy of each candidate's model file in its folder
  (`models/`), so that the run can be measured again after the file changed;
- `reference.py`: which run is the reference, and its candidates added to this run (role
  `reference`, results under `results["against"]["candidates"]`, not among the run's own);
- `changes.py`: `against_stage`, the change of every figure (paired per-round ratios:
  `decide/paired.py`), the four outcomes, the smallest change each could show, the exit code.
"""
