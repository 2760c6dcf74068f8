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

With every `[sparsity]` option off, samples are never skipped (an all-zero input still samples every
column); with one on, the conversions the tile controller skips draw no sample (contract.sparsity says which
ones). Either way the draw sequence depends only on how many conversions the ADC has done: ADC a serves
G = tile.cols / adc.count columns, its positions 0..G-1 (which columns: contract.adc_columns; with the default
adc.column_assignment = "blocks" the contiguous columns a*G..a*G+G-1), and samples them in position order in
every drive step, steps in order, MVMs in order (sim.models.golden). The noise is added to the integer column charge before the ADC (contract.adc).
The noise exists only in the emulated tile: it is set by `noise.sigma_lsb` alone (`device.model = "ideal"`
does not turn it off; `noise.sigma_lsb = 0` does).

How the golden model computes a whole batch of draws at once (speed only; the values are the ones above).
A leap by 32*j single steps is a GF(2)-linear map of the state, so it is four byte-indexed lookup tables
(the image of each byte value, XORed together). The states S_0, S_J, S_2J, ... that start blocks of
J = ROW_LEAPS draws come from log2 doublings with the tables of the leaps by 32*J*2^i steps; one row table
per byte then holds the images under the leaps by 0, 32, ..., 32*(J-1) steps side by side, so the J states
of a block are four row look-ups XORed. The byte sum c is taken in 32-bit lanes: (S & 0x00FF00FF) +
((S >> 8) & 0x00FF00FF) holds two 16-bit partial sums (each <= 510), and multiplying by 0x10001 modulo
2^32 puts their sum in bits 16..31. The work runs in passes of about TileNoise.CHUNK states on scratch
arrays the generator keeps, so a batch allocates nothing but its result. Draws are returned in the
narrowest of int16, int32, int64 that holds -noise_max..noise_max (noise_max = (510 * M + 2^15) >> 16,
contract.formats); `draw_samples` returns them already placed where a tile samples them.
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
ROW_LEAPS = 64                                       # J: draws per row look-up (a power of two)
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


@lru_cache(maxsize=None)
def _row_tables() -> np.ndarray:
    """(4, 256, ROW_LEAPS) uint32: [b, v, j] is the image of byte b of a state having value v under the leap
    by LEAP_STEPS * j single steps, so one row look-up per byte yields a whole block of consecutive draws."""
    images = np.empty((ROW_LEAPS, LFSR_BITS), dtype=np.uint32)
    images[0] = np.uint32(1) << np.arange(LFSR_BITS, dtype=np.uint32)     # the leap by 0: identity
    for j in range(1, ROW_LEAPS):
        images[j] = _apply(_leap_tables(0), images[j - 1])
    tables = np.stack([_tables_from_columns(images[j]) for j in range(ROW_LEAPS)], axis=-1)
    tables.flags.writeable = False
    return tables


def _block_heads(start: np.ndarray, blocks: int) -> np.ndarray:
    """States S_0, S_J, ..., S_(blocks-1)J (J = ROW_LEAPS) for each start state: (len(start), blocks)."""
    heads = start.reshape(-1, 1)
    j = ROW_LEAPS.bit_length() - 1
    while heads.shape[1] < blocks:
        heads = np.concatenate([heads, _apply(_leap_tables(j), heads)], axis=1)
        j += 1
    return heads[:, :blocks]


def _state_blocks(heads: np.ndarray, out: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The J states of each block head (J = ROW_LEAPS) into out, shape heads.shape + (J,); image is scratch."""
    rows = _row_tables()
    np.take(rows[0], heads & 0xFF, axis=0, out=out, mode="clip")        # indices are bytes: never clipped
    for byte in range(1, 4):
        np.take(rows[byte], (heads >> (8 * byte)) & 0xFF, axis=0, out=image, mode="clip")
        out ^= image
    return out


def state_sequence(start: np.ndarray, count: int) -> np.ndarray:
    """States S_0..S_{count-1} for each start state: shape (len(start), count), uint32."""
    start = np.asarray(start, dtype=np.uint32).reshape(-1)
    heads = _block_heads(start, -(-count // ROW_LEAPS))
    states = np.empty(heads.shape + (ROW_LEAPS,), dtype=np.uint32)
    return _state_blocks(heads, states, np.empty_like(states)).reshape(len(start), -1)[:, :count]


def noise_dtype(multiplier: int) -> type:
    """The narrowest of int16, int32, int64 that holds every draw -noise_max..noise_max."""
    noise_max = (CENTER * multiplier + (1 << (MULTIPLIER_FRAC_BITS - 1))) >> MULTIPLIER_FRAC_BITS
    return next(t for t in (np.int16, np.int32, np.int64) if noise_max <= np.iinfo(t).max)


def _noise_in_place(states: np.ndarray, multiplier: int, scratch: np.ndarray) -> np.ndarray:
    """Draws of a uint32 state array, computed in place (states is overwritten; scratch is like states)."""
    np.right_shift(states, 8, out=scratch)
    scratch &= 0x00FF00FF
    states &= 0x00FF00FF
    states += scratch                        # two 16-bit lanes, each the sum of two bytes (<= 510)
    states *= 0x10001                        # modulo 2^32: bits 16..31 = the sum of both lanes
    states >>= 16                            # c + CENTER, 0..1020
    rounding = (1 << (MULTIPLIER_FRAC_BITS - 1)) - CENTER * multiplier
    if 2 * CENTER * multiplier + (1 << (MULTIPLIER_FRAC_BITS - 1)) < 1 << 31:
        n = states.view(np.int32)             # (c + CENTER) * M and every partial sum fit 31 bits
    else:
        n = states.astype(np.int64)
    n *= multiplier
    n += rounding                            # = c * M + 2^15
    n >>= MULTIPLIER_FRAC_BITS               # arithmetic: floor
    return n


def noise_from_states(states: np.ndarray, multiplier: int) -> np.ndarray:
    """The draw n of every state (any shape), in noise_dtype(multiplier)."""
    s = np.array(states, dtype=np.uint32)
    return _noise_in_place(s, multiplier, np.empty_like(s)).astype(noise_dtype(multiplier), copy=False)


class TileNoise:
    """The noise generators of one tile's ADCs, advancing exactly as the emulated tile's do."""

    CHUNK = 1 << 16                          # states per pass: the scratch arrays stay in a core's L2 cache

    def __init__(self, spec: DesignSpec, tile: int = 0):
        self.multiplier = noise_multiplier(spec)
        self.states = np.array([initial_state(spec.noise.seed, tile, a) for a in range(spec.adc.count)],
                               dtype=np.uint32)
        self._work = np.empty((2, len(self.states), 0, ROW_LEAPS), dtype=np.uint32)   # grown on demand

    def draw(self, samples: int) -> np.ndarray:
        """The next `samples` noise values of every ADC, shape (adcs, samples); advances the states."""
        return self.draw_samples(samples, 1, 1)[0].T

    def draw_samples(self, batch: int, steps: int, group: int, out: np.ndarray | None = None) -> np.ndarray:
        """The next batch*steps*group draws of every ADC where a tile samples them, shape (steps, batch,
        adcs*group): [k, b, a*group + p] is ADC a's draw number (b*steps + k)*group + p, the sampling order of
        sim.models.golden (column a*group + p in drive step k of MVM b). Same draws and advance as draw().
        `out`, when given, is an array of that shape and noise_dtype(multiplier) to write the draws into."""
        adcs, per_batch = len(self.states), steps * group
        samples = batch * per_batch
        heads = _block_heads(self.states, samples // ROW_LEAPS + 1)
        shape, dtype = (steps, batch, adcs, group), noise_dtype(self.multiplier)
        if out is None:
            out = np.empty(shape, dtype=dtype)
        elif out.dtype != dtype or out.size != steps * batch * adcs * group:
            raise ValueError(f"draw_samples: out must hold {steps}x{batch}x{adcs * group} {np.dtype(dtype)}")
        out = out.reshape(shape)
        chunk = max(1, self.CHUNK // (adcs * per_batch))                    # MVMs per pass
        blocks = min(chunk * per_batch, samples) // ROW_LEAPS + 2           # covers any chunk's draws
        if self._work.shape[2] < blocks:                                     # kept between draws
            self._work = np.empty((2, adcs, blocks, ROW_LEAPS), dtype=np.uint32)
        for b in range(0, batch, chunk):
            n = min(chunk, batch - b)
            first, end = b * per_batch, (b + n) * per_batch                  # this pass's draw numbers
            head, count = first // ROW_LEAPS, -(-end // ROW_LEAPS) - first // ROW_LEAPS
            size = adcs * count * ROW_LEAPS                                  # contiguous views: fast passes
            s, t = (w.reshape(-1)[:size].reshape(adcs, count, ROW_LEAPS) for w in self._work)
            noise = _noise_in_place(_state_blocks(heads[:, head:head + count], s, t), self.multiplier, t)
            draws = noise.reshape(adcs, -1)[:, first - head * ROW_LEAPS:end - head * ROW_LEAPS]
            out[:, b:b + n] = draws.reshape(adcs, n, steps, group).transpose(2, 1, 0, 3)
        last = samples // ROW_LEAPS
        after = _state_blocks(heads[:, last:last + 1], self._work[0, :, :1], self._work[1, :, :1])
        self.states = after[:, 0, samples % ROW_LEAPS].copy()          # S_samples: the next draw's state
        return out.reshape(steps, batch, adcs * group)
