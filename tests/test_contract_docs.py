# amaranth: UnusedElaboratable=no
"""The contract's docstrings are enough to reimplement it: each rule is written here again from the text
alone (no import of the code under test in the reimplementation) and compared with the code and the RTL."""

import math
import re

import pytest
from amaranth.sim import Simulator

from aimcgen.contract import adc as adc_module
from aimcgen.contract import noise
from aimcgen.contract.adc import adc_code
from aimcgen.rtl.noise import NoiseGenerator
from aimcgen.spec import from_dict

MASK32 = 0xFFFFFFFF


# --- the noise generator, as contract/noise.py's docstring states it ------------------------------------

def doc_initial_state(seed: int, tile: int, adc: int) -> int:
    x = (seed * 0x9E3779B9 + (tile * 4096 + adc + 1) * 0x85EBCA6B) & MASK32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & MASK32
    x ^= x >> 16
    return x if x != 0 else 1


def doc_step(s: int) -> int:
    out = s & 1
    s >>= 1
    return s ^ 0x80200003 if out else s


def doc_multiplier(sigma_lsb: float) -> int:
    return round(float(sigma_lsb) / math.sqrt(21845) * 65536)


def doc_draws(seed: int, tile: int, adc: int, sigma_lsb: float, count: int) -> list[int]:
    s, m, out = doc_initial_state(seed, tile, adc), doc_multiplier(sigma_lsb), []
    for _ in range(count):
        c = (s & 0xFF) + ((s >> 8) & 0xFF) + ((s >> 16) & 0xFF) + ((s >> 24) & 0xFF) - 510
        out.append((c * m + (1 << 15)) >> 16)          # Python's >> on ints is arithmetic (floor)
        for _ in range(32):
            s = doc_step(s)
    return out


def test_noise_docstring_states_the_formulas_used_here():
    doc = " ".join(noise.__doc__.split())
    for text in ("x = (seed * 0x9E3779B9 + (tile * 4096 + adc + 1) * 0x85EBCA6B) mod 2^32",
                 ("x = x ^ (x >> 16) x = (x * 0x85EBCA6B) mod 2^32 x = x ^ (x >> 13) "
                  "x = (x * 0xC2B2AE35) mod 2^32 x = x ^ (x >> 16) S_0 = x if x != 0 else 1"),
                 "out = S & 1; S = S >> 1; if out: S = S ^ 0x80200003",
                 "M = round(sigma_lsb / sqrt(21845) * 2^16)",
                 "round(sigma_lsb / math.sqrt(21845) * 65536)",
                 "ties to even",
                 "n = (c * M + 2^15) >> 16",
                 "147.80054127099805"):
        assert text in doc, text
    assert repr(math.sqrt(21845)) == "147.80054127099805" and noise.SIGMA_OF_SUM == math.sqrt(21845)


@pytest.mark.parametrize("seed, tile, adc", [(1, 0, 0), (1, 0, 1), (1, 3, 7), (0xFFFFFFFF, 63, 1023),
                                             (123456789, 5, 2)])
def test_seeding_matches_the_docstring(seed, tile, adc):
    assert noise.initial_state(seed, tile, adc) == doc_initial_state(seed, tile, adc)


def test_docstring_example_is_what_the_code_draws():
    doc = " ".join(noise.__doc__.split())
    example = re.search(r"seed 1, tile 0, adc 0 gives S_0 = (0x[0-9A-F]+); with sigma_lsb = ([0-9.]+) "
                        r"\(M = (\d+)\) its first ten draws are ([-0-9, ]+) \(", doc)
    assert example, "the worked example is missing from contract/noise.py's docstring"
    state, sigma, m = int(example[1], 16), float(example[2]), int(example[3])
    draws = [int(v) for v in example[4].split(",")]
    assert doc_initial_state(1, 0, 0) == state and doc_multiplier(sigma) == m
    assert doc_draws(1, 0, 0, sigma, 10) == draws
    spec = from_dict({"noise": {"sigma_lsb": sigma, "seed": 1}})
    assert noise.TileNoise(spec).draw(10)[0].tolist() == draws


@pytest.mark.parametrize("sigma", [0.0, 0.001, 0.5, 1.0, 2.2, 2.4, 3.7, 37.0, 1000.0, 65536.0])
def test_multiplier_rule(sigma):
    spec = from_dict({"noise": {"sigma_lsb": sigma}})
    assert noise.noise_multiplier(spec) == doc_multiplier(sigma)


def test_multiplier_uses_the_exact_root_not_147_80():
    # The cases the rounded constant gets wrong: 2.2 gives 975.498... (975), 147.80 would give 975.502 (976).
    assert doc_multiplier(2.2) == 975 and round(2.2 / 147.80 * 65536) == 976
    wrong = [s / 10 for s in range(1, 2000) if round(s / 10 / 147.80 * 65536) != doc_multiplier(s / 10)]
    assert wrong, "some sigmas must tell the two constants apart"
    for sigma in wrong[:20]:
        assert noise.noise_multiplier(from_dict({"noise": {"sigma_lsb": sigma}})) == doc_multiplier(sigma)


@pytest.mark.parametrize("seed, sigma", [(1, 2.4), (7, 2.2), (0xDEADBEEF, 40.0)])
def test_first_draws_of_every_adc_match_code(seed, sigma):
    spec = from_dict({"noise": {"sigma_lsb": sigma, "seed": seed}, "adc": {"count": 4},
                      "array": {"row_tiles": 2, "col_tiles": 2}})
    for tile in range(spec.tiles):
        got = noise.TileNoise(spec, tile).draw(10)
        for adc in range(spec.adc.count):
            assert got[adc].tolist() == doc_draws(seed, tile, adc, sigma, 10), (tile, adc)


def test_first_draws_match_the_rtl_generator():
    seed, sigma, tile, adc = 5, 2.2, 1, 1
    spec = from_dict({"noise": {"sigma_lsb": sigma, "seed": seed}, "adc": {"count": 2},
                      "array": {"col_tiles": 2}})
    dut = NoiseGenerator(spec, tile_index=tile, adc_index=adc)
    got = []

    async def bench(ctx):
        for _ in range(10):
            got.append(ctx.get(dut.value))
            ctx.set(dut.draw, 1)
            await ctx.tick()
        ctx.set(dut.draw, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == doc_draws(seed, tile, adc, sigma, 10)


# --- the ADC, as contract/adc.py's docstring states it ----------------------------------------------------

def test_lsb_shift_formula_is_stated_and_used():
    doc = " ".join(adc_module.__doc__.split())
    assert "lsb_shift = log2(adc.full_scale) - (adc.bits - 1)" in doc
    for bits, full_scale in [(1, 1), (6, 32), (8, 512), (4, 1024), (14, 1 << 13)]:
        spec = from_dict({"adc": {"bits": bits, "full_scale": full_scale, "kind": "sar"},
                          "accumulator": {"bits": 24}})
        assert spec.adc.lsb_shift == int(math.log2(full_scale)) - (bits - 1)


@pytest.mark.parametrize("kind", ["sar", "ramp", "flash"])
def test_adc_integer_rule_matches_docstring(kind):
    spec = from_dict({"adc": {"bits": 4, "full_scale": 64, "kind": kind}})    # lsb_shift = 6 - 3 = 3
    s, lo, hi = 3, -8, 7
    charges = list(range(-80, 81))
    if kind == "flash":
        expected = [min(max((q + (1 << (s - 1))) >> s, lo), hi) for q in charges]
    else:
        expected = [min(max(q >> s, lo), hi) for q in charges]
    assert adc_code(charges, spec.adc).tolist() == expected
