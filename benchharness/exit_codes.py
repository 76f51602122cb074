"""Exit codes: one table for every `bench` command, one meaning per code.

A CI job reads the code alone, so each code means one thing whatever the command:

| code | meaning |
| ---- | ------- |
| 0    | yes: a candidate qualifies, no regression, every row valid, no alert |
| 1    | no: nothing qualifies, a regression, rows quarantined, an alert (the tool worked; the answer is no) |
| 2    | usage or suite error: nothing was measured (the message names what was wrong) |
| 3    | a candidate (or a fleet target) failed or crashed; the others were measured and saved |
| 4    | inconclusive: the figures' intervals straddle a limit; retry with more trials or a quieter machine |
| 70   | internal error of benchharness itself (a bug: one line on the terminal, details in the run folder) |
| 130  | interrupted by Ctrl-C (SIGINT); what was measured is saved |
| 143  | terminated (SIGTERM); what was measured is saved |
"""

from __future__ import annotations

OK = 0
NO = 1
USAGE = 2
CANDIDATE_FAILED = 3
INCONCLUSIVE = 4
INTERNAL_ERROR = 70  # EX_SOFTWARE in sysexits.h
INTERRUPTED = 130  # 128 + SIGINT
TERMINATED = 143  # 128 + SIGTERM

MEANINGS = {
    OK: "yes: a candidate qualifies / no regression / every row valid / no alert",
    NO: "no: nothing qualifies / a regression / rows quarantined / an alert",
    USAGE: "usage or suite error: nothing measured",
    CANDIDATE_FAILED: "a candidate or fleet target failed or crashed; the others were measured",
    INCONCLUSIVE: "inconclusive: intervals straddle a limit; more trials or a quieter machine",
    INTERNAL_ERROR: "internal error of benchharness (a bug)",
    INTERRUPTED: "interrupted (Ctrl-C); what was measured is saved",
    TERMINATED: "terminated (SIGTERM); what was measured is saved",
}


#: which answer wins when one command gives several (a run's verdict and its comparison with a
#: reference run): a crash, then a no, then inconclusive, then yes
_PRECEDENCE = (CANDIDATE_FAILED, NO, INCONCLUSIVE, OK)


def combine(*codes: int) -> int:
    """The one exit code of several answers (see _PRECEDENCE); an unknown code wins."""
    for code in codes:
        if code not in _PRECEDENCE:
            return code
    return min(codes, key=_PRECEDENCE.index) if codes else OK
