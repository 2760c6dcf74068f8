"""Input encoding: how an integer input vector becomes row-drive steps of the analog tile.

Inputs are sign-magnitude integers |x| <= 2^(bits-1)-1; each row has one enable and one sign (polarity) pin.
- pwm: a single step; row i is enabled for |x_i| cycles with polarity sign(x_i), so the integrated drive
  of the row is x_i (in cycles).
- bit_serial: one step per magnitude bit plane, least significant first; in step k row i is enabled for one
  cycle if bit k of |x_i| is set, with polarity sign(x_i). The accumulator weighs step k by 2^k.
An input is carried in `bits`-bit two's complement (the INPUT window, the input stream), whose most negative
code -2^(bits-1) has no sign-magnitude meaning: `check_inputs` rejects it, and the RTL, which accepts it
from the bus and the stream, drives it as -(2^(bits-1)-1) (rtl/row_driver.py). +2^(bits-1) does not fit
the word and answers a bus error (contract.aimc_registers).
"""

from __future__ import annotations

import numpy as np

from aimcgen.spec import InputSpec, SpecError


def check_inputs(x: np.ndarray, inp: InputSpec, rows: int) -> np.ndarray:
    """x as int64 after the shape and range checks: x itself when it already is int64 (no copy of a large
    batch; callers read it, never write it)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != rows:
        raise SpecError(f"inputs: expected shape (batch, {rows}), got {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise SpecError(f"inputs: expected integers, got {x.dtype}")
    m = inp.max_magnitude
    if x.size and (x.min() < -m or x.max() > m):
        raise SpecError(f"inputs: values must lie in -{m}..{m} for input.bits = {inp.bits}, "
                        f"got {x.min()}..{x.max()}")
    return x.astype(np.int64, copy=False)


def drive_steps(x: np.ndarray, inp: InputSpec, dtype=np.int64) -> np.ndarray:
    """Signed drive per step and row, shape (steps, batch, rows): cycles x polarity, in `dtype` (int64 by
    default; float64 feeds a BLAS matmul directly: numpy's matmul of a narrow integer array with a float one
    takes a slow non-BLAS loop).

    bit_serial planes are -1, 0 or +1, computed on narrow unsigned magnitudes (one shift and mask per plane),
    negated in two's complement where x < 0 and converted to `dtype` once.
    """
    x = np.asarray(x, dtype=np.int64)
    if inp.encoding == "pwm":
        return x[None].astype(dtype, copy=False)
    m = inp.max_magnitude
    if x.size and (x.min() < -m or x.max() > m):                  # unchecked inputs: plain arithmetic
        magnitude, sign = np.abs(x), np.where(x < 0, -1, 1)
        return (((magnitude[None] >> np.arange(inp.steps)[:, None, None]) & 1) * sign[None]).astype(dtype)
    narrow = np.uint8 if m <= 0xFF else np.uint16
    magnitude = np.abs(x).astype(narrow)
    planes = np.empty((inp.steps,) + x.shape, dtype=narrow)
    for k in range(inp.steps):
        np.right_shift(magnitude, k, out=planes[k])
        planes[k] &= 1
    signed = planes.view(np.int8 if narrow is np.uint8 else np.int16)
    negative = (x < 0).view(np.int8).astype(signed.dtype, copy=False)       # 1 where x < 0
    signed ^= -negative
    signed += negative                                              # -b = (b ^ -1) + 1 where x < 0
    return signed.astype(dtype, copy=False)


def step_weights(inp: InputSpec) -> np.ndarray:
    """Shift of each step in the shift-add accumulator (0 for PWM, k for bit plane k)."""
    return np.arange(inp.steps)
