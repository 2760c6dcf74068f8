# amaranth: UnusedElaboratable=no
"""Device read noise in the digital twin (contract.device_read_noise): the docstring is enough to reimplement
it, the RTL replays the golden model bit for bit, and the emulated spread matches the physics model's
per-read spread, growing with conductance for PCM and not for RRAM."""

import dataclasses
import math
import re

import numpy as np
import pytest
from amaranth.sim import Simulator

from aimcgen.contract import device_read_noise as drn
from aimcgen.contract.encoding import drive_steps
from aimcgen.contract.formats import datapath_formats
from aimcgen.presets import load_preset
from aimcgen.rtl.boundary import AnalogOp
from aimcgen.rtl.emulated_tile import EmulatedCrossbar
from aimcgen.rtl.noise import NoiseGenerator, noise_positions, value_pipeline
from aimcgen.sim.models import physics
from aimcgen.sim.eval.twin_read_noise import read_noise_spreads
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.spec import SpecError, device_preset, from_dict

from test_rtl_emulated_tile import Periphery

DOC = drn.__doc__


def _number(pattern):
    return float(re.search(pattern, DOC).group(1))


# --- the docstring, reimplemented from its text alone

def doc_table(spec):
    window = _number(r"READ_WINDOW_S = ([0-9.e-]+)")
    frac = int(_number(r"VT\[k\] = round\(v\[k\] \* 2\^(\d+)\)"))
    rule = re.search(r"weights p\):\n\n(.*?)\n\n", DOC, re.S).group(1)
    nodes = [(float(z), float(p)) for z, p in re.findall(r"\(([-0-9.]+), ([0-9.]+)\)", rule)]
    assert len(nodes) == 5 and sum(p for _, p in nodes) == pytest.approx(1.0)
    dev, levels = spec.device, spec.tile.conductance_levels
    c, e, q_max = dev.read_noise_q
    total = max(math.log((0 + dev.drift_t0_s + dev.t_read_s) / (2.0 * dev.t_read_s)), 0.0)
    band = min(max(math.log(window / (2.0 * dev.t_read_s)), 0.0), total)

    def sigma(a):                   # contract.device_twin's sigma table (tested in test_device_twin_contract)
        g, p = a / levels, 0.0
        for coeff in reversed(dev.prog_noise_us):
            p = p * g + coeff
        return min(max(p, 0.0) * levels / dev.g_max_us, float(levels))

    def flicker(a):
        total = 0.0
        for z, p in nodes:
            d = max(a + sigma(a) * z, 0.0)
            q = min(c / max((d / levels) ** e, 1e-3), q_max) if c != 0 else 0.0
            total = total + p * (d * q) ** 2
        return total

    return [round(((flicker(k) + flicker(0)) * band + (dev.read_noise_rel * levels) ** 2) * 2 ** frac)
            for k in range(levels + 1)]


def doc_gain(v):
    p = int(_number(r"with P = (\d+) precision bits"))
    s = max(v.bit_length() - p, 0)
    top = v >> s
    rep = top if s == 0 else (2 * top + 1) * 2 ** (s - 1)
    return round(math.sqrt(rep / 2 ** 12) / math.sqrt(21845) * 2 ** 16)


def doc_variances(spec, drive, weights):
    """V_j by the command rule: INTEGRATE number c adds (2c + 1) VT[min(|w|, L)] per enabled row."""
    vt, levels = doc_table(spec), spec.tile.conductance_levels
    steps, batch, rows = drive.shape
    out = np.zeros((steps, batch, weights.shape[1]), dtype=np.int64)
    for k, b in np.ndindex(steps, batch):
        d = np.abs(drive[k, b])
        for c in range(int(d.max(initial=0))):          # the commands of one step
            for i in np.flatnonzero(d > c):
                for j in range(weights.shape[1]):
                    out[k, b, j] += (2 * c + 1) * vt[min(abs(int(weights[i, j])), levels)]
    return out


def _spec(model="pcm", **sections):
    base = {"tile": {"rows": 8, "cols": 8, "weight_bits": 4}, "input": {"bits": 4, "encoding": "bit_serial"},
            "adc": {"kind": "sar", "bits": 6, "count": 2, "full_scale": 32}, "device": {"model": model},
            "twin": {"read_noise": "on"}, "noise": {"seed": 3}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return from_dict(base)


def _with_device(spec, model):
    return dataclasses.replace(spec, device=device_preset(model),
                               twin=dataclasses.replace(spec.twin, read_noise="on"))


@pytest.mark.parametrize("preset", ["default", "tile64", "hermes256"])
@pytest.mark.parametrize("model", ["pcm", "rram"])
def test_tables_follow_the_docstring(preset, model):
    spec = _with_device(load_preset(preset), model)
    assert drn.variance_table(spec) == doc_table(spec)
    table = drn.gain_table(spec)
    top = spec.tile.rows * drn.drive_max(spec) ** 2 * max(doc_table(spec))
    assert drn.variance_bits(spec) == top.bit_length()
    rng = np.random.default_rng(0)
    values = np.concatenate([np.arange(300), rng.integers(0, top + 1, 2000), [top]])
    got = np.asarray(table)[drn.class_index(values)]
    assert got.tolist() == [doc_gain(int(v)) for v in values]
    # Every reachable gain fits the datapath's noise format; the largest is reached at the top.
    assert drn.gain_max(spec) == doc_gain(int(top)) == max(got)
    noise_max = (510 * drn.gain_max(spec) + 2 ** 15) >> 16
    assert datapath_formats(spec).noise.max >= noise_max


def test_docstring_example_and_constants():
    spec = _spec(tile={"rows": 16, "cols": 16})
    assert drn.READ_WINDOW_S == physics.FLICKER_WINDOW_S
    example = [int(v) for v in re.search(r"has VT = \[([0-9, ]+)\]", DOC).group(1).split(",")]
    assert drn.variance_table(spec) == example == doc_table(spec)
    v = 16 * example[-1]
    assert f"V = {v}" in DOC and f"G = {doc_gain(v)}" in DOC
    assert drn.gain_table(spec)[int(drn.class_index(np.array([v]))[0])] == doc_gain(v)
    # The per-read 1/f band is ln(2000) for the PCM preset, at any time since programming.
    assert drn.per_read_band(spec) == pytest.approx(math.log(2000))


@pytest.mark.parametrize("encoding", ["bit_serial", "pwm"])
def test_column_variance_is_the_command_rule(encoding):
    spec = _spec(input={"encoding": encoding})
    rng = np.random.default_rng(4)
    w = rng.integers(-8, 8, (8, 8))              # -8 = -2^(b-1): capped at L
    x = rng.integers(-7, 8, (3, 8))
    drive = drive_steps(x, spec.input)
    np.testing.assert_array_equal(drn.column_variances(spec, drive, w), doc_variances(spec, drive, w))


# --- RTL == golden model

def _mvm_codes(spec, init, xs, *, writes=()):
    dut = EmulatedCrossbar(spec, init_weights=init)
    periphery = Periphery(dut, spec)
    codes = []

    async def bench(ctx):
        for i, j, w in writes:
            await periphery.command(ctx, AnalogOp.PROG_WRITE, row=i, col=j, target=w)
        for x in xs:
            codes.append(await periphery.mvm_codes(ctx, x))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.stack(codes, axis=1)


# A device louder than the presets, so that the noise moves many ADC codes of this small tile.
LOUD = {"read_noise_q": [0.15, 0.65, 0.5]}


@pytest.mark.parametrize("encoding, kind, integrate", [
    ("bit_serial", "sar", "serial"), ("pwm", "flash", "serial"), ("bit_serial", "ramp", "serial"),
    # The parallel layouts sum the variance in adder trees: PWM's commands back to back ("parallel"), and
    # swept one column position per cycle ("parallel_adc").
    ("pwm", "flash", "parallel"), ("bit_serial", "sar", "parallel"), ("pwm", "sar", "parallel_adc"),
    ("bit_serial", "ramp", "parallel_adc")])
def test_rtl_replays_the_golden_read_noise(encoding, kind, integrate):
    spec = _spec(input={"encoding": encoding}, adc={"kind": kind}, device=LOUD, twin={"integrate": integrate})
    rng = np.random.default_rng(7)
    init = rng.integers(-7, 8, (8, 8))
    xs = rng.integers(-7, 8, (3, 8))
    expected = GoldenTile(spec, init).run(xs).codes
    np.testing.assert_array_equal(_mvm_codes(spec, init, xs), expected)
    # The noise is there and depends on the devices: a silent device and the fixed-sigma tile differ.
    quiet = GoldenTile(spec.replace(device={"read_noise_q": [0.0, 0.65, 0.5]}), init).run(xs).codes
    fixed = GoldenTile(spec.replace(twin={"read_noise": "off"}), init).run(xs).codes
    assert (expected != quiet).any() and (expected != fixed).any()


def test_rtl_replays_read_noise_with_one_column_per_adc():
    """The value pipeline with one position per ADC: the generator's gain is its one column's register."""
    spec = _spec(adc={"count": 8, "kind": "ramp", "bits": 5}, device=LOUD, twin={"integrate": "parallel"})
    assert (spec.columns_per_adc, noise_positions(spec), value_pipeline(spec)) == (1, 1, 2)
    rng = np.random.default_rng(7)
    init = rng.integers(-7, 8, (8, 8))
    xs = rng.integers(-7, 8, (3, 8))
    np.testing.assert_array_equal(_mvm_codes(spec, init, xs), GoldenTile(spec, init).run(xs).codes)


@pytest.mark.parametrize("integrate", ["serial", "parallel", "parallel_adc"])
def test_rtl_replays_read_noise_with_the_whole_twin(integrate):
    """Writes and drift refreshes change the devices the variance reads (the parallel layouts store each
    device's table index when its weight is written)."""
    spec = _spec(device=dict(LOUD, stuck_set_fraction=0.05, stuck_reset_fraction=0.05),
                 twin={"programming_error": "on", "stuck": "on", "drift": "on", "integrate": integrate})
    rng = np.random.default_rng(8)
    init = rng.integers(-7, 8, (8, 8))
    xs = rng.integers(-7, 8, (2, 8))
    writes = [(i, j, int(rng.integers(-7, 8))) for i in range(8) for j in (0, 5)]
    golden = GoldenTile(spec, init)
    for i, j, w in writes:
        golden.program(i, j, w)
    np.testing.assert_array_equal(_mvm_codes(spec, init, xs, writes=writes), golden.run(xs).codes)


def test_off_by_default_and_checked():
    spec = load_preset("default")
    assert spec.twin.read_noise == "off" and drn.gain_max(spec) == 0
    assert not hasattr(NoiseGenerator(spec), "gain")
    assert hasattr(NoiseGenerator(_spec()), "gain")
    with pytest.raises(SpecError, match="read_noise"):
        _spec(twin={"read_noise": "yes"})


# --- statistics against the physics model

# Tolerances: 4 % on the spread of uniform and full-scale weights (sampling error of 4 chips x 64 inputs is
# about 1 %, the class rounding below 1 % on average); 8 % on weights at 0 and 1 only, whose noise comes
# mostly from devices that programming left just above 0 (the 5-point rule's weakest case: measured 2-5 %).
@pytest.mark.parametrize("preset", ["default", "tile64"])
@pytest.mark.parametrize("model", ["pcm", "rram"])
def test_emulated_spread_matches_the_physics_per_read_spread(preset, model):
    spec = _with_device(load_preset(preset), model)
    levels = spec.tile.conductance_levels
    results = {}
    for name, mags, tolerance in (("low", [0, 1], 0.08), ("uniform", list(range(levels + 1)), 0.04),
                                  ("high", [levels], 0.04)):
        phys, emul = read_noise_spreads(spec, mags, seed=11)
        assert emul == pytest.approx(phys, rel=tolerance), (name, phys, emul)
        results[name] = emul
    if model == "pcm":       # 1/f noise grows with conductance
        assert results["high"] > 2.5 * results["low"]
    else:                    # white noise from g_max: the same whatever the conductance
        assert results["high"] == pytest.approx(results["low"], rel=0.03)
