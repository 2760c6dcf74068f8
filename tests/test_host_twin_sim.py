"""The host driver reads program-and-verify's report (weights, failures, first and last failing address,
analog yield) from the simulated emulation core with the digital twin on, equal to the golden model's."""

import numpy as np

from aimcgen.sim.host.driver import AimcHost
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.uart_sim_transport import UartSimTransport
from aimcgen.spec import from_dict


def test_program_report_matches_golden():
    spec = from_dict({"tile": {"rows": 4, "cols": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
                      "postproc": {"scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0, "seed": 2},
                      "device": {"prog_noise_us": [0.8, 4.0, -2.0], "stuck_set_fraction": 0.08,
                                 "stuck_reset_fraction": 0.08},
                      "twin": {"programming_error": "on", "stuck": "on"}, "design": {"name": "host_twin"}})
    w = np.random.default_rng(6).integers(-7, 8, (4, 4))
    with UartSimTransport(spec) as link:
        host = AimcHost(link, spec=spec)
        before = host.program_report()
        failures = host.program_weights(w, tolerance=0, max_retries=1)
        report = host.program_report()
    golden = GoldenAccelerator(spec, np.zeros_like(w)).program_weights(w, tolerance=0, max_retries=1)
    bad = golden.failures
    assert before == {"weights": 0, "failures": 0, "first_fail": None, "last_fail": None, "analog_yield": 1.0}
    assert failures == len(bad) > 0
    assert report == {"weights": 16, "failures": len(bad), "first_fail": (bad[0].row, bad[0].col),
                      "last_fail": (bad[-1].row, bad[-1].col), "analog_yield": golden.analog_yield}
