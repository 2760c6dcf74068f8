"""sim.eval.statistics: intervals against hand-computed values; common random numbers (the same chip in
every configuration); the default preset's attribution claims no negative contribution outside its interval;
the chip count chosen for a target interval."""

import math

import numpy as np
import pytest

from aimcgen.presets import load_preset
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.backends import (SOURCES, PhysicsBackend, Sources, attribution, measure_chips,
                                       with_device)
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set, default_model_path, load_network
from aimcgen.sim.models.physics import ChipStreams, PhysicsCrossbar, stream_rng

DAY = 86400.0


@pytest.fixture(scope="module")
def digits():
    net = load_network(default_model_path())
    x, y, calib = checked_test_set(net)
    return net, x, np.asarray(y), calib


# --- interval functions against hand-computed values -------------------------------------------------------

def test_t_quantiles_match_tables():
    # Student t table, two-sided 95 %: t_{0.975, df}.
    for df, t in ((1, 12.706204736), (2, 4.302652730), (4, 2.776445105), (10, 2.228138852), (30, 2.042272456)):
        assert st.t_quantile(0.975, df) == pytest.approx(t, abs=1e-8)
    assert st.t_quantile(0.975, 1e7) == pytest.approx(1.959963985, abs=1e-6)
    assert st.t_quantile(0.025, 4) == pytest.approx(-2.776445105, abs=1e-8)
    assert st.t_cdf(0.0, 3) == 0.5


def test_mean_ci_student_t():
    r = st.mean_ci([1, 2, 3, 4, 5])
    # mean 3, s = sqrt(2.5), h = t_{.975,4} s / sqrt(5) = 2.776445105 * 1.58113883 / 2.23606798 = 1.963243
    assert r["mean"] == 3 and r["n"] == 5 and r["std"] == pytest.approx(math.sqrt(2.5))
    assert r["ci95"] == pytest.approx([3 - 1.9632432, 3 + 1.9632432], abs=1e-6)
    assert "Student t" in r["method"]
    one = st.mean_ci([0.9])
    assert one["ci95"] is None and one["n"] == 1 and st.half_width(one) == math.inf


def test_paired_difference_paired_t():
    a, b = [0.90, 0.80, 0.85], [0.88, 0.79, 0.80]
    r = st.paired_difference(a, b)
    # d = [0.02, 0.01, 0.05]: mean 0.0266667, s = 0.0208167, h = 4.30265273 * s / sqrt(3) = 0.0517118
    assert r["mean"] == pytest.approx(0.0266667, abs=1e-6)
    assert r["ci95"] == pytest.approx([0.0266667 - 0.0517118, 0.0266667 + 0.0517118], abs=1e-6)
    assert r["significant"] is False and "paired t" in r["method"]
    same = st.paired_difference(a, a)
    assert same["mean"] == 0.0 and same["ci95"] == [0.0, 0.0] and not same["significant"]
    with pytest.raises(ValueError, match="same chips"):
        st.paired_difference([1, 2], [1, 2, 3])


def test_welch_difference():
    r = st.welch_difference([1, 2, 3, 4], [2, 4, 6])
    # means 2.5 and 4; s2/n = 1.6667/4 + 4/3 = 1.75; df = 1.75^2 / ((0.41667^2)/3 + (1.33333^2)/2) = 3.23470
    assert r["mean"] == pytest.approx(-1.5)
    assert r["df"] == pytest.approx(3.2347, abs=1e-4)
    h = st.t_quantile(0.975, r["df"]) * math.sqrt(1.75)
    assert r["ci95"] == pytest.approx([-1.5 - h, -1.5 + h])
    assert 3.0 < h / math.sqrt(1.75) < 3.2 and "Welch" in r["method"]


def test_wilson_proportion():
    r = st.proportion_ci(90, 100)
    # Wilson score 90/100 (z = 1.959964): centre 0.9192073 / 1.0384146 = 0.8852026, half-width
    # z sqrt(0.0009 + 0.0000960365) / 1.0384146 = 0.0595683
    assert r["mean"] == 0.9 and r["ci95"] == pytest.approx([0.8256343, 0.9447709], abs=1e-6)
    assert "Wilson" in r["method"]
    assert st.proportion_ci(0, 10)["ci95"][0] == pytest.approx(0.0, abs=1e-12)
    assert st.proportion_ci(10, 10)["ci95"][1] == pytest.approx(1.0, abs=1e-12)


def test_crossed_paired_difference_hand_computed():
    a = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)
    b = np.zeros((2, 3), dtype=bool)
    r = st.crossed_paired_difference(a, b)
    # d = a: grand 0.5; MS_chip = 1/6, MS_sample = 1/2, MS_resid = 1/6; Var = (1/6 + 1/2 - 1/6) / 6 = 1/12;
    # Satterthwaite df = (1/2)^2 / ((1/6)^2/1 + (1/2)^2/2 + (1/6)^2/2) = 1.5
    assert r["mean"] == 0.5 and r["df"] == pytest.approx(1.5)
    h = st.t_quantile(0.975, 1.5) * math.sqrt(1 / 12)
    assert r["ci95"] == pytest.approx([0.5 - h, 0.5 + h])
    # A deterministic one-sample flip on every chip: paired t over chips says [x, x], the crossed interval
    # (test samples are a sample too) does not call it significant.
    a = np.ones((10, 360), dtype=bool)
    b = a.copy()
    b[:, 7] = False
    r = st.paired_accuracy_stat(b, a)
    assert r["ci95_chips"] == pytest.approx([-1 / 360, -1 / 360])
    assert r["ci95"][0] < 0 < r["ci95"][1] and not r["significant"]
    # One chip: the per-sample paired interval.
    one = st.paired_accuracy_stat(b[:1], a[:1])
    assert one["n"] == 1 and one["samples"] == 360 and "per-sample" in one["method"]


def test_accuracy_stat_chips_and_one_chip():
    c = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]], dtype=bool)
    r = st.accuracy_stat(c)
    assert r["n"] == 3 and r["samples"] == 4
    assert r["ci95"] == pytest.approx(st.mean_ci([0.75, 0.5, 1.0])["ci95"])
    one = st.accuracy_stat(c[:1])
    assert one["n"] == 1 and one["ci95"] == pytest.approx(st.proportion_ci(3, 4)["ci95"])


def test_chips_for_target_stops_for_the_stated_reason():
    rng = np.random.default_rng(0)
    pool = 0.95 + 0.01 * rng.standard_normal(1000)
    calls = []

    def measure(seeds):
        calls.append(seeds)
        return pool[seeds.start:seeds.stop]

    values, d = st.chips_for_target(measure, target=0.004, max_chips=500, batch=10)
    assert d["chips"] == len(values) and len(values) % 10 == 0 and d["half_width"] <= 0.004
    assert d["reason"].startswith("target reached")
    assert [c.start for c in calls] == list(range(0, len(values), 10))       # batches of new chips 0, 10, ...
    assert st.half_width(st.mean_ci(pool[:len(values) - 10])) > 0.004        # not one batch too many
    values, d = st.chips_for_target(measure, target=1e-6, max_chips=25, batch=10)
    assert len(values) == 25 and d["reason"].startswith("maximum of 25 chips")
    ticks = iter(range(10000))                                              # 1 s per measure call

    values, d = st.chips_for_target(measure, target=1e-6, max_chips=500, batch=10, time_budget_s=50,
                                    cost_per_chip=2.0, clock=lambda: next(ticks))
    # 1 s per batch of 10 chips = 0.1 s/chip x 2 = 0.2 s/chip: 250 chips fit in 50 s, 260 would not
    assert len(values) == 250 and d["reason"].startswith("time budget reached")


# --- common random numbers --------------------------------------------------------------------------------

def test_stream_rng_depends_only_on_seed_and_name():
    assert np.array_equal(stream_rng(3, "layer", 1, "read").random(4), stream_rng(3, "layer", 1, "read").random(4))
    assert not np.array_equal(stream_rng(3, "read").random(4), stream_rng(4, "read").random(4))
    assert not np.array_equal(stream_rng(3, "read").random(4), stream_rng(3, "drift").random(4))


def test_switching_a_source_off_keeps_the_other_draws():
    import dataclasses
    spec = with_device(load_preset("tile64"), "rram")        # RRAM: relaxation; and 2 % stuck devices
    spec = dataclasses.replace(spec, device=dataclasses.replace(spec.device, stuck_set_fraction=0.01,
                                                                stuck_reset_fraction=0.01))
    w = np.random.default_rng(1).integers(-15, 16, (64, 64))
    streams = ChipStreams(5, ("layer", 0, "tile", 0, 0))
    from aimcgen.sim.eval.backends import device_with_sources
    full = PhysicsCrossbar(spec, w, streams=streams)
    no_stuck = PhysicsCrossbar(device_with_sources(spec, Sources().without("stuck")), w, streams=streams)
    no_read = PhysicsCrossbar(device_with_sources(spec, Sources().without("read")), w, streams=streams)
    no_drift = PhysicsCrossbar(device_with_sources(spec, Sources().without("drift")), w, streams=streams)
    healthy = (full.g_prog != 0) & (full.g_prog != spec.device.g_max_us)
    assert not np.array_equal(full.g_prog, no_stuck.g_prog)                   # the stuck devices differ
    assert np.array_equal(full.g_prog[healthy], no_stuck.g_prog[healthy])     # programming draws unshifted
    assert np.array_equal(full.g_prog, no_read.g_prog) and np.array_equal(full.nu, no_read.nu)
    assert np.array_equal(full.g_prog, no_drift.g_prog) and np.array_equal(full.relax_z, no_drift.relax_z)
    # Read noise: the same draws with drift off, and calibration reads do not shift the later reads.
    g0, g1 = full.conductances(DAY), no_drift.conductances(DAY)
    full2 = PhysicsCrossbar(spec, w, streams=streams)
    full2.calibrate_drift_compensation(np.ones((4, 64), dtype=np.int64), DAY)
    assert np.array_equal(full2.conductances(DAY), g0)
    assert not np.array_equal(g0, g1)


def test_a_configuration_against_itself_pairs_to_exactly_zero(digits):
    net, x, y, calib = digits
    mapping = map_network(net, load_preset("default"), calib)
    for t, comp, src in ((DAY, True, Sources()), (1.0, False, Sources().without("read"))):
        a = measure_chips(mapping, x, y, calib, 4, t_s=t, compensation=comp, sources=src)["correct"]
        b = measure_chips(mapping, x, y, calib, 4, t_s=t, compensation=comp, sources=src)["correct"]
        assert np.array_equal(a.mean(axis=1) - b.mean(axis=1), np.zeros(4))   # every chip: exactly 0
        d = st.paired_accuracy_stat(a, b)
        assert d["mean"] == 0.0 and d["ci95"] == [0.0, 0.0] and d["ci95_chips"] == [0.0, 0.0]
    # Compensation on and off at the same time: the same devices and the same inference read draws.
    on = PhysicsBackend(mapping, t_s=DAY, compensation=True, seed=2, calib_x=calib)
    off = PhysicsBackend(mapping, t_s=DAY, compensation=False, seed=2)
    xb, ob = on.tiles[0][0][0], off.tiles[0][0][0]
    assert np.array_equal(xb.g_prog, ob.g_prog) and np.array_equal(xb.conductances(DAY), ob.conductances(DAY))


def test_default_attribution_claims_nothing_negative_outside_its_interval(digits):
    """The default preset's attribution on 10 chips: every figure is either >= 0 or its interval holds 0;
    every row has its interval, and the rows of the same chips agree where they must."""
    net, x, y, calib = digits
    mapping = map_network(net, load_preset("default"), calib)
    att = attribution(mapping, x, y, calib, t_s=DAY, seeds=10)
    assert att["chips"] == 10 and [r["source"] for r in att["sources"]] == list(SOURCES)
    for row in att["sources"]:
        for key in ("alone_accuracy_drop", "leave_one_out_accuracy_gain"):
            s = row[key + "_ci"]
            assert s["n"] == 10 and s["ci95"] is not None and s["mean"] == row[key]
            assert s["mean"] >= 0 or s["ci95"][0] <= 0 <= s["ci95"][1], (row["source"], key, s)
            assert s["significant"] == (not s["ci95"][0] <= 0 <= s["ci95"][1])
        for key in ("alone_layer_error_added", "leave_one_out_layer_error_removed"):
            for s in row[key + "_ci"]:
                assert s["mean"] >= 0 or s["ci95"][0] <= 0 <= s["ci95"][1], (row["source"], key, s)
    by = {r["source"]: r for r in att["sources"]}
    # PCM has no stuck devices: switching them off changes nothing on any chip, exactly.
    assert by["stuck"]["leave_one_out_accuracy_gain_ci"]["ci95"] == [0.0, 0.0]
    # Device noise adds layer error that 10 paired chips resolve.
    assert by["programming"]["alone_layer_error_added_ci"][0]["significant"]


def test_evaluate_auto_chips(tmp_path, digits):
    from aimcgen.sim.eval.report import evaluate, markdown
    net = digits[0]
    r = evaluate(load_preset("default"), net, tmp_path, seeds="auto", ci_target=0.02, max_chips=40,
                 progress=lambda s: None, plots=False, adc_bits=[6], drift_times=[1.0, DAY])
    c = r["chips"]
    assert c["mode"] == "auto" and c["chips"] == r["seeds"] == r["attribution"]["seeds"]
    assert c["chips"] == 10 and c["half_width"] <= 0.02 and c["reason"].startswith("target reached")
    # The headline is the 1-day compensated accuracy, the same chips as attribution's all-sources figure.
    assert r["accuracy_vs_drift"][1]["compensated"] == r["attribution"]["all_sources_accuracy"]
    assert r["accuracy_vs_drift"][0]["compensated_change_vs_first"]["ci95"] == [0.0, 0.0]
    text = markdown(r)
    assert "10 simulated chips (auto: target reached" in text and "Student t" in text
    r = evaluate(load_preset("default"), net, tmp_path, seeds="auto", ci_target=1e-4, max_chips=12,
                 progress=lambda s: None, plots=False, adc_bits=[6], drift_times=[DAY])
    assert r["seeds"] == 12 and r["chips"]["reason"].startswith("maximum of 12 chips")


def test_cli_chip_options(tmp_path, capsys):
    from aimcgen.cli import main
    assert main(["evaluate", "--chips", "some", "--out", str(tmp_path)]) == 2
    assert "--chips 'some': expected auto or a number" in capsys.readouterr().err
    assert main(["evaluate", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert main(["evaluate", "--ci-target", "0", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["evaluate", "--seeds", "3", "--chips", "4"])
