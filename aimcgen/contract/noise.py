"""The emulated tile's deterministic read noise, specified bit by bit so RTL and golden model agree.

Generator. Each ADC of each tile owns one 32-bit Galois LFSR (polynomial x^32 + x^22 + x^2 + x + 1, maximal
length, taps from Xilinx XAPP052). One single step of a state S (an unsigned 32-bit integer) is

    out = S & 1;  S = S >> 1;  if out: S = S ^ 0x80200003            (logical right shift)

Every time the ADC samples a column charge it draws one noise value from the current state and then leaps
the state 32 single steps ahead, so consecutive draws share no state bits: draw k (k = 0, 1, ...) uses S_k,
with S_0 the initial state below and S_(k+1) = 32 single steps of S_k. The draw is a sum of four uniform
bytes, which is close to Gaussian:

    c = (S & 0xFF) + ((S >> 8) & 0xFF) + ((S >> 16) & 0xFF) + ((S >> 24) & 0xFF) - 510     (-510..510)
    n = (c * M + 2^15) >> 16              (`>>` arithmetic, i.e. floor(x / 2^16): round half up)

The sum of four independent uniform bytes has sigma sqrt(4 * (256^2 - 1) / 12) = sqrt(21845)
= 147.80054127099805... (SIGMA_OF_SUM = math.sqrt(21845), the float64 nearest the exact root; not
the rounded 147.80). The gain is

    M = round(sigma_lsb / sqrt(21845) * 2^16)

computed in IEEE float64 exactly as written (Python: `round(sigma_lsb / math.sqrt(21845) * 65536)`, with
sigma_lsb = the spec's `noise.sigma_lsb` as a float64): first the division (correctly rounded), then the
exact scaling by 2^16, then Python's round(), i.e. to the nearest integer with ties to even. So n has the
spec's sigma in charge units; e.g. sigma_lsb = 2.2 gives 975.498... -> M = 975 (147.80 would give 975.502
-> 976), 2.4 gives M = 1064, 1.0 gives M = 443. When M = 0 (sigma_lsb <= 0.5 * sqrt(21845) / 2^16, about
0.00113) every draw is 0 and the RTL builds no generator. `noise_multiplier` is the one place M is
computed; the RTL (rtl/noise.py), the datapath formats (contract.formats: the noise range) and the golden
report (flows/golden_report.py) all call it.

Seeding. The initial state of ADC `adc` (0..adc.count-1) of tile `tile` (tile (r, c) of the grid has index
r * col_tiles + c) is murmur3's 32-bit finalizer (fmix32) applied to a mix of the spec's `noise.seed` and
the ADC's position; all arithmetic is on unsigned integers modulo 2^32 (& 0xFFFFFFFF after every product
and sum):

    x = (seed * 0x9E3779B9 + (tile * 4096 + adc + 1) * 0x85EBCA6B) mod 2^32
    x = x ^ (x >> 16)
    x = (x * 0x85EBCA6B) mod 2^32
    x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) mod 2^32
    x = x ^ (x >> 16)
    S_0 = x if x != 0 else 1              (the all-zero state is the LFSR's fixed point: replaced by 1)

Example: seed 1, tile 0, adc 0 gives S_0 = 0x024CDEBC; with sigma_lsb = 2.4 (M = 1064) its first ten
draws are 0, -3, -1, -5, 1, -2, 3, -2, -1, -1 (tests/test_contract_docs.py recomputes them from this text).

Samples are never skipped (an all-zero input still samples every column), so the draw sequence depends
only on how many conversions the ADC has done: ADC a serves the contiguous columns a*G..a*G+G-1
(G = tile.cols / adc.count) and samples them in that order in every drive step, steps in order, MVMs in
order (sim.models.golden). The noise is added to the integer column charge before the ADC (contract.adc).
The noise exists only in the emulated tile: it is set by `noise.sigma_lsb` alone (`device.model = "ideal"`
does not turn it off; `noise.sigma_lsb = 0` does).

The golden model needs the states of a whole batch at once: leaping by 32*2^j is a GF(2)-linear map,
kept as four byte-indexed lookup tables, and the states for n = 0..N-1 come from log2(N) doublings.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from aimcgen.spec import DesignSpec

LFSR_BITS = 32
LFSR_TOGGLE_MASK = 0x80200003
LEAP_STEPS = 32
UNIFORM_COUNT = 4
CENTER = UNIFORM_COUNT * 255 // 2                     # 510: makes c symmetric about zero
SIGMA_OF_SUM = math.sqrt(UNIFORM_COUNT * (256 ** 2 - 1) / 12)
MULTIPLIER_FRAC_BITS = 16
_MASK32 = 0xFFFFFFFF


def lfsr_step(state: int) -> int:
    """One single step of the Galois LFSR (the reference definition the tables are built from)."""
    out = state & 1
    state >>= 1
    return state ^ LFSR_TOGGLE_MASK if out else state


def noise_multiplier(spec: DesignSpec) -> int:
    """M: the fixed-point gain from the centred uniform sum to charge units."""
    return round(spec.noise.sigma_lsb / SIGMA_OF_SUM * (1 << MULTIPLIER_FRAC_BITS))


def initial_state(seed: int, tile: int, adc: int) -> int:
    """Seed of one ADC's LFSR: murmur3's 32-bit finalizer of (seed, tile, adc); never the all-zero state."""
    x = (seed * 0x9E3779B9 + (tile * 4096 + adc + 1) * 0x85EBCA6B) & _MASK32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _MASK32
    x ^= x >> 16
    return x or 1


def leap_columns(steps: int) -> list[int]:
    """The leap of `steps` single steps as a GF(2) matrix: the image of each unit state bit."""
    columns = []
    for bit in range(LFSR_BITS):
        state = 1 << bit
        for _ in range(steps):
            state = lfsr_step(state)
        columns.append(state)
    return columns


def _tables_from_columns(columns: list[int] | np.ndarray) -> np.ndarray:
    """(4, 256) uint32 tables: table[j][v] is the image of byte j of the state having value v."""
    cols = np.asarray(columns, dtype=np.uint32).reshape(4, 8)
    bits = (np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1            # (256, 8)
    picked = np.where(bits[None, :, :] == 1, cols[:, None, :], np.uint32(0))  # (4, 256, 8)
    return np.bitwise_xor.reduce(picked, axis=2)


def _apply(tables: np.ndarray, states: np.ndarray) -> np.ndarray:
    s = states.astype(np.uint32)
    return (tables[0][s & 0xFF] ^ tables[1][(s >> 8) & 0xFF]
            ^ tables[2][(s >> 16) & 0xFF] ^ tables[3][s >> 24])


@lru_cache(maxsize=None)
def _leap_tables(log2_leaps: int) -> np.ndarray:
    """Tables of the leap by LEAP_STEPS * 2^log2_leaps single steps, built by repeated squaring."""
    if log2_leaps == 0:
        return _tables_from_columns(leap_columns(LEAP_STEPS))
    half = _leap_tables(log2_leaps - 1)
    unit = np.uint32(1) << np.arange(LFSR_BITS, dtype=np.uint32)
    return _tables_from_columns(_apply(half, _apply(half, unit)))


def state_sequence(start: np.ndarray, count: int) -> np.ndarray:
    """States S_0..S_{count-1} for each start state: shape (len(start), count), uint32."""
    seq = np.asarray(start, dtype=np.uint32).reshape(-1, 1)
    j = 0
    while seq.shape[1] < count:
        seq = np.concatenate([seq, _apply(_leap_tables(j), seq)], axis=1)
        j += 1
    return seq[:, :count]


def noise_from_states(states: np.ndarray, multiplier: int) -> np.ndarray:
    s = states.astype(np.int64)
    c = (s & 0xFF) + ((s >> 8) & 0xFF) + ((s >> 16) & 0xFF) + ((s >> 24) & 0xFF) - CENTER
    return (c * multiplier + (1 << (MULTIPLIER_FRAC_BITS - 1))) >> MULTIPLIER_FRAC_BITS


class TileNoise:
    """The noise generators of one tile's ADCs, advancing exactly as the emulated tile's do."""

    def __init__(self, spec: DesignSpec, tile: int = 0):
        self.multiplier = noise_multiplier(spec)
        self.states = np.array([initial_state(spec.noise.seed, tile, a) for a in range(spec.adc.count)],
                               dtype=np.uint32)

    def draw(self, samples: int) -> np.ndarray:
        """The next `samples` noise values of every ADC, shape (adcs, samples); advances the states."""
        seq = state_sequence(self.states, samples + 1)
        self.states = seq[:, -1].copy()
        return noise_from_states(seq[:, :-1], self.multiplier)
