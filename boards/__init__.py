"""FPGA boards for the emulation flow, and the emulation top that runs on them.

`BOARDS` maps a board name (the `aimcgen fpga --board NAME` argument) to its `Board` class; each class
carries its device capacity (`Board.capacity`: LUTs, flip-flops, block RAMs, DSPs). `EmulationTop(spec,
board)` is the accelerator with emulated tiles, a UART-to-Wishbone bridge and status LEDs on that board;
`EmulationCore(spec)` is the same without the board (for simulation).
"""

from __future__ import annotations

from aimcgen.boards.base import Board, ClockPlan, DeviceCapacity
from aimcgen.boards.emulation import DEFAULT_BAUD, EmulationCore, EmulationTop
from aimcgen.boards.lattice import ECP5EVN, ICEBreaker, ULX3S

BOARDS: dict[str, type[Board]] = {cls.name: cls for cls in (ULX3S, ICEBreaker, ECP5EVN)}


def get_board(name: str) -> Board:
    """A board by registry name; ValueError naming the known boards otherwise."""
    try:
        return BOARDS[name]()
    except KeyError:
        raise ValueError(f"board {name!r}: unknown (known boards: {', '.join(sorted(BOARDS))})") from None


__all__ = ["BOARDS", "Board", "ClockPlan", "DeviceCapacity", "EmulationCore", "EmulationTop", "DEFAULT_BAUD",
           "get_board", "ULX3S", "ICEBreaker", "ECP5EVN"]
