"""The generated accelerator top under cocotb (sim.verify.benches.accelerator_bench) on Verilator and Icarus: every
bench test bit-exact against the golden model, with functional coverage; the top with analog ports served
by Python macro models (and the noisy physics model); a deliberately injected RTL fault is caught with a
readable message; `aimcgen sim` end to end. Plus the pieces that need no simulator."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from aimcgen.flows.generate import write_verilog
from aimcgen.presets import load_preset
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.rtl.postproc import AffinePostProcessor
from aimcgen.sim.verify.accelerator_config import bench_defaults
from aimcgen.sim.verify.accelerator_coverage import adc_bin_of, declare_coverage, reachable, saturation_rows
from aimcgen.sim.verify.accelerator_runner import BENCH_TESTS, run_accelerator_bench
from aimcgen.sim.verify.cocotb_setup import SIMULATORS, unavailable_reason
from aimcgen.sim.verify.coverage import Coverage
from aimcgen.spec import from_dict

# A 2x2 grid of small PWM tiles with flash ADCs; 5-bit accumulators so that the partial sums of the two row
# tiles saturate, activation none so that outputs clamp at both ends.
GRID = {"design": {"name": "aimc_grid"}, "tile": {"rows": 8, "cols": 6, "weight_bits": 4},
        "array": {"row_tiles": 2, "col_tiles": 2, "max_layers": 3},
        "input": {"bits": 3, "encoding": "pwm"},
        "adc": {"kind": "flash", "bits": 5, "count": 3, "full_scale": 32},
        "accumulator": {"bits": 5},
        "postproc": {"activation": "none", "output_bits": 7, "scale_bits": 8, "scale_frac_bits": 3,
                     "offset_bits": 10},
        "noise": {"sigma_lsb": 1.5, "seed": 5}}


# The default preset as the devices' digital twin: programming error, stuck devices, drift and device read
# noise all on (stuck fractions raised from the presets' 0 so that some weights fail program-and-verify).
TWIN = {"twin": {"programming_error": "on", "stuck": "on", "drift": "on", "read_noise": "on"},
        "device": {"stuck_set_fraction": 0.02, "stuck_reset_fraction": 0.02}}


# The emulated tile summing every row at once (rtl/parallel_integrator.py): the default preset with one tree
# per ADC sweeping its 8 columns and the devices' read noise (its variance summed in trees too), the PWM grid
# with one tree per column (drive cycles back to back).
PARALLEL = {"default_parallel_adc": ("default", {"integrate": "parallel_adc", "read_noise": "on"}),
            "grid_parallel": ("grid_pwm_flash", {"integrate": "parallel"})}


def make_spec(name):
    if name == "default_twin":
        return load_preset("default").replace(**TWIN)
    if name in PARALLEL:
        base, twin = PARALLEL[name]
        return make_spec(base).replace(twin=twin)
    return from_dict(GRID) if name == "grid_pwm_flash" else load_preset(name)


def _require(simulator):
    reason = unavailable_reason(simulator)
    if reason is not None:
        pytest.skip(f"{simulator} not available: {reason}")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Verilog (all three products of write_verilog) and regmap.json per spec name, written on first use."""
    root = tmp_path_factory.mktemp("cocotb_accelerator")
    cache = {}

    def get(name):
        if name not in cache:
            spec = make_spec(name)
            folder = root / name
            write_verilog(spec, folder / "rtl")
            (folder / "regmap.json").write_text(aimc_register_map(spec).to_json())
            cache[name] = (spec, folder)
        return cache[name]

    return get


def run(generated, name, simulator, *, top="emulated", build=None, **fields):
    spec, folder = generated(name)
    source = folder / "rtl" / (f"{spec.name}_emulated.v" if top == "emulated" else f"{spec.name}.v")
    build = folder / (build or f"run_{top}")
    result = run_accelerator_bench(spec, source, source.stem, simulator=simulator, build_dir=build,
                                   regmap_json=folder / "regmap.json", **fields)
    return spec, result


def check_result(spec, result, *, physics=False):
    statuses = {t.name.rsplit(".", 1)[-1]: t.status for t in result.tests}
    assert set(statuses) == set(BENCH_TESTS)
    expected = {name: "passed" for name in BENCH_TESTS}
    if not physics:
        expected["test_physics_macro"] = "skipped"
    if spec.twin.drift == "off" or physics:
        expected["test_twin_epochs"] = "skipped"
    assert statuses == expected, result.tests
    report = result.report
    coverage = report["coverage"]
    assert coverage["coverage"] >= coverage["threshold"] == 0.95
    assert not any(p["excluded_but_hit"] for p in coverage["points"].values())
    b2b = report["test_back_to_back_with_stalls"]
    assert b2b["checked_vectors"] == b2b["mvms"] == bench_defaults(spec)["mvms"]
    assert b2b["input"]["stall_cycles"] > 0 and b2b["output"]["stall_cycles"] > 0
    assert report["test_design_discovery"]["registers"] == len(aimc_register_map(spec).registers)
    print(f"{spec.name} on {result.simulator}: build {result.build_s:.1f} s, run {result.run_s:.1f} s, "
          f"coverage {100 * coverage['coverage']:.1f} % of {coverage['bins']} bins, "
          f"{b2b['cycles_per_mvm']:.0f} cycles per MVM with stalls")
    return report


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("name", ["default", "grid_pwm_flash"])
def test_accelerator_bench(generated, simulator, name):
    _require(simulator)
    spec, result = run(generated, name, simulator, build=f"run_{simulator}")
    report = check_result(spec, result)
    coverage = report["coverage"]["points"]
    if name == "grid_pwm_flash":              # the corners this spec exists for
        assert coverage["accumulator_saturation"]["bins"]["hit"] > 0
        assert coverage["output_saturation"]["bins"]["low"] > 0
        assert report["test_saturation_corners"]["flags_after_sweep"]["acc_overflow"] == 1
    assert coverage["output_saturation"]["bins"]["high"] > 0


@pytest.mark.parametrize("name", ["default"])
def test_analog_top(generated, name, fast_simulator):
    """The periphery top (<name>.v) with every tile served from Python: MacroModel (bit-exact) in every test,
    PhysicsMacroModel (PCM noise and drift) in test_physics_macro: exact and statistical checks."""
    simulator = fast_simulator
    spec, result = run(generated, name, simulator, top="analog", build=f"run_analog_{simulator}")
    report = check_result(spec, result, physics=True)
    physics = report["test_physics_macro"]
    assert physics["mae_charge"] <= physics["tolerance"]
    print(f"physics macro: MAE {physics['mae_charge']:.2f} <= {physics['tolerance']:.2f} charge units")


TWIN_TESTS = ["test_weight_programming", "test_back_to_back_with_stalls", "test_updates_between_mvms",
              "test_twin_epochs"]


def test_accelerator_bench_with_the_twin(generated, fast_simulator):
    """The emulated top with the whole digital twin: weight writes land with programming error and stuck
    devices (program-and-verify retries and fails as the golden model replays it, write for write), MVMs
    see device read noise and, at DRIFT_EPOCH 7 and 12, drifted devices; every output equals the golden
    model's."""
    spec, result = run(generated, "default_twin", fast_simulator, build="run_twin", testcase=TWIN_TESTS,
                       mvms=6)
    statuses = {t.name.rsplit(".", 1)[-1]: t.status for t in result.tests}
    assert statuses == {name: "passed" for name in TWIN_TESTS}, result.tests
    epochs = result.report["test_twin_epochs"]
    assert epochs["weights"] > 0 and epochs["weights_drifted"]["12"] > 0
    programming = result.report["test_weight_programming"]
    print(f"twin bench on {result.simulator}: build {result.build_s:.1f} s, run {result.run_s:.1f} s; "
          f"{programming['weight_writes']} writes; twin epochs: {epochs['weights']} weights, "
          f"{epochs['prog_failures']} verify failures (analog yield {epochs['analog_yield']:.3f}), "
          f"{epochs['weights_drifted']} weights moved by drift")


@pytest.mark.parametrize("name", PARALLEL)
def test_accelerator_bench_with_parallel_integration(generated, fast_simulator, name):
    """The whole bench (streams with stalls, registers, layers, coverage) on an emulated top whose tiles sum
    every row at once: the same outputs as the golden model, fewer cycles."""
    spec, result = run(generated, name, fast_simulator, build=f"run_{name}")
    check_result(spec, result)


def test_injected_fault_is_caught_with_expected_and_got(tmp_path, fast_simulator):
    """AffinePostProcessor(fault="flip_rounding") floors instead of rounding: the bench must fail and say
    which vector and column, what it expected and what it got."""
    simulator = fast_simulator
    spec = load_preset("default")
    source = tmp_path / f"{spec.name}_emulated.v"
    source.write_text(verilog.convert(Accelerator(spec, fault="flip_rounding"), name=source.stem,
                                      emit_src=False))
    (tmp_path / "regmap.json").write_text(aimc_register_map(spec).to_json())
    with pytest.raises(AssertionError) as info:
        run_accelerator_bench(spec, source, source.stem, simulator=simulator, build_dir=tmp_path / "run",
                              regmap_json=tmp_path / "regmap.json",
                              testcase=["test_coefficient_loads", "test_back_to_back_with_stalls"])
    message = str(info.value)
    print(message)
    pattern = (r"test_back_to_back_with_stalls: output vector \d+ \(stream MVM \d+, output stream\), column "
               r"\d+: expected -?\d+, got -?\d+ \(accumulator -?\d+, scale -?\d+, offset -?\d+; x = \[")
    assert re.search(pattern, message), message
    assert "test_coefficient_loads: output vector" in message


def test_fault_argument():
    spec = load_preset("default")
    with pytest.raises(ValueError, match="not a known test fault"):
        AffinePostProcessor(spec, fault="bogus")
    assert AffinePostProcessor(spec).fault is None and Accelerator(spec).fault is None


def test_cmd_sim_smoke(tmp_path, capsys, fast_simulator):
    from aimcgen.cli.sim import add_sim_parser, cmd_sim

    simulator = fast_simulator
    parser = argparse.ArgumentParser(prog="aimcgen")
    add_sim_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sim", "--preset", "default", "--simulator", simulator, "--out", str(tmp_path),
                              "--seed", "3", "--mvms", "3", "--waves"])
    assert args.func is cmd_sim
    status = cmd_sim(args)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS" in out and "coverage:" in out and "test_layer_chains" in out
    waves = re.findall(r"waves: (\S+)", out)
    assert waves and all(Path(w).is_file() for w in waves), out
    spec = load_preset("default")
    assert (tmp_path / spec.name / "sim" / "regmap.json").is_file()
    assert (tmp_path / spec.name / "sim" / "rtl" / f"{spec.name}_emulated.v").is_file()


def test_cmd_sim_rejects_a_missing_simulator(tmp_path, capsys, monkeypatch):
    from aimcgen.cli import sim as cli_sim

    monkeypatch.setattr(cli_sim, "unavailable_reason", lambda name: f"{name}: not installed here")
    parser = argparse.ArgumentParser(prog="aimcgen")
    cli_sim.add_sim_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sim", "--simulator", "icarus", "--out", str(tmp_path)])
    assert cli_sim.cmd_sim(args) == 2
    assert "icarus: not installed here" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name, simulator", [("tile64", "verilator"), ("tile64", "icarus"),
                                             ("hermes256", "verilator")])
def test_presets(generated, name, simulator):
    """Every shipped preset passes the bench (default: in test_accelerator_bench, on both simulators).
    tile64 takes 30 s on Verilator on an idle machine (over 60 s on a loaded one: the C++ build) and about
    100 s on Icarus. hermes256 takes 6 to 10 minutes on Verilator (a 6 MB Verilog top: build 3.5 to 6.5 min,
    and the emulated 256x256 tile integrates row by row), so it runs with 3 MVMs per test. On Icarus the first
    two of its eleven tests alone took 25 minutes, so CI runs it on Verilator only."""
    _require(simulator)
    spec = make_spec(name)
    fields = {"mvms": 3} if name == "hermes256" else {}
    spec, result = run(generated, name, simulator, build=f"run_{simulator}", **fields)
    statuses = {t.name.rsplit(".", 1)[-1]: t.status for t in result.tests}
    # test_physics_macro runs in test_physics_macro_bench; test_twin_epochs only on a design with twin drift on.
    optional = {"test_physics_macro"} | ({"test_twin_epochs"} if spec.twin.drift == "off" else set())
    assert all(s == "passed" for n, s in statuses.items() if n not in optional), result.tests
    assert all(statuses[n] in ("passed", "skipped") for n in optional if n in statuses), result.tests
    coverage = result.report["coverage"]
    assert coverage["coverage"] >= coverage["threshold"]
    print(f"{name} on {simulator}: build {result.build_s:.1f} s, run {result.run_s:.1f} s, coverage "
          f"{100 * coverage['coverage']:.1f} %")


# ----------------------------------------------------------------------------- no simulator needed

def test_coverage_collector():
    cov = Coverage("demo")
    cov.coverpoint("p", ["a", "b", "c"], "a point")
    cov.exclude("p", "c", "unreachable here")
    cov.hit("p", "a", 3)
    assert cov.coverage == 0.5 and cov.totals == (1, 2, 1)
    with pytest.raises(AssertionError, match=r"demo: functional coverage 50\.0 % \(1/2 bins\) is below the "
                                             r"required 90\.0 %; missed: p\.b"):
        cov.require(0.9)
    cov.require(0.5)
    with pytest.raises(KeyError, match="no bin 'd'"):
        cov.hit("p", "d")
    other = Coverage("demo")
    other.coverpoint("p", ["b"])
    other.hit("p", "b")
    report = cov.merge(other).report()
    assert report["coverage"] == 1.0 and report["points"]["p"]["bins"] == {"a": 3, "b": 1, "c": 0}
    assert report["points"]["p"]["excluded"] == {"c": "unreachable here"}
    assert "p" in cov.format() and "c=x" in cov.format()


def test_adc_bins_and_reachability():
    spec = make_spec("grid_pwm_flash")
    adc = spec.adc                                          # codes -16..15
    assert adc_bin_of(np.array([-16, -9, -8, -1, 0, 7, 8, 14, 15]), adc).tolist() == [0, 1, 2, 2, 3, 3, 4, 4, 5]
    grid, default = reachable(spec), reachable(load_preset("default"))
    assert grid["acc_saturation"] and grid["out_low"] and grid["out_high"]
    assert not default["acc_saturation"] and not default["out_low"]        # 12-bit accumulator, relu
    cov = declare_coverage(Coverage("x"), load_preset("default"))
    assert "hit" in cov.points["accumulator_saturation"].excluded
    assert cov.points["bus_error"].excluded == {"beyond_depth": "every window's depth is a power of two"}
    assert saturation_rows(spec) <= spec.tile.rows


def test_register_access_by_name_without_a_simulator():
    from aimcgen.sim.verify.cocotb_wishbone import RegisterAccess

    spec = load_preset("default")
    regmap = aimc_register_map(spec)

    class FakeMaster:                                      # what RegisterAccess needs of a WishboneMaster
        addr_width = regmap.addr_width
        dut = type("Dut", (), {"_name": "fake"})()

    regs = RegisterAccess(FakeMaster(), regmap)
    assert regs.encode("PROG_CTRL", {"tolerance": 2, "max_retries": 5}) == 2 | 5 << 8
    with pytest.raises(ValueError, match=r"PROG_CTRL\.tolerance: value 256 does not fit 8 bit"):
        regs.encode("PROG_CTRL", {"tolerance": 256})
    with pytest.raises(KeyError, match="no field 'bogus'"):
        regs.encode("CONFIG", {"bogus": 1})
    assert regs.encode_word("OFFSET", -1) == 0xFFFFFFFF and regs.decode_word("OFFSET", 0xFFFFFFFF) == -1
    with pytest.raises(ValueError, match="window SCALE: value 512 does not fit"):
        regs.encode_word("SCALE", 512)
    weights = regmap.window("WEIGHTS")
    assert regs.describe(weights.address + 8) == f"window WEIGHTS[2] ({weights.address + 8:#x}, wo)"
    assert regs.describe(0).startswith("register ID (0x0")
    assert regs.describe(0xFC) == "unmapped address 0xfc"
