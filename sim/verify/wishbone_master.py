"""Wishbone classic initiator for Amaranth testbenches: register access by byte address.

`WishboneError` is defined here, the lower of the two Wishbone masters; the cocotb master
(cocotb_wishbone.py) raises the same class.
"""

from __future__ import annotations


class WishboneError(Exception):
    """The target answered err. `address` is the byte address, `write` tells the direction."""

    def __init__(self, message: str, address: int, write: bool):
        super().__init__(message)
        self.address, self.write = address, write


async def wb_access(ctx, bus, address: int, data: int | None = None, sel: int = 0xF, timeout: int = 10_000):
    """One classic cycle; returns the read data (or None for a write); raises WishboneError on err."""
    ctx.set(bus.cyc, 1)
    ctx.set(bus.stb, 1)
    ctx.set(bus.adr, address >> 2)
    ctx.set(bus.sel, sel)
    ctx.set(bus.we, data is not None)
    ctx.set(bus.dat_w, 0 if data is None else data & 0xFFFFFFFF)
    for _ in range(timeout):
        _, _, ack, err, dat_r = await ctx.tick().sample(bus.ack, bus.err, bus.dat_r)
        if ack or err:
            break
    else:
        raise TimeoutError(f"Wishbone access to {address:#x}: no ack/err in {timeout} cycles")
    ctx.set(bus.cyc, 0)
    ctx.set(bus.stb, 0)
    ctx.set(bus.we, 0)
    if err:
        write = data is not None
        raise WishboneError(f"Wishbone {'write' if write else 'read'} at {address:#x}: err", address, write)
    return None if data is not None else dat_r


async def wb_write(ctx, bus, address: int, data: int, sel: int = 0xF) -> None:
    await wb_access(ctx, bus, address, data, sel)


async def wb_read(ctx, bus, address: int) -> int:
    return await wb_access(ctx, bus, address)
