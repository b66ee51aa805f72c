"""Exponential smoothing `s[i] = decay·s[i-1] + gain·v[i]`, identical in batch and in a stream.

EMA (gain 2/(p+1)) and Wilder's average (gain 1/p) are this recurrence. Run literally it is a
sequential loop, which numpy cannot vectorise (a Python loop over a million values is ~20× slower
than TA-Lib). So the batch functions and the incremental objects both use the same *blocked
closed form*, and therefore perform the same floating-point operations in the same order:

    after the anchor `a` (the state at the end of the previous block), for j = 1..B
        S_j = S_{j-1} + v_j · U_j        with U_j = gain · decay^-j   (S_0 = -0.0)
        s_j = P_j · (a + S_j)            with P_j = decay^j
    and the last value of a block, s_B, is the next block's anchor.

Algebraically this is the recurrence; numerically it differs from TA-Lib's loop by a few ulps
(~1e-14 relative), far inside the 1e-9 the project promises, and it does not drift: each block
restarts from its anchor. The batch computes the `S` of every block at once (one numpy add per
column across all blocks), the anchors in a short Python loop (one step per block, B values at a
time), then `P·(a + S)` in two vector passes. The stream keeps `S`, `a` and `j`.

`B` is chosen so that `decay^-B <= 2**64`: then `|S| <= max|v|·2**64`, finite for every input
allowed by `MAX_ABS`. It is capped at 240 (measured fastest on 1M values; power-of-two widths
thrash the cache).

`-0.0` starts every running sum because it is the additive identity of IEEE-754 (`-0.0 + x == x`
for every x, including `+0.0`), which makes a running sum reproduce `numpy.cumsum` exactly.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ordergate.domain.indicators._validation import FloatArray

__all__ = ["SmoothingPlan", "block_anchors"]

_MAX_BLOCK = 240
_RANGE_BITS = 64


@attrs.frozen
class SmoothingPlan:
    """Constants of the blocked closed form for `s[i] = decay·s[i-1] + gain·v[i]`, 0 < decay < 1.

    `scale[j-1]` is U_j = gain·decay^-j and `decay_pow[j-1]` is P_j = decay^j, for j = 1..block.
    Callers handle decay 0 (period 1) themselves: there the smoothed value is just `gain·v`.
    """

    gain: float
    decay: float
    block: int
    scale: FloatArray = attrs.field(eq=False, repr=False)
    decay_pow: FloatArray = attrs.field(eq=False, repr=False)

    @classmethod
    def build(cls, gain: float, decay: float) -> SmoothingPlan:
        """Precompute the tables; with decay 0 they are unused stand-ins (block 1, scale inf)."""
        if decay <= 0.0:
            block = 1
        else:
            block = max(1, min(_MAX_BLOCK, int(_RANGE_BITS * math.log(2) / -math.log(decay))))
        j = np.arange(1, block + 1, dtype=np.float64)
        with np.errstate(divide="ignore"):  # decay 0: 0**-1 is inf, unused
            scale = gain * np.power(decay, -j)
        decay_pow = np.power(decay, j)
        for table in (scale, decay_pow):
            table.setflags(write=False)  # plans are cached and shared
        return cls(gain=gain, decay=decay, block=block, scale=scale, decay_pow=decay_pow)

    @property
    def last_pow(self) -> float:
        """P_B, the factor that turns a block's last `a + S` into the next anchor."""
        return float(self.decay_pow[-1])


def block_anchors(first: float, block_sums: list[float], last_pow: float) -> list[float]:
    """The anchor of every block, and of the block after the last full one.

    `a_{t+1} = P_B·(a_t + S_B(t))`, exactly the stream's update at the end of a block.
    """
    anchors = [first]
    append = anchors.append
    anchor = first
    for total in block_sums:
        anchor = last_pow * (anchor + total)
        append(anchor)
    return anchors
