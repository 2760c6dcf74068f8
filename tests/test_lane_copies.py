"""rtl.lane_copies: every lane's copy addresses each position at its own word, and copies differ."""

import pytest
from hypothesis import given, strategies as st

from aimcgen.rtl.lane_copies import lane_flip


@given(positions=st.integers(1, 64), lanes=st.integers(1, 64))
def test_each_lane_maps_positions_to_distinct_words_and_back(positions, lanes):
    flips = set()
    for lane in range(lanes):
        depth, flip = lane_flip(positions, lane)
        assert depth >= positions and depth & (depth - 1) == 0 and depth < 2 * positions + 1
        words = [q ^ flip for q in range(positions)]
        assert len(set(words)) == positions and all(0 <= w < depth for w in words)
        assert [w ^ flip for w in words] == list(range(positions))
        flips.add(flip)
    assert len(flips) == min(lanes, lane_flip(positions, 0)[0])     # as many distinct copies as fit


def test_rejects_an_empty_sweep():
    with pytest.raises(ValueError, match="positions = 0"):
        lane_flip(0, 1)
