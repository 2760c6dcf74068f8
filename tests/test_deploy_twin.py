"""sim.deploy with the digital twin on: the golden chip replays the host's weight writes (program-and-verify of
every non-zero code, row-major, from erased devices), so it holds what the emulated chip's devices landed at,
and the generated Verilog agrees with it code for code."""

import numpy as np
import pytest

from aimcgen.cli.evaluate import load_eval_network
from aimcgen.presets import load_preset
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.report import dataset
from aimcgen.sim.deploy.rtl_check import check_program_on_rtl
from aimcgen.sim.deploy.run import expected_prog_failures, golden_chip
from aimcgen.sim.models.golden import GoldenAccelerator

# Programming error and device read noise, with a tolerance healthy devices meet (tile64: 15 levels, programming
# sigma <= 0.66 code, 3 retries); stuck devices (1 % each way) make some writes fail, which the RTL must report
# as the golden chip does.
TWIN = {"twin": {"programming_error": "on", "read_noise": "on", "stuck": "on"},
        "device": {"stuck_set_fraction": 0.01, "stuck_reset_fraction": 0.01}, "program_verify": {"tolerance": 3}}


@pytest.fixture(scope="module")
def program_and_inputs():
    spec = load_preset("tile64").replace(**TWIN)
    net = load_eval_network(None, None)
    x, _, calib = dataset(net, 4)
    return spec, compile_network(net, spec, calib), x


def _chip_weights(chip: GoldenAccelerator) -> np.ndarray:
    spec = chip.spec
    ct = spec.array.col_tiles
    return np.concatenate([np.concatenate([t.weights for t in chip.tiles[r * ct:(r + 1) * ct]], axis=1)
                           for r in range(spec.array.row_tiles)])


def test_golden_chip_replays_the_writes(program_and_inputs):
    spec, program, _ = program_and_inputs
    chip = golden_chip(program, spec)
    expected = GoldenAccelerator(spec, np.zeros_like(program.weights, dtype=np.int64))
    for r, c in np.argwhere(program.weights != 0):              # the bench's order
        expected.program_verify(int(r), int(c), int(program.weights[r, c]))
    landed = _chip_weights(chip)
    np.testing.assert_array_equal(landed, _chip_weights(expected))
    off = landed != program.weights
    failed = np.abs(landed - program.weights) > 3
    assert off.any() and 0 < failed.sum() < 0.1 * (program.weights != 0).sum()
    assert expected_prog_failures(program, spec) == failed[program.weights != 0].sum()
    # Without the twin the chip holds the program exactly; noise=False also turns the device read noise off.
    exact = golden_chip(program, spec.replace(twin={"programming_error": "off", "stuck": "off"}))
    np.testing.assert_array_equal(_chip_weights(exact), program.weights)
    assert golden_chip(program, spec, noise=False).spec.twin.read_noise == "off"


@pytest.mark.slow            # 1.5 to 2.5 min on Icarus
def test_rtl_check_with_the_twin_is_exact(program_and_inputs, tmp_path, fast_simulator):
    spec, program, x = program_and_inputs
    report = check_program_on_rtl(program, spec, x[:2], simulator=fast_simulator, build_dir=tmp_path)
    assert report["rtl_mismatches"] == 0 and report["codes_compared"] == 2 * 10, report["mismatches"]
    assert report["prog_failures"] == expected_prog_failures(program, spec) > 0
