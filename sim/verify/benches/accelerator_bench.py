"""The cocotb tests of the generated accelerator top against the golden model (sim.models.golden.GoldenAccelerator):
the scenarios only; the bench they drive is sim.verify.accelerator_tb (scoreboard, coverage and configuration
beside it), and sim.verify.accelerator_runner runs this module (by this name) in the simulator.

The DUT is `build/<name>/rtl/<name>_emulated.v` (top `<name>_emulated`, emulated tiles inside) or `<name>.v`
(top `<name>`, analog ports `analog_<i>__*`: every tile is then served from Python by CocotbAnalogMacro, with
the deterministic MacroModel, bit-exact to the golden model, and in test_physics_macro with PhysicsMacroModel).
Configuration: sim.verify.accelerator_config.

Tests (each records its numbers in $AIMCGEN_BENCH_REPORT under its own name; coverage accumulates over all):
- test_design_discovery: ID, VERSION, SPEC_HASH (= aimcgen.contract.aimc_registers.spec_hash(spec)), every
  datapath parameter register against the spec, every register's reset value against the map; the map
  from regmap.json equals the one built from the spec.
- test_weight_programming: random weights through the WEIGHTS window (each write runs program-and-verify),
  no verify failures; MVMs on them equal the golden model; the unholdable code -2^(weight_bits-1) lands as
  -levels and is reported (ERRORS.prog_verify_fail, PROG_STATUS.failures, PROG_FAIL_ADDR).
- test_coefficient_loads: random SCALE/OFFSET through their windows, read back (sign-extended), MVMs equal.
  With per-row-tile gain trims (contract.tile_gain): TILE_GAIN reads UNITY, then random trims (0 and the
  largest code among them) are written, read back and used by MVMs equal to the golden model; UNITY is
  written back at the end (the other tests' scoreboards start at unity).
- test_back_to_back_with_stalls: MVMs streamed back to back with random stalls on both streams; every
  output vector (values and `last` position) equals the golden model; OUT_COUNT and the sticky
  ERRORS.acc_overflow / output_saturated equal what the golden model saw.
- test_updates_between_mvms: coefficient updates, weight reprogramming and both, between batches of MVMs.
- test_saturation_corners: an ADC sweep (rows of full-scale weights driven by growing full-scale inputs of
  both signs: every ADC code range, clipping, accumulator saturation where the widths allow it) with extreme
  scales and offsets (output saturation at both ends); ERRORS flags equal the golden model's and clear with
  write-1; then random MVMs at those corners and at the smallest scale (nothing clamps).
- test_register_driven_mvms: INPUT window + CTRL.start + OUTPUT window, with the output stream off and on,
  and a second vector loaded while the first runs.
- test_layer_chains: the layer sequencer: chains of 2, 3 and max_layers layers with random column ranges
  (and a "to the last column" descriptor), from the stream and from registers; equal GoldenAccelerator.
  run_layers.
- test_bad_register_accesses: unmapped address, write to a const register, a read-only register and a
  read-only window, read of write-only windows, a window word beyond its depth, a value that does not fit
  a window word, a partial write to a window: each answers err (WishboneError naming register/address),
  sets ERRORS.bus_error (cleared by write-1) and changes nothing; an MVM afterwards is still exact.
- test_physics_macro (analog top only): PhysicsMacroModel tiles (device noise, drift); outputs equal the
  exact recomputation from the macros' recorded conductance reads, and mean |error| of the accumulators
  (charge units) against x @ W stays within physics_tolerance x the RMS error predicted by the device
  statistics (sim.verify.benches.tile_controller_bench.physics_error_budget).
- test_twin_epochs (emulated top of a spec with twin.drift on): random weights through program-and-verify
  against the twin's devices (PROG_STATUS.failures and PROG_COUNT equal the golden model's), then MVMs at
  DRIFT_EPOCH 7 (1 day), 12 (1 year) and back at 0, each equal to the golden model at that epoch.
  With the twin on, every test's weight writes are replayed by the golden model (write order, per tile).
- test_coverage_report (runs last): prints the functional coverage, records it, requires the threshold.

A mismatch fails with e.g. "test_back_to_back_with_stalls: output vector 7 (stream MVM 7), column 3:
expected 12, got 11 (accumulator 98, scale 79, offset -12; x = [...]); 2 of 16 columns differ".
"""

from __future__ import annotations

import numpy as np

import cocotb

from aimcgen.contract.aimc_registers import ADC_KINDS, ENCODINGS, MAGIC, aimc_register_map, spec_hash, version_word
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.postproc import unity_scale
from aimcgen.contract.tile_gain import tile_gain_on, unity_gain, unity_gains
from aimcgen.rtl.tile_controller import drive_cycles
from aimcgen.sim.verify.accelerator_config import setting
from aimcgen.sim.verify.accelerator_coverage import coverage_report, global_coverage, reachable, saturation_rows
from aimcgen.sim.verify.accelerator_physics import physics_bias, physics_inputs, physics_models, \
    physics_predicted_rms, physics_recomputed, tile_block
from aimcgen.sim.verify.accelerator_scoreboard import show_vector
from aimcgen.sim.verify.accelerator_tb import AcceleratorBench, analog_top, memory_shadow, random_layers, \
    start_bench, twin_drift_top
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_wishbone import WishboneError


@cocotb.test()
async def test_design_discovery(dut):
    tb = await start_bench(dut, "test_design_discovery")
    spec, regs = tb.spec, tb.regs
    built = aimc_register_map(spec)
    assert tb.map.to_dict() == built.to_dict(), (
        f"the register map JSON {tb.cfg.get('regmap_json')} differs from aimc_register_map(spec)")
    ident = await regs.read("ID")
    assert ident == MAGIC, f"ID reads {ident:#010x}, expected {MAGIC:#010x} ('AIMC')"
    version = await regs.read("VERSION")
    assert version == version_word(), f"VERSION reads {version:#x}, expected {version_word():#x}"
    got_hash = await regs.read("SPEC_HASH")
    assert got_hash == spec_hash(spec), (f"SPEC_HASH reads {got_hash:#010x}, expected {spec_hash(spec):#010x} "
                                         f"(sha256 of the resolved spec of {spec.name})")
    fmt = datapath_formats(spec)
    expected = {
        "TILE": {"rows": spec.tile.rows, "cols": spec.tile.cols, "weight_bits": spec.tile.weight_bits},
        "ARRAY": {"row_tiles": spec.array.row_tiles, "col_tiles": spec.array.col_tiles},
        "INPUT_FORMAT": {"bits": spec.input.bits, "encoding": ENCODINGS[spec.input.encoding]},
        "ADC": {"kind": ADC_KINDS[spec.adc.kind], "bits": spec.adc.bits, "count": spec.adc.count,
                "lsb_shift": spec.adc.lsb_shift},
        "DATAPATH": {"acc_bits": fmt.accumulator.bits, "output_bits": spec.postproc.output_bits,
                     "scale_bits": spec.postproc.scale_bits, "scale_frac_bits": spec.postproc.scale_frac_bits,
                     "offset_bits": spec.postproc.offset_bits},
        "STATUS": {"busy": 0, "in_free": 1, "prog_busy": 0},
        "OUT_COUNT": {"count": 0}, "PROG_STATUS": {"failures": 0}, "PROG_FAIL_ADDR": {"row": 0, "col": 0},
    }
    registers = 0
    for reg in tb.map.registers:
        fields = await regs.read_fields(reg.name)
        registers += 1
        want = {f.name: f.reset for f in reg.fields if f.access != "ro"}
        want.update({f.name: 0 for f in reg.fields if f.access == "wo"})
        want.update(expected.get(reg.name, {}))
        assert fields == {**fields, **want}, (f"register {reg.name} after reset reads {fields}, expected "
                                              f"{want}")
    await tb.finish(registers=registers, spec_hash=f"{got_hash:#010x}")


@cocotb.test()
async def test_weight_programming(dut):
    tb = await start_bench(dut, "test_weight_programming")
    spec = tb.spec
    w = tb.random_weights()
    levels = spec.tile.conductance_levels
    # the extreme codes at the corners of every tile's active block
    for r in range(spec.array.row_tiles):
        for c in range(spec.array.col_tiles):
            w[r * spec.tile.rows, c * spec.tile.cols] = levels
            w[r * spec.tile.rows + tb.active_rows() - 1, (c + 1) * spec.tile.cols - 1] = -levels
    writes = await tb.program_weights(w)
    status = await tb.regs.read_fields("PROG_STATUS")
    expected_failures = tb.scoreboard.prog_failures              # 0 unless the twin's devices miss
    assert status["failures"] == expected_failures, (
        f"program-and-verify reported {status['failures']} failure(s), the golden model {expected_failures}")
    xs = tb.random_inputs(max(3, tb.mvms() // 2))
    tb.stream_mvms(xs)
    await tb.wait_outputs()
    # -2^(weight_bits-1) has no device pair: the emulated tile and MacroModel program it as -levels, which
    # misses the target, so program-and-verify must report it with its address
    row, col = spec.logical_rows - 1, spec.logical_cols - 1
    await tb.write_weight(row, col, -(levels + 1), lands_as=-levels)
    await tb.wait_idle()
    fail = await tb.regs.read_fields("PROG_FAIL_ADDR")
    failures = await tb.regs.read_field("PROG_STATUS", "failures")
    expected_failures = tb.scoreboard.prog_failures
    assert (fail, failures) == ({"row": row, "col": col}, expected_failures), (
        f"weight code {-(levels + 1)} (not holdable, lands as {-levels}) at ({row}, {col}): PROG_FAIL_ADDR "
        f"= {fail}, PROG_STATUS.failures = {failures}; expected ({row}, {col}) and {expected_failures} "
        f"failure(s)")
    await tb.check_error_flags(prog_verify_fail=True)
    await tb.clear_errors()
    tb.stream_mvms(tb.random_inputs(2, extremes=False))
    await tb.finish(weight_writes=writes)


@cocotb.test()
async def test_coefficient_loads(dut):
    tb = await start_bench(dut, "test_coefficient_loads")
    await tb.program_weights(tb.random_weights() if not tb.shadow["weights"].any() else tb.shadow["weights"])
    scale, offset = tb.random_coefficients()
    fmt = datapath_formats(tb.spec)
    scale[0], offset[0] = fmt.scale.max, fmt.offset.min           # the format's extremes read back too
    if tb.spec.logical_cols > 1:
        scale[-1], offset[-1] = fmt.scale.min, fmt.offset.max
    writes = await tb.load_coefficients(scale, offset, read_back=True)
    scale, offset = tb.random_coefficients()
    writes += await tb.load_coefficients(scale, offset, read_back=True)
    tb.stream_mvms(tb.random_inputs(max(3, tb.mvms() // 2)))
    trims = await trimmed_mvms(tb) if tile_gain_on(tb.spec) else 0
    await tb.finish(coefficient_writes=writes, tile_gain_writes=trims)


async def trimmed_mvms(tb) -> int:
    """TILE_GAIN: UNITY after configuration; random trims (one 0, one the largest code) written, read back,
    MVMs on them; UNITY written back. Returns the number of trim writes."""
    spec, regs = tb.spec, tb.regs
    await tb.wait_idle()                                        # no MVM in flight while the trims change
    unity = unity_gain(spec)
    shape = unity_gains(spec).shape
    depth = shape[0] * shape[1]
    at_reset = [await regs.read_window("TILE_GAIN", i) for i in range(depth)]
    assert at_reset == [unity] * depth, f"{tb.test}: TILE_GAIN reads {at_reset} before any write, expected {unity}"
    gains = tb.rng.integers(unity // 2, unity + unity // 2 + 1, shape)
    gains.flat[0], gains.flat[-1] = (1 << spec.accumulator.tile_gain_bits) - 1, 0
    for i, g in enumerate(gains.ravel()):
        await regs.write_window("TILE_GAIN", i, int(g))
    tb.scoreboard.set_tile_gains(gains)
    back = [await regs.read_window("TILE_GAIN", i) for i in range(depth)]
    bad = [i for i in range(depth) if back[i] != gains.flat[i]]
    assert not bad, (f"{tb.test}: TILE_GAIN[{bad[0]}] reads back {back[bad[0]]}, expected {int(gains.flat[bad[0]])} "
                     f"(the value written); {len(bad)} word(s) differ")
    tb.stream_mvms(tb.random_inputs(max(3, tb.mvms() // 2)), "trimmed MVM")
    await tb.wait_idle()
    for i in range(depth):
        await regs.write_window("TILE_GAIN", i, unity)
    tb.scoreboard.set_tile_gains(unity_gains(spec))
    return 2 * depth


@cocotb.test()
async def test_back_to_back_with_stalls(dut):
    tb = await start_bench(dut, "test_back_to_back_with_stalls")
    if not tb.shadow["weights"].any():
        await tb.program_weights(tb.random_weights())
    await tb.load_coefficients(*tb.random_coefficients())
    xs = tb.random_inputs(tb.mvms())
    start = tb.cycle
    tb.stream_mvms(xs)
    await tb.wait_outputs()
    cycles = tb.cycle - start
    await tb.finish(mvms=len(xs), cycles_per_mvm=cycles / len(xs))


@cocotb.test()
async def test_updates_between_mvms(dut):
    tb = await start_bench(dut, "test_updates_between_mvms")
    spec = tb.spec
    batch = max(2, tb.mvms() // 4)
    tb.stream_mvms(tb.random_inputs(batch))
    await tb.wait_idle()
    scale, offset = tb.random_coefficients()                      # new coefficients on every column
    await tb.load_coefficients(scale, offset)
    tb.stream_mvms(tb.random_inputs(batch, extremes=False))
    await tb.wait_idle()
    w = tb.shadow["weights"].copy()                                # reprogram a few weights
    levels = spec.tile.conductance_levels
    rows = np.flatnonzero(tb.row_mask())
    for _ in range(min(16, w.size)):
        r, c = int(tb.rng.choice(rows)), int(tb.rng.integers(spec.logical_cols))
        w[r, c] = int(tb.rng.integers(-levels, levels + 1))
    reprogrammed = await tb.program_weights(w)
    tb.stream_mvms(tb.random_inputs(batch, extremes=False))
    await tb.wait_idle()
    scale, offset = tb.random_coefficients()                      # both at once, on some columns only
    keep = tb.rng.random(spec.logical_cols) < 0.5
    await tb.load_coefficients(np.where(keep, tb.shadow["scale"], scale), np.where(keep, tb.shadow["offset"],
                                                                                   offset))
    w[int(tb.rng.choice(rows)), int(tb.rng.integers(spec.logical_cols))] = levels
    await tb.program_weights(w)
    tb.stream_mvms(tb.random_inputs(batch, extremes=False))
    await tb.finish(batches=4, mvms=4 * batch, reprogrammed_weights=reprogrammed)

@cocotb.test()
async def test_saturation_corners(dut):
    tb = await start_bench(dut, "test_saturation_corners")
    spec, fmt = tb.spec, datapath_formats(tb.spec)
    R, levels, m = spec.tile.rows, spec.tile.conductance_levels, spec.input.max_magnitude
    n = saturation_rows(spec)
    w = tb.shadow["weights"].copy()
    local = np.arange(spec.logical_rows) % R
    w[local < n, :] = levels                               # rows 0..n-1 of every row tile at full scale
    writes = await tb.program_weights(w)
    # coefficient corners, column by column: extreme scales and offsets
    unity = unity_scale(spec)
    patterns = [(fmt.scale.max, 0), (fmt.scale.min, 0), (unity, fmt.offset.max), (unity, fmt.offset.min),
                (fmt.scale.max, fmt.offset.max), (unity, 0)]
    cols = spec.logical_cols
    scale = np.array([patterns[c % len(patterns)][0] for c in range(cols)], dtype=np.int64)
    offset = np.array([patterns[c % len(patterns)][1] for c in range(cols)], dtype=np.int64)
    await tb.load_coefficients(scale, offset)
    # the ADC sweep: k full-scale rows of either sign; steps small enough to land in every code range
    per_row = levels * drive_cycles(spec) / (1 << spec.adc.lsb_shift)
    step = max(1, int(spec.adc.code_max / 4 / per_row)) if per_row else 1
    ks = sorted(set(range(0, n + 1, step)) | {n, max(0, n - 1)})
    xs = []
    for k in ks:
        for sign in ((1,) if k == 0 else (1, -1)):
            x = np.where(local < k, sign * m, 0)
            xs.append(x)
    xs = np.array(xs, dtype=np.int64)
    tb.stream_mvms(xs, "ADC sweep MVM")
    await tb.wait_idle()
    sb = tb.scoreboard
    reach = reachable(spec)
    flags = await tb.check_error_flags()
    if reach["acc_saturation"] and n == saturation_rows(spec):
        assert sb.any_overflow, (f"{tb.test}: the sweep up to {n} full-scale rows should saturate an "
                                 f"accumulator ({spec.accumulator.bits} bits) but the golden model saw none")
    await tb.clear_errors()
    cleared = await tb.regs.read_fields("ERRORS")
    assert not any(cleared.values()), f"{tb.test}: ERRORS = {cleared} after writing 1 to every flag"
    # random MVMs at the same corners (noise, mixed signs)
    tb.stream_mvms(tb.random_inputs(max(2, tb.mvms() // 4)))
    await tb.wait_idle()
    # and at the smallest scale (1 LSB of the scale code, or 0 without fraction bits): nothing clamps
    await tb.load_coefficients(np.full(cols, 1 if spec.postproc.scale_frac_bits >= 4 else 0), np.zeros(cols))
    tb.stream_mvms(tb.random_inputs(2, extremes=False))
    await tb.finish(saturation_rows=n, sweep_mvms=len(xs), weight_writes=writes, flags_after_sweep=flags)


@cocotb.test()
async def test_register_driven_mvms(dut):
    tb = await start_bench(dut, "test_register_driven_mvms")
    await tb.load_coefficients(*tb.random_coefficients())
    await tb.set_out_stream(False)
    xs = tb.random_inputs(max(3, min(6, tb.mvms())))
    for x in xs[:-1]:
        await tb.register_mvm(x)
    # outputs to the stream as well: both must carry the same vector
    await tb.set_out_stream(True)
    await tb.register_mvm(xs[-1])
    await tb.wait_outputs()
    # a stream MVM, then register MVMs loaded while the previous one runs
    tb.stream_mvms(tb.random_inputs(1, extremes=False))
    await tb.wait_outputs()
    x0, x1 = tb.random_inputs(2, extremes=False)
    await tb.register_mvm(x0, start_only=True)
    e1 = await tb.register_mvm(x1, start_only=True)            # INPUT writes wait for STATUS.in_free
    await tb.read_outputs(e1)
    await tb.wait_outputs()
    await tb.finish(register_mvms=len(xs) + 2)

@cocotb.test()
async def test_layer_chains(dut):
    tb = await start_bench(dut, "test_layer_chains")
    spec = tb.spec
    max_layers = spec.array.max_layers
    if max_layers < 2:
        await tb.finish(chains=0, note="array.max_layers = 1: no chains")
        return
    if not tb.shadow["weights"].any():
        await tb.program_weights(tb.random_weights())
    await tb.load_coefficients(*tb.random_coefficients())
    lengths = sorted({2, min(3, max_layers), max_layers})
    chains = 0
    for i, length in enumerate(lengths):
        layers = random_layers(spec, tb.rng, length, tb.active_rows())
        if i == 0:
            layers[-1] = (0, 0)                    # count 0: up to the last column
        await tb.wait_idle()
        await tb.regs.write("LAYER_COUNT", count=length)
        for j, (start, count) in enumerate(layers):
            await tb.regs.write(f"LAYER_{j}", start=start, count=count)
        # from the stream, twice (the second vector waits while the first chain owns the input buffer)
        for x in tb.random_inputs(2, extremes=False):
            tb.stream_chain(x, layers, f"layer chain {chains} ({length} layers {layers})")
            chains += 1
        await tb.wait_outputs()
        tb.hit("layer_chain", "via_stream")
        # from the registers
        await tb.wait_idle()
        await tb.set_out_stream(i % 2 == 1)
        x = tb.random_inputs(1, extremes=False)[0]
        await tb.register_mvm(x, layers=layers, label=f"register layer chain {chains} ({length} layers)")
        chains += 1
        tb.hit("layer_chain", "via_registers")
        tb.hit("layer_chain", f"layers_{length}")
        if any(c == 0 for _, c in layers):
            tb.hit("layer_chain", "to_last_column")
        await tb.set_out_stream(True)
    await tb.wait_idle()
    await tb.regs.write("LAYER_COUNT", count=1)
    for j in range(max_layers):
        await tb.regs.write(f"LAYER_{j}", 0)
    tb.stream_mvms(tb.random_inputs(1, extremes=False))           # single layers again
    await tb.finish(chains=chains, lengths=lengths)


@cocotb.test()
async def test_bad_register_accesses(dut):
    tb = await start_bench(dut, "test_bad_register_accesses")
    spec, regs, rmap = tb.spec, tb.regs, tb.map
    covered = set()
    for r in rmap.registers:
        covered.add(r.address)
    for w in rmap.windows:
        covered.update(range(w.address, w.end, 4))
    unmapped = next(a for a in range(0, rmap.size, 4) if a not in covered)
    tail = next(((w, w.address + 4 * w.depth) for w in rmap.windows if w.depth < w.span // 4), None)
    scale_w = rmap.window("SCALE")
    too_wide = 1 << scale_w.width                                  # beyond the signed word format
    before = await regs.read_window("SCALE", 0)
    cases = [
        ("unmapped", "read", unmapped, None, None),
        ("unmapped", "write", unmapped, 0x1234, None),
        ("const_write", "write", rmap.register("ID").address, 0, None),
        ("ro_register_write", "write", rmap.register("STATUS").address, 0x7, None),
        ("wo_window_read", "read", rmap.window("WEIGHTS").address, None, None),
        ("wo_window_read", "read", rmap.window("INPUT").address, None, None),
        ("ro_window_write", "write", rmap.window("OUTPUT").address, 1, None),
        ("value_too_wide", "write", scale_w.address, too_wide, None),
        ("partial_window_write", "write", scale_w.address, 1, 0b0001),
    ]
    if tail is not None:
        cases.append(("beyond_depth", "read", tail[1], None, None))
    await tb.clear_errors()
    results = []
    for kind, op, address, data, sel in cases:
        what = f"{op} of {regs.describe(address)}"
        try:
            if op == "read":
                await tb.wb.read(address)
            else:
                await tb.wb.write(address, data, sel=sel)
        except WishboneError as exc:
            message = str(exc)
            assert f"{address:#x}" in message and ("unmapped" in message or any(
                n.name in message for n in (*rmap.registers, *rmap.windows))), (
                f"{tb.test}: the err of the {what} is reported as {message!r}: it should name the address "
                f"and the register or window")
        else:
            raise AssertionError(f"{tb.test}: the {what} answered ack, expected err")
        flag = await regs.read_field("ERRORS", "bus_error")
        assert flag == 1, f"{tb.test}: ERRORS.bus_error = {flag} after the {what} (expected 1)"
        await regs.write("ERRORS", bus_error=1)
        flag = await regs.read_field("ERRORS", "bus_error")
        assert flag == 0, f"{tb.test}: ERRORS.bus_error = {flag} after writing 1 to clear it"
        tb.hit("bus_error", kind)
        results.append(f"{kind}: {what}")
    ident = await regs.read("ID")
    after = await regs.read_window("SCALE", 0)
    assert ident == MAGIC and after == before, (
        f"{tb.test}: rejected writes changed state: ID = {ident:#x} (expected {MAGIC:#x}), SCALE[0] = {after} "
        f"(was {before})")
    assert await regs.read_field("ERRORS", "bus_error") == 0, "good accesses must not set ERRORS.bus_error"
    tb._between.add("BUS_ERROR")
    tb.stream_mvms(tb.random_inputs(1, extremes=False))
    await tb.finish(cases=results)


@cocotb.skipif(not analog_top(), reason="needs the top with analog ports (<name>.v)")
@cocotb.test()
async def test_physics_macro(dut):
    spec, cfg = load_bench_config()
    t_s = float(cfg.get("physics_t_s", 1.0))
    seed = int(cfg.get("physics_seed", 7))
    models = physics_models(spec, memory_shadow(spec)["weights"], seed, t_s)
    tb = AcceleratorBench(dut, spec, cfg, "test_physics_macro", models=models)
    tb.scoreboard.sample_coverage = False
    await tb.start()
    await tb.regs.write("PROG_CTRL", tolerance=1, max_retries=7)
    w = tb.random_weights()
    await tb.program_weights(w)                 # program-and-verify against the noisy devices
    await tb.wait_idle()
    failures = await tb.regs.read_field("PROG_STATUS", "failures")
    for i, model in enumerate(models):
        np.testing.assert_array_equal(model.weights, tile_block(spec, w, i))
        model.integrations.clear()
        model.samples.clear()
    # coefficients: unity scale; an offset that keeps negative results away from the activation and the clamp
    bias, room = physics_bias(spec)
    await tb.load_coefficients(np.full(spec.logical_cols, unity_scale(spec)),
                               np.full(spec.logical_cols, bias << spec.postproc.scale_frac_bits))
    count = int(cfg.get("physics_mvms", 12))
    xs = physics_inputs(spec, w, np.random.default_rng(seed), count, room)
    assert len(xs) >= count, f"found only {len(xs)} physics inputs whose outputs stay within the output range"
    xs = np.array(xs[:count], dtype=np.int64)
    tb.stream_unchecked(xs)                     # no golden model here: checked below
    await tb.within(tb.monitor.wait_packets(len(xs)), tb.mvm_budget(len(xs)), "physics MVMs")
    got = np.array([[b["value"] for b in p.values] for p in tb.monitor.packets], dtype=np.int64)
    # (1) exact: outputs recomputed from the macros' recorded conductance reads
    expected, acc = physics_recomputed(spec, xs, models, tb.shadow["scale"], tb.shadow["offset"])
    bad = np.argwhere(got != expected)
    if len(bad):
        v, col = bad[0]
        raise AssertionError(f"test_physics_macro: output vector {v}, column {col}: expected {expected[v, col]}, "
                             f"got {got[v, col]} (recomputed accumulator {acc[v, col]}; x = {show_vector(xs[v])}); "
                             f"{len(bad)} mismatching outputs")
    # (2) statistical: the accumulators (outputs minus the bias) against the ideal x @ W
    error = (got - bias) * (1 << spec.adc.lsb_shift) - xs @ w
    rms_pred = physics_predicted_rms(spec, w, xs, t_s)
    mae = float(np.mean(np.abs(error)))
    factor = float(cfg.get("physics_tolerance", 1.25))
    report = {"mvms": len(xs), "mae_charge": mae, "predicted_rms_charge": rms_pred, "tolerance": factor * rms_pred,
              "program_verify_failures": failures, "device": spec.device.model, "t_s": t_s}
    flags = await tb.regs.read_fields("ERRORS")
    assert flags["prog_verify_fail"] == int(failures > 0) and not flags["output_saturated"], (
        f"test_physics_macro: ERRORS = {flags} with {failures} program-and-verify failure(s) and outputs kept "
        f"inside the output range")
    await tb.finish(check_flags=False, **report)
    assert mae <= factor * rms_pred, (
        f"test_physics_macro: mean |acc x LSB - x @ W| = {mae:.3f} charge units exceeds {factor * rms_pred:.3f} "
        f"(= {factor} x the predicted RMS error {rms_pred:.3f} from device noise, drift and quantization)")


@cocotb.skipif(not twin_drift_top(), reason="needs the emulated top of a spec with twin.drift = 'on'")
@cocotb.test()
async def test_twin_epochs(dut):
    tb = await start_bench(dut, "test_twin_epochs")
    writes = await tb.program_weights(tb.random_weights())
    await tb.wait_idle()
    count = await tb.regs.read_field("PROG_COUNT", "weights")
    failures = await tb.regs.read_field("PROG_STATUS", "failures")
    assert (count, failures) == (writes, tb.scoreboard.prog_failures), (
        f"test_twin_epochs: PROG_COUNT = {count}, PROG_STATUS.failures = {failures}; the golden model "
        f"programmed {writes} weights with {tb.scoreboard.prog_failures} failure(s)")
    golden = tb.scoreboard.golden
    at_programming = [tile.weights.copy() for tile in golden.tiles]
    changed = {}
    for epoch in (7, 12, 0):            # 1 day, 1 year, then back: later tests expect epoch 0
        await tb.regs.write("DRIFT_EPOCH", epoch=epoch)
        golden.set_drift_epoch(epoch)
        changed[epoch] = int(sum((tile.weights != w).sum() for tile, w in zip(golden.tiles, at_programming)))
        tb.stream_mvms(tb.random_inputs(2, extremes=False), f"MVM at epoch {epoch}")
        await tb.wait_outputs()
    assert changed[12] > 0 and changed[0] == 0, f"test_twin_epochs: weights changed by drift: {changed}"
    await tb.finish(weights=writes, prog_failures=failures, analog_yield=1 - failures / max(writes, 1),
                    weights_drifted=changed)


@cocotb.test(stage=1)
async def test_coverage_report(dut):
    spec, cfg = load_bench_config()
    cov = global_coverage(spec)
    threshold = float(setting(cfg, spec, "coverage_threshold"))
    report = coverage_report(spec, cov, threshold)
    record_bench_report("coverage", report)
    dut._log.info("\n%s", cov.format())
    cov.require(threshold)
