"""Readers decode in chunks of whatever size the file gives; the dataplane wants batches
of one size. This turns the one into the other without holding more than a batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from netemu.packet import concat


def rebatch(chunks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Arrays of exactly `size` rows (the last one shorter), in order."""
    pending: list[np.ndarray] = []
    count = 0
    for part in chunks:
        while len(part):
            take = part[: size - count]
            part = part[len(take):]
            pending.append(take)
            count += len(take)
            if count == size:
                yield pending[0] if len(pending) == 1 else concat(pending)
                pending, count = [], 0
    if count:
        yield pending[0] if len(pending) == 1 else concat(pending)
