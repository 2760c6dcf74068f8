"""cocotb: the generated emulated top with the digital twin on programs, retries and reports as the golden
model replays it; the MVM outputs, which depend on every landed weight and its drift, are equal code for
code at three drift epochs."""

import numpy as np

from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.emulated_top import write_emulated_top
from aimcgen.spec import from_dict

BENCH = "aimcgen.sim.verify.benches.twin_bench"


def test_twin_bench_matches_golden(tmp_path, fast_simulator):
    spec = from_dict({
        "design": {"name": "twin_bench"},
        "tile": {"rows": 8, "cols": 4}, "array": {"row_tiles": 1, "col_tiles": 2},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0, "seed": 4},
        "device": {"model": "pcm", "prog_noise_us": [0.8, 4.0, -2.0], "stuck_set_fraction": 0.03,
                   "stuck_reset_fraction": 0.03},
        "twin": {"programming_error": "on", "stuck": "on", "drift": "on"},
        "program_verify": {"tolerance": 0, "max_retries": 2},
    })
    rng = np.random.default_rng(17)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    xs = rng.integers(-7, 8, (3, spec.logical_rows))
    source, top, regmap = write_emulated_top(spec, tmp_path)
    epochs = [0, 7, 12]                                     # just programmed, 1 day, 1 year
    config = write_bench_config(tmp_path / "config.json", spec, regmap_json=str(regmap), weights=w, inputs=xs,
                                epochs=epochs)
    result = run_bench(verilog_sources=[source], toplevel=top, test_module=BENCH, simulator=fast_simulator,
                       build_dir=tmp_path / "run", extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    got = result.report["test_twin_program"]
    golden = GoldenAccelerator(spec, np.zeros_like(w))
    report = golden.program_weights(w)
    bad = report.failures
    assert report.writes > w.size and len(bad) > 0          # retries happened, and some weights failed
    assert got["prog_count"] == w.size and got["prog_status"] == len(bad)
    assert got["first_fail"] == {"row": bad[0].row, "col": bad[0].col}
    assert got["last_fail"] == {"row": bad[-1].row, "col": bad[-1].col}
    assert got["errors"]["prog_verify_fail"] == 1
    expected = []
    for epoch in epochs:
        golden.set_drift_epoch(epoch)
        expected.extend(golden.run(xs).outputs)
    np.testing.assert_array_equal(np.array(got["outputs"]), np.array(expected))
    assert (np.array(expected[:len(xs)]) != np.array(expected[-len(xs):])).any()   # a year of drift tells
    print(f"twin bench on {fast_simulator}: {w.size} weights, {report.writes} writes, {len(bad)} failed, "
          f"analog yield {report.analog_yield:.3f}; build {result.build_s:.1f} s, run {result.run_s:.1f} s")
