"""Helpers for arrays cut into fixed-size blocks, the layout of the blocked recurrences.

A 1-D array of length n is seen as `n // block` full blocks (an (n_blocks, block) view, no copy)
plus a shorter tail. Running sums restart at every block, so numpy can process all blocks at
once, column by column, while an incremental object performs the same operations one value at a
time, in the same order. Every helper works in place or into `out`: fresh large arrays cost a page
fault per 4 KiB (about 1 ms per million floats), more than the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "apply_by_position",
    "apply_per_block",
    "prefix_sums_within_blocks",
]

Array = npt.NDArray[Any]
Ufunc = Callable[..., Any]

# Below this many values per column, numpy's per-call overhead of the column loop (~1 µs a
# column) costs more than a row-wise accumulate (~2.5 ns more per value); measured.
_COLUMN_LOOP_MIN_PER_COLUMN = 400


def _split(arr: Array, block: int) -> tuple[Array, Array]:
    """The full blocks of `arr` as an (n_blocks, block) view, and the tail after them."""
    full = len(arr) // block * block
    return arr[:full].reshape(-1, block), arr[full:]


def apply_by_position(op: Ufunc, arr: Array, table: Array, out: Array) -> None:
    """`out[i] = op(arr[i], table[i % block])` with block = len(table); `out` may be `arr`."""
    block = len(table)
    arr_full, arr_tail = _split(arr, block)
    out_full, out_tail = _split(out, block)
    op(arr_full, table, out=out_full)
    op(arr_tail, table[: len(arr_tail)], out=out_tail)


def apply_per_block(
    op: Ufunc, arr: Array, per_block: Sequence[float] | Array, block: int, out: Array
) -> None:
    """`out[i] = op(arr[i], per_block[i // block])`; `per_block` covers the tail block too."""
    values = np.asarray(per_block, dtype=np.float64)
    arr_full, arr_tail = _split(arr, block)
    out_full, out_tail = _split(out, block)
    n_full = len(arr_full)
    op(arr_full, values[:n_full, None], out=out_full)
    if len(arr_tail):
        op(arr_tail, values[n_full], out=out_tail)


def prefix_sums_within_blocks(arr: Array, block: int) -> list[float]:
    """In place, `arr[i] = arr[start] + ... + arr[i]`, added left to right within each block.

    Returns the sum of each *full* block (its last prefix).
    """
    full, tail = _split(arr, block)
    if full.size < _COLUMN_LOOP_MIN_PER_COLUMN * block:
        # Few blocks: one accumulate along the rows beats `block` tiny column additions.
        np.cumsum(full, axis=1, out=full)
    else:
        # Column j of every block at once: S_j = S_{j-1} + t_j, the order a stream adds in.
        for j in range(1, block):
            np.add(full[:, j - 1], full[:, j], out=full[:, j])
    np.cumsum(tail, out=tail)  # accumulate is strictly sequential, in both branches too
    totals: list[float] = full[:, block - 1].tolist()
    return totals
