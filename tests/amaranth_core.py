"""Program an AcceleratorCore in Amaranth's simulator as its register bank would: layers, coefficients, weights."""

from __future__ import annotations

import numpy as np

from amaranth_streams import send


async def program_core(ctx, dut, w, scale, offset, layers=()) -> None:
    """Set the layer descriptors (if any), PROG_CTRL (tolerance 0, 2 retries), every column's SCALE/OFFSET,
    then write every weight of `w` through program-and-verify and wait until it is done."""
    if layers:
        ctx.set(dut.layer_count, len(layers))
        for i, (start, count) in enumerate(layers):
            ctx.set(dut.layers[i], {"start": start, "count": count})
    ctx.set(dut.pv_tolerance, 0)
    ctx.set(dut.pv_max_retries, 2)
    for c, (s, o) in enumerate(zip(scale, offset)):
        ctx.set(dut.coef_addr, c)
        ctx.set(dut.coef_scale_wdata, int(s))
        ctx.set(dut.coef_offset_wdata, int(o))
        ctx.set(dut.coef_scale_we, 1)
        ctx.set(dut.coef_offset_we, 1)
        await ctx.tick()
    ctx.set(dut.coef_scale_we, 0)
    ctx.set(dut.coef_offset_we, 0)
    await send(ctx, dut.weight, [{"row": r, "col": c, "target": int(v)} for (r, c), v in np.ndenumerate(w)])
    await ctx.tick().until(~dut.pv_busy)
