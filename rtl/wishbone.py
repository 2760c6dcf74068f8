"""Wishbone B4 classic, 32-bit data, byte granularity: the register bus of the accelerator.

Written here because amaranth-soc is not installable. `adr` is a word address (byte address >> 2). A target
answers a cycle (cyc & stb) with exactly one of ack or err, for one clock; the initiator holds its request
until then and drops stb after it (no pipelining, no bursts).
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

DATA_WIDTH = 32
GRANULARITY = 8


class WishboneSignature(wiring.Signature):
    """Seen from the initiator; a target uses `In(WishboneSignature(...))`."""

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or not 1 <= addr_width <= 30:
            raise ValueError(f"Wishbone addr_width must be an integer in 1..30, got {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({
            "cyc": Out(1),
            "stb": Out(1),
            "we": Out(1),
            "adr": Out(addr_width),
            "dat_w": Out(DATA_WIDTH),
            "sel": Out(DATA_WIDTH // GRANULARITY),
            "dat_r": In(DATA_WIDTH),
            "ack": In(1),
            "err": In(1),
        })
