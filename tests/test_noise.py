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
