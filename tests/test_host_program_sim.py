"""A whole chip program through the host driver (sim/host/driver.py) on the simulated emulation core.

Small networks built here are compiled onto a small spec with sim.deploy.compile.compile_network, loaded with
AimcHost.load_program (spec hash check, program-and-verify of the non-zero weights, coefficients) and run with
AimcHost.run_network over the simulated UART (sim/verify/uart_sim_transport.py). The output codes must equal
sim.deploy.run.run_golden's, code for code (same inputs in the same order: one golden chip, whose emulated
read noise advances per MVM as the RTL's does). Three schedules: two segments with the host's relu/clamp
between them (postproc.activation = "none"), one sequencer chain of both layers (hardware relu), and a
convolution (host_per_position: im2col and flatten by the host) followed by a dense layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from aimcgen.contract.aimc_registers import spec_hash
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.run import quantize_input, run_golden
from aimcgen.sim.eval.network import ConvLayer, DenseLayer, Network
from aimcgen.sim.host.driver import AimcHost, AimcLinkError
from aimcgen.sim.verify.uart_sim_transport import UartSimTransport
from aimcgen.spec import from_dict

SPEC = {"tile": {"rows": 8, "cols": 8}, "input": {"bits": 5}, "adc": {"count": 2, "bits": 6, "full_scale": 64},
        "postproc": {"activation": "none", "scale_bits": 10, "scale_frac_bits": 6, "offset_bits": 16},
        "array": {"max_layers": 2}, "noise": {"sigma_lsb": 1.0}, "design": {"name": "host_prog"}}


def spec_with(**postproc):
    return from_dict({**SPEC, "postproc": {**SPEC["postproc"], **postproc}})


def dense_net(rng) -> Network:
    return Network([DenseLayer(rng.normal(0, 0.5, (6, 4)), rng.normal(0, 0.1, 4), "relu"),
                    DenseLayer(rng.normal(0, 0.5, (4, 3)), rng.normal(0, 0.1, 3), "none")], name="tiny_mlp")


def conv_net(rng) -> Network:
    conv = ConvLayer(rng.normal(0, 0.5, (2, 1, 2, 2)), rng.normal(0, 0.1, 2), (1, 3, 3), "relu", (0, 0, 1, 1), (2, 2))
    return Network([conv, DenseLayer(rng.normal(0, 0.5, (conv.out_features, 3)), rng.normal(0, 0.1, 3))],
                   name="tiny_cnn")


def run_on_host(spec, net, n=2, seed=5):
    rng = np.random.default_rng(seed)
    calib = rng.normal(0, 1, (64, net.layers[0].in_features))
    x = rng.normal(0, 1, (n, net.layers[0].in_features))
    program = compile_network(net, spec, calib)
    with UartSimTransport(spec) as link:
        host = AimcHost(link, spec=spec)
        report = host.load_program(program, tolerance=0, max_retries=3)
        codes = host.run_network(program, quantize_input(program, x))
        errors = host.errors()
    expected = run_golden(program, spec, x)
    return program, report, codes, expected, errors, link


@pytest.mark.parametrize("activation, segments", [("none", 2), ("relu", 1)], ids=["host_relu", "sequencer"])
def test_dense_program_matches_golden(activation, segments):
    spec = spec_with(activation=activation)
    program, report, codes, expected, errors, link = run_on_host(spec, dense_net(np.random.default_rng(1)))
    assert len(program.segments) == segments
    assert report["written"] == int(np.count_nonzero(program.weights)) and report["failures"] == 0, report
    np.testing.assert_array_equal(codes, expected.codes)
    np.testing.assert_array_equal(np.argmax(codes, axis=1), expected.predictions)
    assert errors["prog_verify_fail"] == 0 and errors["bus_error"] == 0 and errors["start_dropped"] == 0
    assert link.framing_errors == 0


def test_conv_program_im2col_by_the_host_matches_golden():
    spec = spec_with(activation="none")
    program, report, codes, expected, errors, _ = run_on_host(spec, conv_net(np.random.default_rng(2)))
    assert [s.driver for s in program.segments] == ["host_per_position", "sequencer"]
    assert program.segments[0].host_before == ["im2col"] and "flatten" in program.segments[0].host_after
    assert report["failures"] == 0, report
    np.testing.assert_array_equal(codes, expected.codes)
    assert errors["bus_error"] == 0 and errors["start_dropped"] == 0


def test_program_of_another_spec_is_refused():
    spec = spec_with(activation="none")
    rng = np.random.default_rng(3)
    net = dense_net(rng)
    other = spec_with(activation="relu")
    program = compile_network(net, other, rng.normal(0, 1, (16, 6)))
    assert program.spec_hash == spec_hash(other) != spec_hash(spec)
    with UartSimTransport(spec) as link:
        host = AimcHost(link, spec=spec)
        with pytest.raises(AimcLinkError, match="SPEC_HASH reads"):
            host.load_program(program)
        with pytest.raises(ValueError, match="input codes per inference"):
            host.run_network(program, np.zeros((1, 5), dtype=np.int64))
