"""sim.deploy program file and runs: round trip, refusals, golden run vs a hand composition, accuracy."""

import json
import zipfile

import numpy as np
import pytest

from aimcgen.contract.aimc_registers import spec_hash
from aimcgen.contract.schedule import serial_schedule_commands
from aimcgen.presets import load_preset
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.contract.chip_program import SCHEMA, ProgramError, read_program, write_program
from aimcgen.sim.deploy.run import (cycles_per_inference, quantize_input, run_golden, run_physics)
from aimcgen.sim.eval.backends import with_device
from aimcgen.sim.eval.estimates import POSTPROC_LATENCY_CYCLES
from aimcgen.sim.eval.network import ConvLayer, DenseLayer, Network, default_model_path, load_network
from aimcgen.sim.models.golden import GoldenAccelerator

TILE64 = load_preset("tile64")


@pytest.fixture(scope="module")
def digits():
    net = load_network(default_model_path())
    return net, net.meta["x_test"].astype(float), net.meta["y_test"].astype(int), net.meta["x_calib"].astype(float)


@pytest.fixture(scope="module")
def program(digits):
    net, _, _, calib = digits
    return compile_network(net, TILE64, calib)


def chip(program, spec):
    return GoldenAccelerator(spec, program.weights.astype(np.int64), program.scale.astype(np.int64),
                             program.offset.astype(np.int64))


def test_round_trip(program, tmp_path):
    path = write_program(tmp_path / "program.aimc", program)
    back = read_program(path, TILE64)
    assert json.loads(json.dumps(back.header())) == json.loads(json.dumps(program.header()))
    for name in ("weights", "scale", "offset"):
        assert np.array_equal(getattr(back, name), getattr(program, name))
    with np.load(path) as data:                                  # an .npz as far as numpy is concerned
        assert data["weights"].dtype == np.int16 and data["weights"].shape == (64, 64)
    header = json.loads(zipfile.ZipFile(path).read("header.json"))
    assert header["schema"] == SCHEMA and header["spec"]["hash"] == spec_hash(TILE64)
    assert [s["descriptors"] for s in header["segments"]] == [[[0, 32]], [[32, 10]]]
    assert header["segments"][0]["host_after"] == ["relu", "clamp"] and header["host_final"] == ["argmax"]


def _rewrite(src, dst, header_change=None, drop=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name == drop:
                continue
            data = zin.read(name)
            if name == "header.json" and header_change:
                h = json.loads(data)
                header_change(h)
                data = json.dumps(h)
            zout.writestr(name, data)
    return dst


def test_bad_files_refused(program, tmp_path):
    good = write_program(tmp_path / "good.aimc", program)
    bad = _rewrite(good, tmp_path / "schema.aimc", lambda h: h.update(schema="aimcgen-chip-program/99"))
    with pytest.raises(ProgramError, match=r"schema.aimc: schema 'aimcgen-chip-program/99', expected"):
        read_program(bad, TILE64)
    other = TILE64.replace(adc={"bits": 7})
    with pytest.raises(ProgramError) as exc:
        read_program(good, other)
    msg = str(exc.value)
    assert "good.aimc" in msg and f"0x{spec_hash(TILE64):08x}" in msg and f"0x{spec_hash(other):08x}" in msg
    with pytest.raises(ProgramError, match="no scale.npy"):
        read_program(_rewrite(good, tmp_path / "short.aimc", drop="scale.npy"), TILE64)
    (tmp_path / "junk.aimc").write_text("not a zip")
    with pytest.raises(ProgramError, match="junk.aimc: not a chip program"):
        read_program(tmp_path / "junk.aimc", TILE64)
    bigger = TILE64.replace(array={"col_tiles": 2})
    with pytest.raises(ProgramError, match="hash"):
        read_program(good, bigger)


@pytest.mark.parametrize("activation", ["none", "relu"])
def test_golden_run_equals_hand_composition(digits, activation):
    """With emulated noise on: one chip, layers via run_layers == GoldenAccelerator.run per layer plus the
    host relu and the sequencer's clamp, in the same MVM order (so the noise draws line up)."""
    net, x, _, calib = digits
    spec = TILE64.replace(postproc={"activation": activation})
    program = compile_network(net, spec, calib)
    x = x[:40]
    got = run_golden(program, spec, x)
    accel = chip(program, spec)
    m = spec.input.max_magnitude
    xq = quantize_input(program, x)
    v = np.zeros((len(x), 64), dtype=np.int64)
    v[:, :64] = xq
    if activation == "none":                 # host relu: two one-layer segments, each over the whole batch
        h = np.clip(np.maximum(accel.run(v).outputs[:, 0:32], 0), -m, m)
        v = np.zeros_like(v)
        v[:, :32] = h
        want = accel.run(v).outputs[:, 32:42]
        assert len(program.segments) == 2
    else:                                    # relu on the chip: one sequencer chain per input vector
        want = []
        for row in v:
            h = np.clip(accel.run(row[None]).outputs[0, 0:32], -m, m)
            want.append(accel.run(np.pad(h, (0, 32))[None]).outputs[0, 32:42])
        want = np.array(want)
        assert [s.descriptors for s in program.segments] == [[(0, 32), (32, 10)]]
    assert np.array_equal(got.codes, want)
    assert np.array_equal(got.predictions, np.argmax(want, axis=1))


def test_noise_free_golden_matches_float(digits):
    net, x, y, calib = digits
    spec = TILE64.replace(noise={"sigma_lsb": 0.0})
    program = compile_network(net, spec, calib)
    pred = run_golden(program, spec, x).predictions
    assert np.mean(pred == net.predict(x)) >= 0.97
    assert np.mean(pred == y) >= net.meta["float_test_accuracy"] - 0.02


def test_physics_ideal_device_equals_golden_noise_free(digits):
    net, x, _, calib = digits
    spec = with_device(TILE64, "ideal")
    program = compile_network(net, spec, calib)
    physics = run_physics(program, spec, x[:100], compensation=False, t_s=86400.0)
    assert np.array_equal(physics.codes, run_golden(program, spec, x[:100], noise=False).codes)


def test_cycles(program):
    c = cycles_per_inference(program, TILE64)
    assert c["per_mvm"] == serial_schedule_commands(TILE64)
    assert c["cycles"] == 2 * (serial_schedule_commands(TILE64) + POSTPROC_LATENCY_CYCLES)


def test_conv_layer_runs_position_by_position():
    """A conv layer gets its own columns and a host-driven segment; its run equals im2col + one MVM per
    patch + flatten, and its cycles count every position."""
    rng = np.random.default_rng(3)
    conv = ConvLayer(rng.normal(size=(4, 1, 3, 3)), rng.normal(size=4) * 0.1, (1, 6, 6), "relu", (1, 1, 1, 1))
    net = Network([conv, DenseLayer(rng.normal(size=(conv.out_features, 10)) * 0.1, None)])
    spec = TILE64.replace(noise={"sigma_lsb": 0.0}, postproc={"activation": "relu"},
                          array={"row_tiles": 3})
    x = rng.normal(size=(8, 36))
    program = compile_network(net, spec, rng.normal(size=(64, 36)))
    assert [(s.driver, s.descriptors) for s in program.segments] == [
        ("host_per_position", [(0, 4)]), ("sequencer", [(4, 10)])]
    assert program.segments[0].host_before == ["im2col"] and program.segments[0].host_after == ["clamp", "flatten"]
    accel = chip(program, spec)
    patches = conv.patches(quantize_input(program, x))
    v = np.zeros((len(patches), spec.logical_rows), dtype=np.int64)
    v[:, :9] = patches
    h = conv.assemble(np.clip(accel.run(v).outputs[:, 0:4], -127, 127))
    v = np.zeros((len(x), spec.logical_rows), dtype=np.int64)
    v[:, :h.shape[1]] = h
    assert np.array_equal(run_golden(program, spec, x, noise=False).codes, accel.run(v).outputs[:, 4:14])
    c = cycles_per_inference(program, spec)
    assert c["per_layer"][0] == conv.positions * serial_schedule_commands(spec) + POSTPROC_LATENCY_CYCLES
