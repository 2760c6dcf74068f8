"""The whole accelerator through its Wishbone registers: discover, program, run, read; equal to golden."""

import numpy as np
import pytest

from aimcgen.rtl.accelerator import Accelerator
from aimcgen.contract.aimc_registers import MAGIC, col_stride, spec_hash
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.macro_model import MacroModel
from aimcgen.contract.postproc import unity_scale
from aimcgen.sim.verify.wishbone_master import WishboneError
from aimcgen.spec import from_dict
from amaranth_registers import Host, signed32, simulate

SPEC = {"tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0}}


@pytest.mark.parametrize("coefficient_copy,copy_port", [(False, None), (True, "async"), (True, "sync")])
def test_register_driven_mvms_equal_golden(coefficient_copy, copy_port):     # copies: as in the FPGA emulation
    spec = from_dict(SPEC)
    rng = np.random.default_rng(3)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    scale = rng.integers(1, 127, spec.logical_cols)
    offset = rng.integers(-200, 200, spec.logical_cols)
    xs = rng.integers(-7, 8, (3, spec.logical_rows))
    dut = Accelerator(spec, coefficient_copy=coefficient_copy, copy_port=copy_port)
    got, info = [], {}

    async def firmware(ctx):
        host = Host(ctx, dut)
        info["magic"] = await host.read("ID")
        info["hash"] = await host.read("SPEC_HASH")
        info["tile"] = await host.read("TILE")
        await host.write("CONFIG", 0)                   # outputs to the OUTPUT window only
        info["scale_init"] = signed32(await host.read_window("SCALE", 2), 32)
        for c in range(spec.logical_cols):
            await host.write_window("SCALE", c, int(scale[c]))
            await host.write_window("OFFSET", c, int(offset[c]) & 0xFFFFFFFF)
        info["offset_back"] = signed32(await host.read_window("OFFSET", 1), 32)
        info["scale_back"] = signed32(await host.read_window("SCALE", 3), 32)
        await host.write_weights(spec, w)
        for x in xs:
            got.append(await host.mvm(x, spec.logical_cols))
        info["errors"] = await host.read("ERRORS")
        try:
            await host.read_window("WEIGHTS", 0)
        except WishboneError:
            info["bad_read"] = True
        info["errors_after"] = await host.read("ERRORS")

    simulate(dut, firmware)
    expected = GoldenAccelerator(spec, w, scale, offset).run(xs)
    assert info["magic"] == MAGIC and info["hash"] == spec_hash(spec)
    assert info["tile"] & 0x7FF == spec.tile.rows
    assert info["offset_back"] == offset[1] and info["scale_back"] == scale[3]
    assert info["scale_init"] == unity_scale(spec)
    np.testing.assert_array_equal(np.array(got), expected.outputs)
    assert info["errors"] & 0b11 == (int(expected.overflow.any()) | int(expected.output_saturated.any()) << 1)
    assert info["bad_read"] and info["errors_after"] & 0b1000


def test_program_verify_failures_are_reported_with_address():
    spec = from_dict(SPEC)
    dut = Accelerator(spec, emulated=False)
    bad = {(0, 2): 3}                                    # tile 0, local (0, 2): lands 3 codes off, always

    def write_error(row, col, target):
        return bad.get((row, col), 0)

    macros = [MacroModel(spec, tile_index=i, write_error=write_error if i == 1 else None)
              for i in range(spec.tiles)]
    info = {}

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("PROG_CTRL", 1 | 2 << 8)       # tolerance 1, 2 retries
        for r, c in [(0, 2), (7, 3), (6, 2)]:            # logical (6, 2) is tile 1's local (0, 2)
            await host.write_window("WEIGHTS", r * col_stride(spec) + c, 2)
        while (await host.read("STATUS")) & 0b100:
            pass
        info["errors"] = await host.read("ERRORS")
        info["failures"] = await host.read("PROG_STATUS")
        info["addr"] = await host.read("PROG_FAIL_ADDR")

    simulate(dut, firmware, macros=macros)
    assert info["errors"] & 0b100
    assert info["failures"] == 1
    assert info["addr"] == (2 << 16 | 6)
    assert macros[0].weights[0, 2] == 2 and macros[1].weights[0, 2] == 5


def test_layer_sequencer_through_registers():
    spec = from_dict(SPEC)
    rng = np.random.default_rng(9)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    xs = rng.integers(-7, 8, (2, spec.logical_rows))
    layers = [(0, 3), (3, 1)]
    dut = Accelerator(spec)
    got = []

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("CONFIG", 0)
        await host.write_weights(spec, w)
        await host.write("LAYER_COUNT", len(layers))
        for i, (start, count) in enumerate(layers):
            await host.write(f"LAYER_{i}", start | count << 16)
        for x in xs:
            got.append(await host.mvm(x, 1))

    simulate(dut, firmware)
    expected = GoldenAccelerator(spec, w).run_layers(xs, layers)
    np.testing.assert_array_equal(np.array(got), expected)
