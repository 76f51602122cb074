"""Rows grouped by window, for `bench monitor`'s estimation and drift shape.

`WindowCodes` numbers window keys (row blocks or time periods) 0, 1, ... as they appear.
`WindowSample` keeps a uniform sample of at most `size` rows of every window from a stream
of chunks: each row gets a random key and the rows with the smallest keys of each window
are kept (bottom-k, as `stream.Reservoir`), pruned over all windows at once with one sort
now and then, so thousands of small windows cost no more than a few large ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PRUNE_ROWS = 200_000  # rows gathered before a prune (at least as many as are kept)


class WindowCodes:
    """Window keys as codes 0, 1, ... in order of appearance; `ordered` sorts them."""

    def __init__(self, namer):
        self.namer = namer  # window key -> its name in the outputs
        self.keys: list = []
        self._index: dict = {}

    def codes(self, keys: np.ndarray) -> np.ndarray:
        for key in pd.unique(keys):
            if key not in self._index:
                self._index[key] = len(self.keys)
                self.keys.append(key)
        return pd.Index(self.keys).get_indexer(keys)

    def ordered(self) -> tuple[list, np.ndarray]:
        """(keys sorted, code -> position in that order)."""
        order = sorted(range(len(self.keys)), key=lambda c: self.keys[c])
        position = np.empty(len(order), dtype=int)
        position[order] = np.arange(len(order))
        return [self.keys[c] for c in order], position


def rank_in_group(group: np.ndarray, n_groups: int) -> np.ndarray:
    """Each row's place within its group (rows sorted by group)."""
    counts = np.bincount(group, minlength=n_groups)
    return np.arange(len(group)) - np.repeat(np.r_[0, np.cumsum(counts)[:-1]], counts)


class WindowSample:
    """At most `size` uniformly drawn rows of each window; `columns` are parallel arrays.

    With `total`, the cap per window shrinks as windows appear, to total / windows (never
    below `min_size`): memory and sorting stay bounded however many windows there are. A cap
    that only shrinks keeps the sample uniform: the rows with the final cap's smallest keys
    were never pruned."""

    def __init__(self, size: int, seed=0, total: int | None = None, min_size: int = 100):
        self.max_size, self.total, self.min_size = size, total, min_size
        self.rng = np.random.default_rng(seed)
        self.code, self.key, self.columns = np.empty(0, dtype=np.int64), np.empty(0), None
        self.pending: list[tuple[np.ndarray, np.ndarray, list[np.ndarray]]] = []
        self.pending_rows = 0
        self.seen = np.zeros(0, dtype=np.int64)  # rows per window code, sampled or not

    def add(self, codes: np.ndarray, columns: list[np.ndarray]) -> None:
        counts = np.bincount(codes, minlength=len(self.seen))
        self.seen = np.pad(self.seen, (0, len(counts) - len(self.seen))) + counts
        self.pending.append((codes, self.rng.random(len(codes)), columns))
        self.pending_rows += len(codes)
        if self.pending_rows > max(len(self.code), PRUNE_ROWS):  # amortized: each row sorted a few times
            self.prune()

    @property
    def size(self) -> int:
        if self.total is None or not len(self.seen):
            return self.max_size
        return min(self.max_size, max(self.min_size, -(-self.total // len(self.seen))))

    def prune(self) -> None:
        """Keep the `size` rows with the smallest keys of each window, sorted by window then key."""
        if not self.pending:
            return
        old = [] if self.columns is None else [(self.code, self.key, self.columns)]
        parts = old + self.pending
        code = np.concatenate([c for c, _, _ in parts])
        key = np.concatenate([k for _, k, _ in parts])
        order = np.argsort(code + key)  # window, then key (< 1): one argsort, not a 2-key lexsort
        keep = order[rank_in_group(code[order], int(code.max()) + 1 if len(code) else 0) < self.size]
        self.code, self.key = code[keep], key[keep]
        self.columns = [np.concatenate([cols[i] for _, _, cols in parts])[keep] for i in range(len(parts[0][2]))]
        self.pending, self.pending_rows = [], 0
