# amaranth: UnusedElaboratable=no
"""contract/device_twin.py's docstring is enough to reimplement the twin: every rule is written here again from
the text alone (no import of the code under test in the reimplementation) and compared with the contract,
the golden model and the RTL generator; plus the statistics the rules are meant to have."""

import math
import re

import numpy as np
import pytest
from amaranth.sim import Simulator

from aimcgen.contract import device_twin
from aimcgen.contract import device_twin_drift as drift
from aimcgen.contract import device_twin_flicker as flicker
from aimcgen.contract import device_twin_relaxation as relaxation
from aimcgen.contract.formats import SignedFormat, datapath_formats
from aimcgen.contract.noise import state_sequence
from aimcgen.rtl.programming_noise import ProgrammingNoiseGenerator
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.spec import from_dict

MASK32 = 0xFFFFFFFF


def doc_fmix(x):
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & MASK32
    return x ^ (x >> 16)


def doc_seed(seed, tile):
    x = doc_fmix((seed * 0x9E3779B9 + (tile * 4096 + 4096) * 0x85EBCA6B) & MASK32)
    return x if x != 0 else 1


def doc_leap(s):
    for _ in range(32):
        out = s & 1
        s >>= 1
        if out:
            s ^= 0x80200003
    return s


def doc_multipliers(coeffs, g_max, levels, on=True):
    table = []
    for k in range(levels + 1):
        g = k / levels
        p = 0.0
        for c in reversed(coeffs):
            p = p * g + c
        s = min(max(p, 0.0) * levels / g_max, levels)
        table.append(round(s / math.sqrt(21845) * 2 ** 16) if on else 0)
    return table


def doc_landed(s, k, mult, levels):
    c = (s & 0xFF) + ((s >> 8) & 0xFF) + ((s >> 16) & 0xFF) + ((s >> 24) & 0xFF) - 510
    e = (c * mult[k] + (1 << 15)) >> 16
    return min(max(k + e, 0), levels)


def doc_stuck(seed, tile, row, col, pol, f_set, f_reset, levels):
    key = ((tile * 1024 + row) * 1024 + col) * 2 + pol
    u = doc_fmix((seed * 0x9E3779B9 + key * 0x85EBCA6B + 0x632BE5AB) & MASK32)
    t_set, t_reset = int(f_set * 2 ** 32), int(f_reset * 2 ** 32)
    if u < t_set:
        return levels
    if u < t_set + t_reset:
        return 0
    return None


class DocTwin:
    """One tile's writes and program-and-verify, from the docstring."""

    def __init__(self, seed, tile, mult, levels, f_set, f_reset):
        self.s, self.mult, self.levels = doc_seed(seed, tile), mult, levels
        self.stuck = lambda r, c, p: doc_stuck(seed, tile, r, c, p, f_set, f_reset, levels)

    def write(self, row, col, w):
        w = max(w, -self.levels)
        kp, km = max(w, 0), max(-w, 0)
        dp = doc_landed(self.s, kp, self.mult, self.levels)
        self.s = doc_leap(self.s)
        dm = doc_landed(self.s, km, self.mult, self.levels)
        self.s = doc_leap(self.s)
        sp, sm = self.stuck(row, col, 0), self.stuck(row, col, 1)
        return (dp if sp is None else sp) - (dm if sm is None else sm)

    def verify(self, row, col, w, tolerance, retries, bits):
        for a in range(1, retries + 2):
            r = self.write(row, col, w)
            if abs(r - w) <= min(tolerance, 2 ** bits - 1):
                return True, a, r
        return False, retries + 1, r


def _spec(**device):
    return from_dict({"tile": {"rows": 8, "cols": 8, "weight_bits": 4}, "adc": {"count": 2},
                      "device": {"prog_noise_us": [0.8, 4.0, -2.0], "stuck_set_fraction": 0.1,
                                 "stuck_reset_fraction": 0.05, **device},
                      "twin": {"programming_error": "on", "stuck": "on"}, "noise": {"seed": 77}})


def test_docstring_states_the_formulas_used_here():
    doc = " ".join(device_twin.__doc__.split())
    for text in ("p = 0.0; for c in reversed(prog_noise_us): p = p * g + c",
                 "s = max(p, 0.0) * L / g_max_us", "s = min(s, L)", "M[k] = round(s / sqrt(21845) * 2^16)",
                 "S_0 = initial_state(noise.seed, tile, 4095)",
                 "x = (seed * 0x9E3779B9 + (tile * 4096 + 4096) * 0x85EBCA6B) mod 2^32",
                 "e = (c * M[k] + 2^15) >> 16", "d = min(max(k + e, 0), L + H)",
                 "draw n for G+ (k = kp), draw n+1 for G- (k = km)",
                 "key = ((tile * 1024 + row) * 1024 + col) * 2 + polarity",
                 "x = (seed * 0x9E3779B9 + key * 0x85EBCA6B + 0x632BE5AB) mod 2^32",
                 "T_set = int(stuck_set_fraction * 2^32)", "stuck at set (d = L) if u < T_set",
                 "stuck at reset (d = 0) if T_set <= u < T_set + T_reset",
                 "|r - target| <= min(t, 2^b - 1)", "if a = R + 1 it fails"):
        assert text in doc, text


def test_docstring_example_multipliers():
    doc = " ".join(device_twin.__doc__.split())
    example = re.search(r"\(L = 7\) gives M = \[([0-9, ]+)\]", doc)
    assert example, "the worked example is missing from contract/device_twin.py's docstring"
    pcm = from_dict({"twin": {"programming_error": "on"}})
    want = [int(v) for v in example[1].split(",")]
    assert doc_multipliers(pcm.device.prog_noise_us, pcm.device.g_max_us, 7) == want
    assert device_twin.sigma_multipliers(pcm) == want
    assert device_twin.sigma_multipliers(from_dict({})) == [0] * 8          # off by default


@pytest.mark.parametrize("tile", [0, 1, 5])
def test_writes_and_program_verify_match_the_docstring(tile):
    spec = _spec().replace(array={"row_tiles": 2, "col_tiles": 3})
    levels = spec.tile.conductance_levels
    mult = doc_multipliers(spec.device.prog_noise_us, spec.device.g_max_us, levels)
    assert device_twin.sigma_multipliers(spec) == mult
    assert device_twin.programming_seed(spec, tile) == doc_seed(77, tile)
    doc = DocTwin(77, tile, mult, levels, 0.1, 0.05)
    golden = GoldenTile(spec, np.zeros((8, 8), dtype=np.int64), tile)
    stuck = device_twin.stuck_map(spec, tile)
    for (i, j, p), code in np.ndenumerate(stuck):
        want = doc.stuck(i, j, p)
        assert code == (-1 if want is None else want)
    rng = np.random.default_rng(tile)
    for _ in range(60):
        i, j, w = int(rng.integers(8)), int(rng.integers(8)), int(rng.integers(-7, 8))
        tolerance, retries = int(rng.integers(0, 2)), int(rng.integers(0, 4))
        r = golden.program_verify(i, j, w, tolerance, retries)
        assert (r.ok, r.attempts, r.read_back) == doc.verify(i, j, w, tolerance, retries, 4)


def test_rtl_generator_lands_where_the_docstring_says():
    spec = _spec()
    levels = spec.tile.conductance_levels
    mult = doc_multipliers(spec.device.prog_noise_us, spec.device.g_max_us, levels)
    dut = ProgrammingNoiseGenerator(spec, 0, leap_cycles=4)
    aims = [k % (levels + 1) for k in range(40)]
    got = []

    async def bench(ctx):
        for k in aims:
            while not ctx.get(dut.ready):
                await ctx.tick()
            ctx.set(dut.code, k)
            got.append(ctx.get(dut.landed))
            ctx.set(dut.draw, 1)
            await ctx.tick()
            ctx.set(dut.draw, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    s, want = doc_seed(77, 0), []
    for k in aims:
        want.append(doc_landed(s, k, mult, levels))
        s = doc_leap(s)
    assert got == want and got != aims


def test_stuck_rates_have_the_spec_fractions():
    spec = _spec(stuck_set_fraction=0.02, stuck_reset_fraction=0.03).replace(tile={"rows": 64, "cols": 64})
    stuck = device_twin.stuck_map(spec, 0)
    assert (stuck == 7).mean() == pytest.approx(0.02, abs=0.006)
    assert (stuck == 0).mean() == pytest.approx(0.03, abs=0.007)
    assert not (device_twin.stuck_map(spec.replace(twin={"stuck": "off"}), 0) >= 0).any()


def test_landed_codes_spread_as_the_sigma_table_says():
    # 8-bit weights (L = 127) and a flat 3 uS sigma at g_max 25 uS: 3 * 127 / 25 = 15.24 LSB at every code.
    spec = _spec(prog_noise_us=[3.0]).replace(tile={"weight_bits": 8})
    assert device_twin.sigma_lsb_table(spec)[64] == pytest.approx(15.24)
    mult = device_twin.sigma_multipliers(spec)
    states = state_sequence(np.array([device_twin.programming_seed(spec, 0)], dtype=np.uint32), 20000)[0]
    landed = np.array([device_twin.landed_code(s, 64, mult, 127) for s in states])
    assert landed.std() == pytest.approx(15.24, rel=0.03) and abs(landed.mean() - 64) < 0.3


# --- drift, as contract/device_twin_drift.py's docstring states it -------------------------------------

DOC_EPOCHS = (0, 1, 10, 60, 600, 3600, 21600, 86400, 259200, 604800, 2592000, 8640000,
              31536000, 94608000, 315360000, 946080000)


def doc_factors(t0):
    return [[round(((t + t0) / t0) ** (-(c * 0.00390625)) * 4096) for t in DOC_EPOCHS] for c in range(64)]


def doc_thresholds(mu_p, sigma_p, levels):
    def phi(z):
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))
    table = []
    for k in range(levels + 1):
        g = max(k / levels, 1e-7)
        mu = min(max(mu_p[0] * math.log(g) + mu_p[1], mu_p[2]), mu_p[3])
        sigma = min(max(sigma_p[0] * math.log(g) + sigma_p[1], sigma_p[2]), sigma_p[3])
        row = []
        for j in range(1, 64):
            x = (j - 0.5) * 0.00390625
            p = phi((x - mu) / sigma) - phi((-x - mu) / sigma) if sigma > 0 else (1.0 if mu < x else 0.0)
            row.append(round(p * 65536))
        table.append(row)
    return table


def test_drift_docstring_and_tables():
    doc = " ".join(drift.__doc__.split())
    for text in ("f_e = (d * F[c][e] + 2^7) >> 8", "fine = fp_e - fm_e", "charge = (fine_sum + 8) >> 4",
                 "w = sign(fine) * min((|fine| + 8) >> 4, L)",
                 "H = ceil(L / HEADROOM_DIVISOR) = (L + 3) // 4 with twin.drift \"on\" (HEADROOM_DIVISOR = 4)",
                 "H = 0 with twin.drift \"off\"",
                 "F[c][e] = round(((EPOCH_SECONDS[e] + t0) / t0) ** (-(c * 0.00390625)) * 4096)",
                 "T[k][j] = round(P_j * 65536)", "c = the number of j in 1..63 with u >= T[k][j]",
                 "G+'s drift u = S_(4w+2) & 0xFFFF (k = kp) and G-'s drift u = S_(4w+3) & 0xFFFF (k = km)",
                 "takes the code of u = 32768"):
        assert text in doc, text
    assert drift.EPOCH_SECONDS == DOC_EPOCHS
    spec = _spec().replace(twin={"drift": "on"})
    dev = spec.device
    assert drift.factor_table(spec) == doc_factors(dev.drift_t0_s)
    assert drift.threshold_table(spec) == doc_thresholds(dev.drift_mu, dev.drift_sigma, 7)


def test_drifting_writes_match_the_docstring():
    # The PCM preset has 1/f noise: every refresh also moves the devices by their shared 1/f part
    # (contract/device_twin_flicker.py's docstring, reimplemented here too).
    spec = _spec().replace(twin={"drift": "on"})
    dev, levels = spec.device, 7
    top = levels + (levels + 3) // 4                      # L + H: the headroom with drift
    mult = doc_multipliers(dev.prog_noise_us, dev.g_max_us, levels)
    factors, thresholds = doc_factors(dev.drift_t0_s), doc_thresholds(dev.drift_mu, dev.drift_sigma, levels)
    flicker = doc_flicker_table(dev.read_noise_q, dev.drift_t0_s, dev.t_read_s, levels)
    init = np.random.default_rng(3).integers(-7, 8, (8, 8))
    golden = GoldenTile(spec, init, 0)
    s, fs = doc_seed(77, 0), doc_flicker_seed(77, 0)
    stuck = lambda r, c, p: doc_stuck(77, 0, r, c, p, 0.1, 0.05, levels)      # noqa: E731
    devices, directions = {}, {}
    for (i, j), w in np.ndenumerate(init):                # preload: targets, median drift codes, no 1/f draw
        for p, k in enumerate((max(w, 0), max(-w, 0))):
            st = stuck(i, j, p)
            devices[i, j, p] = (k, sum(32768 >= t for t in thresholds[k])) if st is None else (st, 0)
            directions[i, j, p] = 0

    def fine_of(i, j, epoch):
        return sum((1 - 2 * p) * doc_flickered((devices[i, j, p][0] * factors[devices[i, j, p][1]][epoch] + 128)
                                               >> 8, devices[i, j, p][0], directions[i, j, p], flicker, epoch,
                                               levels, top) for p in range(2))

    rng = np.random.default_rng(8)
    applied = 0
    for epoch in (0, 5, 12, 0, 7):
        golden.set_drift_epoch(epoch)
        if epoch != applied:                                # a refresh: one draw per cell in walk order
            applied = epoch
            for i in range(8):
                for j in range(8):
                    directions[i, j, 0], directions[i, j, 1] = doc_flicker_directions(fs)
                    fs = doc_leap(fs)
        for _ in range(20):
            i, j, w = int(rng.integers(8)), int(rng.integers(8)), int(rng.integers(-7, 8))
            kp, km = max(w, 0), max(-w, 0)
            states = [s]
            for _ in range(4):
                states.append(doc_leap(states[-1]))
            s = states[4]
            for p, k in enumerate((kp, km)):
                st = stuck(i, j, p)
                code = sum((states[2 + p] & 0xFFFF) >= t for t in thresholds[k])
                devices[i, j, p] = ((doc_landed(states[p], k, mult, top), code) if st is None else (st, 0))
                directions[i, j, p] = 0                     # written since the refresh: no shared part yet
            assert golden.program(i, j, w) == doc_whole(fine_of(i, j, epoch), levels)
        fine = np.array([[fine_of(i, j, epoch) for j in range(8)] for i in range(8)])
        np.testing.assert_array_equal(golden.weights, np.vectorize(doc_whole)(fine, levels))
        np.testing.assert_array_equal(golden.twin.fine, fine)
        drive = np.random.default_rng(epoch).integers(-7, 8, (3, 8))
        np.testing.assert_array_equal(golden.twin.charges(drive), (drive @ fine + 8) >> 4)
    # A day on, some weights sit between codes: the fine weights are not all multiples of 16; the last
    # refresh moved some devices by their shared 1/f part.
    assert (golden.twin.fine % 16 != 0).any()
    assert any(directions.values()) and any(flicker[d][7] for d in range(levels + 1))


# --- the shared 1/f part, as contract/device_twin_flicker.py's docstring states it ----------------------

def doc_flicker_seed(seed, tile):
    x = doc_fmix((seed * 0x9E3779B9 + (tile * 4096 + 4095) * 0x85EBCA6B) & MASK32)
    return x if x != 0 else 1


def doc_flicker_directions(s):
    return (s & 0xFF) + ((s >> 8) & 0xFF) - 255, ((s >> 16) & 0xFF) + ((s >> 24) & 0xFF) - 255


def doc_flicker_table(read_noise_q, t0, tr, levels):
    c, x, q_max = read_noise_q
    table = []
    for d in range(levels + 1):
        row = []
        for e, t in enumerate(DOC_EPOCHS):
            total = max(math.log((t + t0 + tr) / (2.0 * tr)), 0.0)
            r = min(max(math.log(1e-3 / (2.0 * tr)), 0.0), total)
            s = total - r if e > 0 else 0.0
            q = min(c / max((d / levels) ** x, 1e-3), q_max) if c != 0 else 0.0
            row.append(round(math.sqrt(s) * q / math.sqrt(10922.5) * 2 ** 20))
        table.append(row)
    return table


def doc_flickered(v, d, z, table, epoch, levels, top):
    return min(max(v + ((v * z * table[min(d, levels)][epoch] + 2 ** 19) >> 20), 0), 16 * top)


def doc_whole(fine, levels):
    """w = sign(fine) * min((|fine| + 8) >> 4, L)."""
    return (1 if fine > 0 else -1 if fine < 0 else 0) * min((abs(fine) + 8) >> 4, levels)


def test_without_drift_the_fine_weights_are_the_weights():
    spec = _spec()
    init = np.random.default_rng(4).integers(-7, 8, (8, 8))
    golden = GoldenTile(spec, init, 0)
    assert golden.twin.fraction_bits == 0
    np.testing.assert_array_equal(golden.twin.fine, golden.weights)
    drive = np.random.default_rng(1).integers(-7, 8, (3, 8))
    np.testing.assert_array_equal(golden.twin.charges(drive), drive @ golden.weights)


# --- relaxation, as contract/device_twin_relaxation.py's docstring states it ---------------------------

def doc_spreads(relax_us, g_max_us, t0, horizon, levels):
    table = []
    for d in range(levels + 1):
        g = d / levels
        p = 0.0
        for c in reversed(relax_us):
            p = p * g + c
        row = []
        for t in DOC_EPOCHS:
            growth = min(max(math.log1p(t / t0) / math.log1p(horizon / t0), 0.0), 1.0)
            row.append(round(max(p, 0.0) * levels / g_max_us * 16 * growth / math.sqrt(10922.5) * 65536))
        table.append(row)
    return table


def test_relaxation_docstring_and_table():
    doc = " ".join(relaxation.__doc__.split())
    for text in ("z = ((S >> 16) & 0xFF) + ((S >> 24) & 0xFF) - 255",
                 "growth = min(max(math.log1p(t / t0) / math.log1p(T / t0), 0.0), 1.0)",
                 "R[d][e] = round(max(p, 0.0) * L / g_max_us * 16 * growth / math.sqrt(10922.5) * 65536)",
                 "r_e = min(max(f_e + ((z * R[min(d, L)][e] + 2^15) >> 16), 0), 16 (L + H))",
                 "fine weight is rp_e - rm_e"):
        assert text in doc, text
    spec = _spec(model="rram", stuck_set_fraction=0.1, stuck_reset_fraction=0.05).replace(twin={"drift": "on"})
    dev = spec.device
    assert relaxation.spread_table(spec) == doc_spreads(dev.relax_us, dev.g_max_us, dev.drift_t0_s,
                                                         dev.relax_time_s, 7)
    assert relaxation.relaxation_on(spec) and not relaxation.relaxation_on(_spec().replace(twin={"drift": "on"}))


def test_relaxing_writes_match_the_docstring():
    spec = _spec(model="rram", prog_noise_us=[0.8, 4.0, -2.0]).replace(twin={"drift": "on"})
    dev, levels = spec.device, 7
    top = levels + (levels + 3) // 4                      # L + H: the headroom with drift
    mult = doc_multipliers(dev.prog_noise_us, dev.g_max_us, levels)
    factors, thresholds = doc_factors(dev.drift_t0_s), doc_thresholds(dev.drift_mu, dev.drift_sigma, levels)
    spreads = doc_spreads(dev.relax_us, dev.g_max_us, dev.drift_t0_s, dev.relax_time_s, levels)
    golden = GoldenTile(spec, np.zeros((8, 8), dtype=np.int64), 0)
    s = doc_seed(77, 0)
    devices = {}                # (row, col, polarity) -> (code, drift code, z)
    rng = np.random.default_rng(9)
    for _ in range(40):
        i, j, w = int(rng.integers(8)), int(rng.integers(8)), int(rng.integers(-7, 8))
        states = [s]
        for _ in range(4):
            states.append(doc_leap(states[-1]))
        s = states[4]
        for p, k in enumerate((max(w, 0), max(-w, 0))):
            st = doc_stuck(77, 0, i, j, p, 0.1, 0.05, levels)
            u, z = states[2 + p] & 0xFFFF, ((states[2 + p] >> 16) & 0xFF) + ((states[2 + p] >> 24) & 0xFF) - 255
            devices[i, j, p] = ((doc_landed(states[p], k, mult, top), sum(u >= t for t in thresholds[k]), z)
                                if st is None else (st, 0, 0))
        golden.program(i, j, w)

    def read(i, j, p, epoch):
        if (i, j, p) not in devices:
            st = doc_stuck(77, 0, i, j, p, 0.1, 0.05, levels)
            return 0 if st is None else st * 16
        d, c, z = devices[i, j, p]
        f = (d * factors[c][epoch] + 128) >> 8
        return min(max(f + ((z * spreads[min(d, levels)][epoch] + 2 ** 15) >> 16), 0), 16 * top)

    above = 0
    for epoch in (0, 5, 7, 12):
        golden.set_drift_epoch(epoch)
        fine = np.array([[read(i, j, 0, epoch) - read(i, j, 1, epoch) for j in range(8)] for i in range(8)])
        np.testing.assert_array_equal(golden.twin.fine, fine)
        np.testing.assert_array_equal(golden.weights, np.vectorize(doc_whole)(fine, levels))
        above += int((np.abs(fine) > 16 * levels + 8).sum())
        assert np.abs(golden.weights).max() <= levels
    assert any(z != 0 for _, _, z in devices.values()) and (golden.twin.fine % 16 != 0).any()
    # The headroom is exercised: devices landed above L, fine weights beyond 16 L read back as L.
    assert any(d > levels for d, _, _ in devices.values()) and above > 0


def test_headroom_rule_and_the_widths_it_costs():
    from_doc = {1: 1, 7: 2, 15: 4, 127: 32}               # H = ceil(L / 4) with drift
    for bits, levels in ((2, 1), (4, 7), (5, 15), (8, 127)):
        spec = _spec().replace(tile={"weight_bits": bits})
        on = spec.replace(twin={"drift": "on"})
        assert drift.headroom_codes(spec) == 0 and drift.device_top(spec) == levels
        assert drift.headroom_codes(on) == from_doc[levels] and drift.device_top(on) == levels + from_doc[levels]
        assert drift.fine_weight_bits(spec) == bits and drift.fine_weight_bits(on) == bits + 5
        fmt, fmt_on = datapath_formats(spec), datapath_formats(on)
        assert fmt.fine_weight == fmt.weight and fmt_on.fine_weight == SignedFormat(bits + 5, 4)
        assert fmt_on.fine_weight.contains([-16 * (levels + from_doc[levels]), 16 * (levels + from_doc[levels])])
        drive = spec.input.max_magnitude if spec.input.encoding == "pwm" else 1
        reach = spec.tile.rows * (levels + from_doc[levels]) * drive
        assert fmt_on.charge.contains([-reach, reach])
    assert drift.HEADROOM_DIVISOR == 4
    # The whole weight stays a code of -L..L whatever the fine weight above 16 L.
    np.testing.assert_array_equal(drift.whole_weight(np.array([-144, -120, -119, 119, 120, 143]), 4, 7),
                                  [-7, -7, -7, 7, 7, 7])
    np.testing.assert_array_equal(drift.whole_weight(np.array([-8, -7, 7, 8, 24]), 4, 7), [-1, 0, 0, 1, 2])


def test_flicker_docstring_and_table():
    doc = " ".join(flicker.__doc__.split())
    for text in ("S_0 = initial_state(noise.seed, tile, 4094)", "n = r * rows * cols + i * cols + j",
                 "zp = (S & 0xFF) + ((S >> 8) & 0xFF) - 255", "zm = ((S >> 16) & 0xFF) + ((S >> 24) & 0xFF) - 255",
                 "S = total - R if e > 0, else 0.0", "q = min(c / max((d / L) ** x, 1e-3), q_max)",
                 "K[d][e] = round(math.sqrt(S) * q / math.sqrt(10922.5) * 2^20)",
                 "r_e = min(max(v + ((v * z * K[min(d, L)][e] + 2^19) >> 20), 0), 16 (L + H))",
                 "K[15][7] = 377, K[1][7] = 2194", "K[15][12] at 1 year: 434"):
        assert text in doc, text
    spec = _spec().replace(twin={"drift": "on"})
    dev = spec.device
    assert flicker.flicker_table(spec) == doc_flicker_table(dev.read_noise_q, dev.drift_t0_s, dev.t_read_s, 7)
    big = spec.replace(tile={"weight_bits": 5})
    table = flicker.flicker_table(big)
    assert table == doc_flicker_table(dev.read_noise_q, dev.drift_t0_s, dev.t_read_s, 15)
    assert (table[15][7], table[1][7], table[15][12]) == (377, 2194, 434)
    assert all(row[0] == 0 for row in table) and flicker.flicker_on(spec)
    # Only drift and a preset with 1/f noise build it.
    assert not flicker.flicker_on(_spec())
    assert not flicker.flicker_on(_spec(model="rram").replace(twin={"drift": "on"}))
    assert not flicker.flicker_on(_spec(model="ideal").replace(twin={"drift": "on"}))
    assert flicker.flicker_seed(spec, 3) == doc_flicker_seed(77, 3)


def test_each_refresh_draws_new_directions_and_epoch_zero_has_none():
    spec = _spec().replace(twin={"drift": "on"}, device={"stuck_set_fraction": 0.0, "stuck_reset_fraction": 0.0})
    init = np.random.default_rng(4).integers(-7, 8, (8, 8))
    golden = GoldenTile(spec, init, 0)
    plain = GoldenTile(spec, init, 0)
    plain.twin.flicker = None                       # the same devices without the shared 1/f part
    start = golden.twin.flicker_state
    golden.set_drift_epoch(7)
    plain.set_drift_epoch(7)
    first = golden.twin.flicker_z.copy()
    assert golden.twin.flicker_state == int(state_sequence(np.array([start], dtype=np.uint32), 65)[0, 64])
    assert (golden.twin.fine != plain.twin.fine).any()
    golden.set_drift_epoch(7)                       # the same epoch: no refresh, no draw
    np.testing.assert_array_equal(golden.twin.flicker_z, first)
    golden.set_drift_epoch(12)
    golden.set_drift_epoch(7)                       # another time point at 1 day: new draws
    assert (golden.twin.flicker_z != first).mean() > 0.9
    golden.set_drift_epoch(0)                       # epoch 0 is the tile without drift: exactly as before
    plain.set_drift_epoch(0)
    np.testing.assert_array_equal(golden.twin.fine, plain.twin.fine)
    np.testing.assert_array_equal(golden.weights, GoldenTile(spec, init, 0).weights)
    # The directions have the triangular law of two bytes: mean 0, standard deviation 104.5.
    z = np.concatenate([flicker.refresh_draws(start, 64, 64)[p].ravel() for p in range(2)])
    assert abs(z.mean()) < 3 and abs(z.std() - flicker.Z_SIGMA) < 3 and z.min() >= -255 and z.max() <= 255
