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
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != rows:
        raise SpecError(f"inputs: expected shape (batch, {rows}), got {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise SpecError(f"inputs: expected integers, got {x.dtype}")
    m = inp.max_magnitude
    if x.size and (x.min() < -m or x.max() > m):
        raise SpecError(f"inputs: values must lie in -{m}..{m} for input.bits = {inp.bits}, "
                        f"got {x.min()}..{x.max()}")
    return x.astype(np.int64)


def drive_steps(x: np.ndarray, inp: InputSpec) -> np.ndarray:
    """Signed drive per step and row, shape (steps, batch, rows): cycles x polarity."""
    x = np.asarray(x, dtype=np.int64)
    if inp.encoding == "pwm":
        return x[None]
    magnitude, sign = np.abs(x), np.where(x < 0, -1, 1)
    planes = (magnitude[None] >> np.arange(inp.steps)[:, None, None]) & 1
    return planes * sign[None]


def step_weights(inp: InputSpec) -> np.ndarray:
    """Shift of each step in the shift-add accumulator (0 for PWM, k for bit plane k)."""
    return np.arange(inp.steps)
