"""The TileController's generated Verilog under cocotb, on every installed simulator (Verilator, Icarus):
bit-exact to the golden model behind a stalling macro, at the serial command bound without stalls, programmable
through its prog port, and accurate (exactly as recomputed, statistically as predicted) with a float PCM
physics macro. Plus the pieces of the cocotb infrastructure that need no simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.lib import data

from aimcgen.rtl.boundary import AnalogOp, command_layout, response_layout
from aimcgen.rtl.tile_controller import TileController
from aimcgen.contract.adc import adc_code
from aimcgen.sim.verify.cocotb_macro import PhysicsMacroModel, pack, unpack
from aimcgen.sim.verify.cocotb_run import fix_constant_always, run_bench, write_bench_config
from aimcgen.sim.verify.cocotb_setup import SIMULATORS, unavailable_reason
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.sim.verify.macro_model import CONVERT, INTEGRATE
from aimcgen.spec import from_dict

BENCH = "aimcgen.sim.verify.benches.tile_controller_bench"
BENCH_TESTS = {"test_golden_with_random_stalls", "test_at_command_bound", "test_programming_port",
               "test_physics_macro"}

SPECS = {
    # 8-bit accumulators so that full-scale inputs saturate them: the overflow path is checked too.
    "bit_serial_sar": {"tile": {"rows": 8, "cols": 8}, "input": {"bits": 4}, "adc": {"count": 2},
                       "accumulator": {"bits": 8}},
    "pwm_flash": {"tile": {"rows": 8, "cols": 6}, "input": {"bits": 3, "encoding": "pwm"},
                  "adc": {"kind": "flash", "bits": 5, "count": 3, "full_scale": 32},
                  "accumulator": {"bits": 8}},
}


def make_spec(name):
    tables = {k: dict(v) for k, v in SPECS[name].items()}
    tables["noise"] = {"sigma_lsb": 2.0, "seed": 11}
    tables["design"] = {"name": name}
    return from_dict(tables)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Verilog of TileController(spec) for every spec, written once per module."""
    root = tmp_path_factory.mktemp("cocotb_tile_controller")
    out = {}
    for name in SPECS:
        spec = make_spec(name)
        folder = root / name
        folder.mkdir()
        path = folder / "tile_controller.v"
        path.write_text(verilog.convert(TileController(spec), name="tile_controller"))
        out[name] = (spec, path)
    return out


def _require(simulator):
    reason = unavailable_reason(simulator)
    if reason is not None:
        pytest.skip(f"{simulator} not available: {reason}")


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("name", list(SPECS))
def test_tile_controller_verilog(generated, simulator, name):
    _require(simulator)
    spec, source = generated[name]
    build = source.parent                           # run files go to <build>/<simulator>
    config = write_bench_config(build / f"config_{simulator}.json", spec, seed=5, mvms=32, physics_mvms=48)
    result = run_bench(verilog_sources=[source], toplevel="tile_controller", test_module=BENCH,
                       simulator=simulator, build_dir=build, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)},
                       seed=5)
    assert {t.name.rsplit(".", 1)[-1] for t in result.tests} == BENCH_TESTS
    assert all(t.status == "passed" for t in result.tests), result.tests
    assert result.fixed_always_blocks > 0          # the ADC controller's constant opcode (see fix_constant_always)
    physics = result.report["test_physics_macro"]
    assert physics["mae_charge"] <= physics["tolerance"]
    if name == "bit_serial_sar":
        assert result.report["test_golden_with_random_stalls"]["overflows"] > 0
    print(f"{name} on {simulator}: build {result.build_s:.1f} s, run {result.run_s:.1f} s, "
          f"physics MAE {physics['mae_charge']:.2f} <= {physics['tolerance']:.2f} charge units")


def test_a_failing_bench_raises_its_own_message(generated, fast_simulator):
    """run_bench turns the runner's SystemExit into an AssertionError carrying the cocotb test's message."""
    simulator = fast_simulator
    spec, source = generated["pwm_flash"]
    build = source.parent / f"failing_{simulator}"
    config = write_bench_config(build / "config.json", spec, physics_mvms=8, physics_tolerance=0.0)
    with pytest.raises(AssertionError, match=r"test_physics_macro: .*exceeds 0\.000"):
        run_bench(verilog_sources=[source], toplevel="tile_controller", test_module=BENCH,
                  simulator=simulator, build_dir=build, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)},
                  testcase="test_physics_macro")


# ----------------------------------------------------------------------------- no simulator needed

@pytest.mark.parametrize("name", list(SPECS))
def test_pack_and_unpack_follow_the_amaranth_layouts(name):
    spec = make_spec(name)
    layout = command_layout(spec)
    rng = np.random.default_rng(0)
    for _ in range(50):
        value = {"op": AnalogOp(int(rng.integers(5))), "start": int(rng.integers(2)),
                 "col_sel": int(rng.integers(spec.columns_per_adc)),
                 "trial": [int(t) for t in rng.integers(spec.adc.code_min, spec.adc.code_max + 1, spec.adc.count)],
                 "row": int(rng.integers(spec.tile.rows)), "col": int(rng.integers(spec.tile.cols)),
                 "target": int(rng.integers(-spec.tile.conductance_levels, spec.tile.conductance_levels + 1))}
        raw = pack(layout, value)
        assert raw == layout.const(value).as_value().value
        assert unpack(layout, raw) == {**value, "op": value["op"].value}
    resp = {"comp": 0b101 & ((1 << spec.adc.count) - 1), "code": [spec.adc.code_min] * spec.adc.count,
            "read_data": -1}
    assert unpack(response_layout(spec), pack(response_layout(spec), resp)) == resp
    assert isinstance(response_layout(spec)["code"].shape, data.ArrayLayout)


def test_fix_constant_always_rewrites_only_constant_blocks():
    text = ("  always @*\n    cmd__payload[2:0] = 3'h1;\n"
            "  always @* begin\n    if (\\$auto$x ) begin end\n    y = a;\n  end\n"
            "  always @* begin\n    \\z.q  = 1'h0;\n    w[3] = 0;\n  end\n"
            "  always @*\n    v = u;\n")
    fixed, count = fix_constant_always(text)
    assert count == 2
    assert fixed.splitlines()[0] == "  initial"
    assert "  initial begin\n    \\z.q  = 1'h0;" in fixed
    assert "  always @*\n    v = u;" in fixed and "  always @* begin\n    if (" in fixed


def test_physics_macro_of_an_ideal_device_is_the_noise_free_golden_tile():
    """With device.model = "ideal" the physics macro integrates the integer weights exactly."""
    tables = {k: dict(v) for k, v in SPECS["pwm_flash"].items()}
    spec = from_dict({**tables, "device": {"model": "ideal"}, "noise": {"sigma_lsb": 0.0}})
    rng = np.random.default_rng(3)
    w = rng.integers(-7, 8, (spec.tile.rows, spec.tile.cols))
    x = rng.integers(-3, 4, spec.tile.rows)
    model = PhysicsMacroModel(spec, w, seed=1, t_s=1.0)
    for cycle in range(spec.input.max_magnitude):
        enabled = sum(1 << i for i in range(spec.tile.rows) if abs(x[i]) > cycle)
        negative = sum(1 << i for i in range(spec.tile.rows) if x[i] < 0)
        model.execute(INTEGRATE, start=int(cycle == 0), row_en=enabled, row_sign=negative)
    np.testing.assert_array_equal(model.charge, x @ w)
    codes = []
    for col_sel in range(spec.columns_per_adc):
        codes.append(model.execute(CONVERT, col_sel=col_sel).code)
    expected = GoldenTile(spec, w).run(x[None]).codes[0, 0]
    got = np.array(codes).T.reshape(-1)                 # ADC a, column position p -> tile column a*G + p
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(expected, adc_code(x @ w, spec.adc))
    assert len(model.integrations) == spec.input.max_magnitude and len(model.samples) == spec.columns_per_adc
