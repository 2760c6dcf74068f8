"""A whole chip program loaded and run by the C driver (aimc_load_program, aimc_run_network) on the RTL.

1. The digits MLP compiled for the tile64 preset (sim.deploy.compile.compile_network, inputs and calibration
   set from the network's metadata as `aimcgen deploy` takes them): its C tables (firmware.program_c) are
   compiled into the driver library, which runs in the cocotb bench sim/verify/benches/firmware_program_bench.py
   against the generated emulated top, its HAL calls answered by the cocotb Wishbone master. Two inputs run
   from the compiled-in tables, a third from the aimc_program_t built by the ctypes binding from the
   ChipProgram. Output codes equal the golden model's (sim.deploy.run.run_golden, one golden chip carried
   across both runs; sim.deploy.rtl_check.golden_last_segment for the first), code for code.
2. A convolution followed by a dense layer on a small spec: the C driver's im2col / flatten, its HAL calls
   going through the host driver's UART link into the emulation core in Amaranth's simulator
   (sim/verify/uart_sim_transport.py), outputs equal to run_golden's.
3. The generated C tables build with -std=c99 -Wall -Wextra -Werror -pedantic, and aimc_load_program refuses
   a program of another spec with AIMC_ERR_SPEC_HASH.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from aimcgen.contract.aimc_registers import aimc_register_map, spec_hash
from aimcgen.contract.chip_program import write_program
from aimcgen.firmware.c_driver import STATUS_CODE, BusError, Driver, compile_driver_library
from aimcgen.firmware.program_c import program_c_sources, write_program_c
from aimcgen.presets import load_preset
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.report import dataset
from aimcgen.sim.deploy.rtl_check import golden_last_segment
from aimcgen.sim.deploy.run import golden_chip, quantize_input, run_golden
from aimcgen.sim.eval.network import ConvLayer, DenseLayer, Network, default_model_path, load_network
from aimcgen.sim.host.driver import AimcBusError, AimcHost
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.emulated_top import write_emulated_top
from aimcgen.sim.verify.uart_sim_transport import UartSimTransport
from aimcgen.spec import from_dict

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

BENCH = "aimcgen.sim.verify.benches.firmware_program_bench"
SMALL = {"tile": {"rows": 8, "cols": 8}, "input": {"bits": 5}, "adc": {"count": 2, "bits": 6, "full_scale": 64},
         "postproc": {"activation": "none", "scale_bits": 10, "scale_frac_bits": 6, "offset_bits": 16},
         "array": {"max_layers": 2}, "noise": {"sigma_lsb": 1.0}, "design": {"name": "fw_prog"}}


def digits_program(inputs: int):
    spec = load_preset("tile64")
    net = load_network(default_model_path())
    x, _, calib = dataset(net, inputs)
    return spec, compile_network(net, spec, calib), x


@pytest.mark.slow
def test_digits_mlp_by_the_c_driver_on_generated_verilog(tmp_path, fast_simulator):
    spec, program, x = digits_program(3)
    lib_dir = tmp_path / "firmware"
    _, c_source = write_program_c(program, spec, lib_dir)
    lib = compile_driver_library(spec, lib_dir, extra_sources=[c_source])
    source, top, _ = write_emulated_top(spec, tmp_path / "rtl")
    codes = quantize_input(program, x)
    config = write_bench_config(tmp_path / "config.json", spec, library=str(lib),
                                program=str(write_program(tmp_path / "program.aimc", program)),
                                program_symbol="digits_mlp_program", inputs=codes[:2], more_inputs=codes[2:])
    result = run_bench(verilog_sources=[source], toplevel=top, test_module=BENCH, simulator=fast_simulator,
                       build_dir=tmp_path / "bench", extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    report = result.report["test_program_on_rtl"]
    print(f"digits MLP by the C driver on {top} ({fast_simulator}): build {result.build_s:.1f} s, run "
          f"{result.run_s:.1f} s, {report['cycles']} cycles, {report['bus_accesses']} bus accesses")
    assert report["spec_hash"] == spec_hash(spec)
    assert report["load_status"] == STATUS_CODE["AIMC_OK"], report["load"]
    assert report["load"]["written"] == int(np.count_nonzero(program.weights))
    assert report["load"]["failures"] == 0
    chip = golden_chip(program, spec)
    first, second = run_golden(program, spec, x[:2], chip=chip), run_golden(program, spec, x[2:], chip=chip)
    np.testing.assert_array_equal(np.array(report["codes"]), golden_last_segment(program, spec, x[:2], noise=True))
    np.testing.assert_array_equal(np.array(report["codes"]), first.codes)
    np.testing.assert_array_equal(np.array(report["predictions"]), first.predictions)
    np.testing.assert_array_equal(np.array(report["more_codes"]), second.codes)
    np.testing.assert_array_equal(np.array(report["more_predictions"]), second.predictions)
    errors = aimc_register_map(spec).register("ERRORS")
    flags = errors.field("prog_verify_fail").mask | errors.field("bus_error").mask | \
        errors.field("start_dropped").mask
    assert report["errors"] & flags == 0, f"ERRORS = {report['errors']:#x}"


def uart_driver(lib, spec, link) -> Driver:
    """The C driver whose HAL goes through the host driver's UART link (AimcHost word access)."""
    host = AimcHost(link, spec=spec)

    def read(offset):
        try:
            return host.read_words(offset)[0]
        except AimcBusError as exc:
            raise BusError(str(exc)) from exc

    def write(offset, value):
        try:
            host.write_words(offset, [value])
        except AimcBusError as exc:
            raise BusError(str(exc)) from exc

    return Driver(lib, spec, read=read, write=write)


def conv_net(rng) -> Network:
    conv = ConvLayer(rng.normal(0, 0.5, (2, 1, 2, 2)), rng.normal(0, 0.1, 2), (1, 3, 3), "relu", (0, 0, 1, 1),
                     (2, 2))
    return Network([conv, DenseLayer(rng.normal(0, 0.5, (conv.out_features, 3)), rng.normal(0, 0.1, 3))],
                   name="tiny_cnn")


def test_conv_program_im2col_by_the_c_driver_on_simulated_rtl(tmp_path):
    spec = from_dict(SMALL)
    rng = np.random.default_rng(7)
    net = conv_net(rng)
    x = rng.normal(0, 1, (2, net.layers[0].in_features))
    program = compile_network(net, spec, rng.normal(0, 1, (64, net.layers[0].in_features)))
    assert [s.driver for s in program.segments] == ["host_per_position", "sequencer"]
    lib = compile_driver_library(spec, tmp_path)
    with UartSimTransport(spec) as link:
        drv = uart_driver(lib, spec, link)
        drv.init(10_000)
        status, load = drv.load_program(program, tolerance=0, max_retries=3)
        codes, predictions = drv.run_network(quantize_input(program, x))
        errors = drv.read_errors()
    expected = run_golden(program, spec, x)
    assert status == STATUS_CODE["AIMC_OK"] and load["failures"] == 0
    assert load["written"] == int(np.count_nonzero(program.weights))
    np.testing.assert_array_equal(codes, expected.codes)
    np.testing.assert_array_equal(predictions, expected.predictions)
    assert errors & aimc_register_map(spec).register("ERRORS").field("bus_error").mask == 0


def test_generated_tables_build_clean_and_another_spec_is_refused(tmp_path):
    spec = from_dict(SMALL)
    other = from_dict({**SMALL, "postproc": {**SMALL["postproc"], "activation": "relu"}})
    rng = np.random.default_rng(8)
    net = Network([DenseLayer(rng.normal(0, 0.5, (6, 4)), None, "relu"), DenseLayer(rng.normal(0, 0.5, (4, 3)), None)],
                  name="tiny-mlp 2")
    program = compile_network(net, spec, rng.normal(0, 1, (16, 6)))
    header, source = program_c_sources(program, spec)
    assert "extern const aimc_program_t tiny_mlp_2_program;" in header
    assert f"0x{spec_hash(spec):08X}u" in source
    _, c_source = write_program_c(program, spec, tmp_path / "fw")
    compile_driver_library(spec, tmp_path / "fw", extra_sources=[c_source])     # -Werror -pedantic
    with pytest.raises(RuntimeError, match="another design"):
        compile_driver_library(other, tmp_path / "fw_other", extra_sources=[c_source])
    foreign = compile_network(net, other, rng.normal(0, 1, (16, 6)))
    lib = compile_driver_library(spec, tmp_path / "lib")
    with UartSimTransport(spec) as link:
        drv = uart_driver(lib, spec, link)
        drv.init(10_000)
        status, _ = drv.load_program(foreign, check=False)
        assert status == STATUS_CODE["AIMC_ERR_SPEC_HASH"]
        with pytest.raises(ValueError, match="input codes per inference"):
            drv.run_network(np.zeros((1, 5)))
