"""Feeding an amaranth.lib.stream interface from an Amaranth testbench, written once for the RTL tests: offer
a payload with valid high and tick until the sink is ready (one transfer per tick that samples ready)."""


async def transfer(ctx, stream, payload) -> int:
    """One transfer of `payload`; valid stays high, so a next transfer follows back to back (`send` drops
    it). Returns the ticks it took, the accepting one included."""
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    ticks = 0
    while True:
        _, _, ready = await ctx.tick().sample(stream.ready)
        ticks += 1
        if ready:
            return ticks


async def send(ctx, stream, payloads) -> int:
    """Transfer every payload back to back, then drop valid. Returns the ticks it took."""
    ticks = 0
    for payload in payloads:
        ticks += await transfer(ctx, stream, payload)
    ctx.set(stream.valid, 0)
    return ticks
