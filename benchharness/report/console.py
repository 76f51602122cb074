"""What the terminal shows: tables that fit its width, long lines folded, progress on stderr.

Tables are drawn by `rich`: a table wider than the terminal first loses its least important
columns (those left entirely empty first, then by the priority its caller gives), then rich
folds the text of the remaining cells. What was left out is named under the table; every
figure stays in the report. Progress goes to stderr, with a live bar and an estimated time left
only when stderr is a terminal; otherwise (CI logs, pipes) one plain line per message.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

#: width used when neither COLUMNS nor a terminal says otherwise (logs, pipes)
DEFAULT_WIDTH = 100
#: a table may be this much wider than the terminal before columns are dropped: rich folds
#: a few text cells over two lines, which reads better than losing a column
FOLD_ALLOWANCE = 1.15


def terminal_width(stream=None) -> int:
    """COLUMNS if set, else the terminal's width, else DEFAULT_WIDTH."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 20:
        return int(env)
    stream = stream or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


def _console(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None, highlight=False,
                   emoji=False, markup=False, soft_wrap=False)


def _longest_word(text: str) -> int:
    return max((len(w) for w in str(text).split()), default=0)


def _widths(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[tuple[int, int, bool]]:
    """Per column: (narrowest, natural, atomic). An atomic column (numbers, names: no spaces)
    is never broken; a phrase folds between words; a header folds between words."""
    out = []
    for i, h in enumerate(header):
        cells = [str(r[i]) for r in rows]
        atomic = all(" " not in c for c in cells)
        longest_cell = max((len(c) for c in cells), default=0)
        natural = max(len(h), longest_cell)
        narrowest = max(_longest_word(h), longest_cell if atomic
                        else max((_longest_word(c) for c in cells), default=0))
        out.append((narrowest, natural, atomic))
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="", show_header=True)
    for h, (narrowest, _natural, atomic) in zip(header, _widths(header, rows)):
        if atomic:  # a fixed width: rich never shrinks it, only folds its header
            table.add_column(h, width=narrowest, overflow="fold")
        else:
            table.add_column(h, min_width=narrowest, overflow="fold")
    for r in rows:
        table.add_row(*[str(c) for c in r])
    return table


def _fits(header, rows, width: int) -> bool:
    widths = _widths(header, rows)
    gaps = 2 * (len(widths) - 1)
    narrowest = sum(w[0] for w in widths) + gaps
    natural = sum(w[1] for w in widths) + gaps
    return narrowest <= width and natural <= width * FOLD_ALLOWANCE


def render_table(rows: Sequence[Sequence[str]], header: Sequence[str],
                 priorities: Sequence[int] | None = None, width: int | None = None) -> str:
    """`rows` under `header` as text no wider than `width` (the terminal's by default).

    `priorities`: one number per column, lower = kept longer (default: left to right). The
    first column is always kept.
    """
    width = width or terminal_width()
    header = list(header)
    rows = [list(r) for r in rows]
    order = list(priorities) if priorities else list(range(len(header)))
    empty = {i for i in range(1, len(header)) if rows and all(r[i] in ("-", "") for r in rows)}
    keep = list(range(len(header)))
    dropped: list[str] = []
    # least important first: empty columns, then by priority (highest number), rightmost first
    candidates = sorted(range(1, len(header)), key=lambda i: (i in empty, order[i], i), reverse=True)
    for i in candidates:
        cols = [header[j] for j in keep]
        cells = [[r[j] for j in keep] for r in rows]
        if _fits(cols, cells, width) or len(keep) <= 2:
            break
        keep.remove(i)
        if i not in empty:
            dropped.append(header[i])
    console = _console(width)
    console.print(_table([header[j] for j in keep], [[r[j] for j in keep] for r in rows]))
    text = "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())
    if dropped:
        note = f"(left out at {width} columns: {', '.join(dropped)}; all figures in the report)"
        text += "\n" + fold(note, width)
    return text


def fold(text: str, width: int | None = None) -> str:
    """Every line of `text` folded to `width`, continuation lines indented under the first."""
    width = width or terminal_width()
    out = []
    for line in text.splitlines() or [""]:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        out += textwrap.wrap(line.strip(), width=width, initial_indent=indent,
                             subsequent_indent=indent + "  ", break_on_hyphens=False,
                             break_long_words=True)
    return "\n".join(out)


#: a step of the timed measurements as `measure.trials.run_jobs` announces it:
#: 'trial 3/36: [forest] closed loop trial 2, about 40 s left'
_TRIAL_STEP = re.compile(r"^(?P<what>[\w -]*?trial) (?P<n>\d+)/(?P<m>\d+): .*?(?:about (?P<left>\d+) s left)?$")


class RunProgress:
    """The `progress` callback of a run: each message on stderr, folded to the terminal; on
    a terminal also a live bar: over the candidates prepared, then over the timed trials
    (the long part), with the time left the trials' own estimate gives."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = terminal_width(self.stream)
        self._progress = None
        self._task = None
        self._total = 0
        self._started = 0

    def start(self, candidates: int, quick: bool = False) -> None:
        """Announce the run; on a terminal, start the bar over `candidates` measurements."""
        self._total = candidates
        if quick:
            self(quick_banner())
        if not self.live or candidates <= 0:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=self.stream, width=self.width, highlight=False, markup=False)
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("elapsed"), TimeElapsedColumn(),
                                  TextColumn("left {task.fields[left]}"),
                                  console=console, transient=True)
        self._task = self._progress.add_task("preparing candidates", total=candidates,
                                             left="estimated once trials start")
        self._progress.start()

    def __call__(self, message: str) -> None:
        if self._progress is not None:
            step = _TRIAL_STEP.match(message)
            if step:  # the bar follows the timed trials, with their own estimate of time left
                left = f"about {step['left']} s" if step["left"] else "estimating"
                self._progress.update(self._task, description=step["what"], total=int(step["m"]),
                                      completed=int(step["n"]) - 1, left=left)
            elif message.endswith("] measuring"):
                if self._started:
                    self._progress.advance(self._task)
                self._started += 1
            self._progress.console.print(fold(message, self.width), markup=False,
                                         highlight=False)
            return
        print(fold(message, self.width), file=self.stream, flush=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._total)
            self._progress.stop()
            self._progress = None


def quick_banner() -> str:
    return "QUICK RUN: short measurement windows, 200 bootstrap resamples; a smoke test, not a benchmark"
