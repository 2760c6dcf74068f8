"""The activity counters read over the bus of the accelerator RTL (through the UART bridge) by the host
driver and by the C driver: both read what sim.models.activity predicts for sparse inputs, and the outputs
stay the golden model's."""

import ctypes

import numpy as np
from aimcgen.firmware.c_driver import Driver, compile_driver_library
from aimcgen.sim.host.driver import AimcHost
from aimcgen.sim.models.activity import accelerator_activity
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.uart_sim_transport import UartSimTransport

from aimcgen.spec import from_dict

SPEC = {"tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0},
        "sparsity": {"skip_zero_planes": "on", "skip_zero_tiles": "on"}}


def test_host_and_c_driver_read_the_predicted_activity(tmp_path):
    spec = from_dict(SPEC)
    rng = np.random.default_rng(4)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    xs = rng.integers(-7, 8, (4, spec.logical_rows))
    xs[rng.random(xs.shape) < 0.5] = 0
    xs[1, :spec.tile.rows] = 0                              # row tile 0 idles
    xs[2] &= 0b101                                          # plane 1 is zero everywhere (then signs)
    xs[2] *= np.where(rng.random(spec.logical_rows) < 0.5, -1, 1)
    lib = compile_driver_library(spec, tmp_path)
    with UartSimTransport(spec) as link:
        host = AimcHost(link, spec=spec)
        host.program_weights(w, tolerance=0, max_retries=2)
        before = host.activity()
        got = host.run(xs)
        after = host.activity()
        drv = Driver(lib, spec, lambda offset: host.read_words(offset)[0],
                     lambda offset, value: host.write_words(offset, [value]))
        drv.init(1000)
        counts = (ctypes.c_uint32 * 5)()
        drv._call("aimc_read_activity", ctypes.byref(drv.dev), counts)
    np.testing.assert_array_equal(got, GoldenAccelerator(spec, w).run(xs).outputs)
    predicted = accelerator_activity(xs, spec).registers()
    assert AimcHost.activity_since(before, after) == predicted
    assert after == predicted                               # nothing else ran an MVM since reset
    assert list(counts) == [after[k] for k in ("mvms", "drive_cycles", "row_activations", "conversions",
                                               "skipped")]
    assert predicted["skipped"] > 0
