"""Wishbone B4 classic: the register bus of the accelerator (amaranth-soc is not installable, so it is here).

Signals, seen from the initiator (a target uses `In(WishboneSignature(...))`):
  cyc    a bus cycle is in progress              stb    this beat is a valid request
  we     1 write, 0 read                         adr    WORD address: byte address >> log2(data_width/8)
  dat_w  write data                              sel    one enable bit per `granularity` bits of data
  ack    target: request done (read data valid)  err    target: request failed
  dat_r  target: read data, valid with ack

Classic (non-pipelined) single accesses: the initiator raises cyc and stb with adr, we, dat_w and sel and
holds them until the target answers with exactly one of ack or err, high for one clock cycle per request;
it may then start the next request at once (stb stays high) or drop stb/cyc. No bursts, no stall, no
retry. For the default 32-bit bus with byte granularity, byte address A is on `adr = A >> 2` and byte
lane i of `dat_w`/`dat_r` (bits 8i+7..8i) is enabled by `sel[i]`.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

DATA_WIDTH = 32
GRANULARITY = 8
_PORT_SIZES = (8, 16, 32, 64)


class WishboneSignature(wiring.Signature):
    """Wishbone B4 classic, seen from the initiator: `WishboneSignature(addr_width, data_width, granularity)`.

    `addr_width` counts word-address bits (a bus of `addr_width` bits reaches 2^addr_width words of
    `data_width` bits); `granularity` is the smallest selectable unit (`sel` has data_width/granularity
    bits).
    """

    def __init__(self, addr_width: int, data_width: int = DATA_WIDTH, granularity: int = GRANULARITY):
        for name, value in (("addr_width", addr_width), ("data_width", data_width),
                            ("granularity", granularity)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Wishbone {name} must be an integer, not {type(value).__name__} {value!r}")
        if not 0 <= addr_width <= 64:
            raise ValueError(f"Wishbone addr_width = {addr_width}: must be 0..64")
        if data_width not in _PORT_SIZES:
            raise ValueError(f"Wishbone data_width = {data_width}: must be one of {_PORT_SIZES}")
        if granularity not in _PORT_SIZES or granularity > data_width:
            raise ValueError(f"Wishbone granularity = {granularity}: must be one of {_PORT_SIZES} and at most "
                             f"data_width = {data_width}")
        self.addr_width, self.data_width, self.granularity = addr_width, data_width, granularity
        super().__init__({
            "cyc": Out(1),
            "stb": Out(1),
            "we": Out(1),
            "adr": Out(addr_width),
            "dat_w": Out(data_width),
            "sel": Out(data_width // granularity),
            "ack": In(1),
            "err": In(1),
            "dat_r": In(data_width),
        })

    def __eq__(self, other):
        return (isinstance(other, WishboneSignature) and (self.addr_width, self.data_width, self.granularity)
                == (other.addr_width, other.data_width, other.granularity))

    def __hash__(self):
        return hash((WishboneSignature, self.addr_width, self.data_width, self.granularity))

    def __repr__(self):
        return f"WishboneSignature({self.addr_width}, {self.data_width}, {self.granularity})"
