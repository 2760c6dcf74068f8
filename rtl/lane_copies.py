"""Copies of a sweep-position register, one beside each lane, that synthesis keeps apart.

A register of a sweep position copied beside each lane that reads it (an ADC's weight memories, its gain
logic) keeps one cross-chip route off the FPGA's worst path; but yosys merges registers that always hold
equal values. So lane `lane`'s copy holds position ^ flip, with flip = lane % depth and depth the smallest
power of two >= positions: copies whose flips differ differ in value, and position q lives at word q ^ flip
of whatever the copy addresses (XOR with flip maps words back to positions too). A single bit still has only
two values across the lanes, so the copies are also marked `keep`, which the FPGA flow turns into flip-flops
that synthesis does not merge (flows.fpga.KEEP_REGISTERS).
"""

from __future__ import annotations


def lane_flip(positions: int, lane: int) -> tuple[int, int]:
    """(depth, flip) of lane `lane`'s copy of a position in 0..positions - 1 (module docstring)."""
    if positions < 1 or lane < 0:
        raise ValueError(f"positions = {positions}, lane = {lane}: need positions >= 1 and lane >= 0")
    depth = 1 << (positions - 1).bit_length()
    return depth, lane % depth
