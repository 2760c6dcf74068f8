"""The emulated tile's noise generator: its fast leaps equal the single-step definition, and its draws have
the spec's statistics."""

import numpy as np
import pytest

from aimcgen.contract.noise import (LFSR_TOGGLE_MASK, SIGMA_OF_SUM, TileNoise, initial_state, leap_columns,
                               lfsr_step, noise_from_states, state_sequence)
from aimcgen.spec import from_dict


def test_lfsr_single_step_definition():
    assert lfsr_step(1) == LFSR_TOGGLE_MASK          # the bit shifted out toggles the taps
    assert lfsr_step(2) == 1
    assert lfsr_step(0x80000000) == 0x40000000


def test_leap_is_linear_and_matches_single_steps():
    state = 0xDEADBEEF
    expected = state
    for _ in range(32):
        expected = lfsr_step(expected)
    image = 0
    for bit, column in enumerate(leap_columns(32)):
        if state >> bit & 1:
            image ^= column
    assert image == expected


def test_state_sequence_matches_stepping_for_odd_lengths():
    starts = np.array([initial_state(7, t, a) for t in range(2) for a in range(3)], dtype=np.uint32)
    seq = state_sequence(starts, 77)
    for row, start in zip(seq, starts.tolist()):
        s = start
        for value in row.tolist():
            assert value == s
            for _ in range(32):
                s = lfsr_step(s)


def test_lfsr_does_not_repeat_within_a_long_run():
    # A maximal 32-bit LFSR has period 2^32 - 1; 2^20 leaps must all be distinct states.
    seq = state_sequence(np.array([1], dtype=np.uint32), 1 << 20)[0]
    assert np.unique(seq).size == seq.size


def test_initial_states_distinct_and_nonzero():
    states = {initial_state(s, t, a) for s in (1, 2) for t in range(8) for a in range(64)}
    assert len(states) == 2 * 8 * 64 and 0 not in states


@pytest.mark.parametrize("sigma", [0.5, 2.0, 37.0])
def test_noise_statistics(sigma):
    spec = from_dict({"noise": {"sigma_lsb": sigma, "seed": 3}, "adc": {"count": 4}})
    draws = TileNoise(spec).draw(50_000).astype(float)          # 200k values
    n = draws.size
    # The mean of n draws has standard error sigma/sqrt(n) (~0.0022 sigma): 6 standard errors plus the
    # half-LSB rounding bias of small sigmas.
    assert abs(draws.mean()) < 6 * sigma / np.sqrt(n) + 0.5 / np.sqrt(12) * (sigma < 1)
    # Rounding to whole charge units adds 1/12 of variance; the std estimate of n samples has relative error
    # about 1/sqrt(2n) (0.16 %): 2 % covers it and the fixed-point multiplier's rounding.
    assert np.sqrt(draws.var() - 1 / 12) == pytest.approx(sigma, rel=0.02)
    # Successive draws of one ADC are uncorrelated: |r| below 5 standard errors (1/sqrt(n)).
    seq = TileNoise(spec).draw(50_000)[0].astype(float)
    r = np.corrcoef(seq[:-1], seq[1:])[0, 1]
    assert abs(r) < 5 / np.sqrt(seq.size)


def test_noise_is_approximately_gaussian():
    # A sum of four uniforms: kurtosis 3 - 6/(5*4) = 2.7 (the uniform's excess kurtosis -1.2, divided by 4).
    c = noise_from_states(state_sequence(np.array([12345], dtype=np.uint32), 200_000)[0], 1 << 16)
    c = c.astype(float)
    assert c.std() == pytest.approx(SIGMA_OF_SUM, rel=0.01)
    kurtosis = np.mean((c - c.mean()) ** 4) / c.var() ** 2
    assert kurtosis == pytest.approx(2.7, abs=0.03)


# --- the batched generator (row tables, passes, sampling order) against the one-step definition ---------

def _reference_draws(start: int, count: int, multiplier: int) -> list[int]:
    """The docstring's rule, one single step at a time."""
    s, out = start, []
    for _ in range(count):
        c = sum((s >> (8 * b)) & 0xFF for b in range(4)) - 510
        out.append((c * multiplier + (1 << 15)) >> 16)
        for _ in range(32):
            s = lfsr_step(s)
    return out


@pytest.mark.parametrize("count", [1, 63, 64, 65, 129, 1000])
def test_state_sequence_across_row_blocks(count):
    start = initial_state(11, 2, 5)
    seq = state_sequence(np.array([start], dtype=np.uint32), count)[0].tolist()
    s = start
    for value in seq:
        assert value == s
        for _ in range(32):
            s = lfsr_step(s)


@pytest.mark.parametrize("sigma", [2.4, 1000.0, 65536.0])
def test_draws_in_pieces_equal_the_reference_and_one_draw(sigma):
    # Pieces that end inside, at and across row blocks and passes; 65536 takes the int64 arithmetic path.
    spec = from_dict({"noise": {"sigma_lsb": sigma, "seed": 4}, "adc": {"count": 2}})
    gen, whole = TileNoise(spec, 3), TileNoise(spec, 3)
    gen.CHUNK = 256                                   # several passes per draw
    pieces = [gen.draw(n) for n in (1, 0, 63, 64, 130, 2, 700)]
    got = np.concatenate(pieces, axis=1)
    assert np.array_equal(got, whole.draw(got.shape[1]))
    m = gen.multiplier
    for adc in range(2):
        assert got[adc].tolist() == _reference_draws(initial_state(4, 3, adc), got.shape[1], m)
    assert np.array_equal(gen.states, whole.states)


def test_draw_dtype_holds_the_noise_range():
    for sigma, dtype in ((0.0, np.int16), (2.4, np.int16), (20000.0, np.int32), (65536.0, np.int32)):
        spec = from_dict({"noise": {"sigma_lsb": sigma}})
        draws = TileNoise(spec).draw(5000)
        assert draws.dtype == dtype
        bound = (510 * TileNoise(spec).multiplier + (1 << 15)) >> 16
        assert np.abs(draws).max() <= bound


@pytest.mark.parametrize("batch, steps, group, adcs", [(5, 7, 8, 8), (33, 1, 1, 16), (3, 3, 5, 1), (0, 2, 2, 2)])
def test_draw_samples_is_draw_in_the_sampling_order(batch, steps, group, adcs):
    spec = from_dict({"noise": {"sigma_lsb": 3.0, "seed": 9}, "adc": {"count": adcs},
                      "tile": {"rows": 16, "cols": adcs * group}})
    placed, flat = TileNoise(spec, 1), TileNoise(spec, 1)
    placed.CHUNK = 200                                # passes of a few MVMs: boundaries inside row blocks
    for _ in range(2):                                # the state carries over between batches
        got = placed.draw_samples(batch, steps, group)
        n = flat.draw(batch * steps * group).reshape(adcs, batch, steps, group)
        assert got.shape == (steps, batch, adcs * group)
        assert np.array_equal(got, n.transpose(2, 1, 0, 3).reshape(steps, batch, adcs * group))
        assert np.array_equal(placed.states, flat.states)
