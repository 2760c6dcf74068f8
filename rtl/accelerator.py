"""The accelerator top: the datapath (AcceleratorCore) behind a Wishbone register bank and two streams.

Software sees the register map of aimcgen/contract/aimc_registers.py: it discovers the design, programs weights (each
write runs program-and-verify), loads per-column coefficients, runs MVMs either by writing the INPUT window
and CTRL.start and reading the OUTPUT window, or by streaming vectors through `inp`/`out`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from aimcgen.contract.formats import datapath_formats
from aimcgen.rtl.accelerator_core import AcceleratorCore, output_layout
from aimcgen.contract.aimc_registers import ACTIVITY_COUNTERS, aimc_register_map, col_stride
from aimcgen.rtl.boundary import analog_port_members
from aimcgen.rtl.platform_family import on_family
from aimcgen.rtl.register_bank import RegisterBank
from aimcgen.rtl.wishbone import WishboneSignature
from aimcgen.contract.postproc import unity_scale
from aimcgen.contract.tile_gain import tile_gain_on, unity_gain
from aimcgen.spec import DesignSpec


COPY_PORTS = ("async", "sync")
"""How the coefficient copies' block RAM is read: "async" (an asynchronous port and a register, which Yosys
folds into the RAM's synchronous read: a read is acknowledged in its second cycle) or "sync" (a synchronous
port and one more register: acknowledged in its third cycle; the RAM's clock-to-output then drives only that
register, not the bus read mux, which on the ULX3S's LFE5U-6 had been the critical path)."""

SYNC_COPY_FAMILIES = ("ecp5",)
"""FPGA families (the platform's `family`, any case) whose builds get the "sync" copy port when none is given;
elsewhere "async" (on the iCE40 the extra register stage costs about 50 logic cells of the UP5K's 5280)."""

class Accelerator(wiring.Component):
    """`coefficient_copy=True` (FPGA emulation) serves software reads of SCALE and OFFSET (and TILE_GAIN, when
    the chip has trims) from a copy in block RAM, a cycle or two later (`copy_port`, COPY_PORTS): the core's
    coefficient memories then have no read port for software, which lets an FPGA put them in block RAM too.
    ASICs keep one copy (registers read by both)."""

    def __init__(self, spec: DesignSpec, *, emulated: bool = True, init_weights=None, fault=None,
                 coefficient_copy: bool = False, copy_port: str | None = None):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if copy_port is not None and copy_port not in COPY_PORTS:
            raise ValueError(f"copy_port {copy_port!r}: not one of {', '.join(COPY_PORTS)}")
        self.spec, self.emulated, self.init_weights = spec, emulated, init_weights
        self.coefficient_copy = coefficient_copy
        self.copy_port = copy_port          # None: "sync" on a SYNC_COPY_FAMILIES platform, else "async"
        self.fault = fault                  # test-only fault of the post-processor (rtl.postproc.FAULTS)
        self.regmap = aimc_register_map(spec)
        members = {
            "bus": In(WishboneSignature(self.regmap.addr_width)),
            "inp": In(stream.Signature(signed(spec.input.bits))),
            "out": Out(stream.Signature(output_layout(spec))),
        }
        if not emulated:
            members.update(analog_port_members(spec))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        m.submodules.core = core = AcceleratorCore(spec, emulated=self.emulated, init_weights=self.init_weights,
                                                   fault=self.fault)
        m.submodules.regs = regs = RegisterBank(self.regmap)
        wiring.connect(m, wiring.flipped(self.bus), regs.bus)
        wiring.connect(m, wiring.flipped(self.inp), core.inp)
        wiring.connect(m, core.out, wiring.flipped(self.out))
        if not self.emulated:
            for i in range(spec.tiles):
                wiring.connect(m, getattr(core, f"analog_{i}"), wiring.flipped(getattr(self, f"analog_{i}")))

        # Control, status, errors.
        failures = Signal(16)
        fail_row, fail_col = Signal(16), Signal(16)
        with m.If(core.pv_fail):
            m.d.sync += [failures.eq(failures + (failures != 0xFFFF)),
                         fail_row.eq(core.pv_fail_row), fail_col.eq(core.pv_fail_col)]
        # The program-and-verify report (PROG_COUNT, PROG_FIRST_FAIL_ADDR): the analog yield is
        # 1 - failures / weights programmed.
        # The weight write's handshake comes from the bus through the register bank: it is registered before
        # it enables the 32-bit count, so no increment or wide enable lies behind the bus decode (that path
        # had missed the tile64 netlist's ss corner), on every target alike. The count lags the write by a
        # cycle, long before the weight's program-and-verify ends.
        programmed = Signal(32)
        weight_taken = Signal()
        m.d.sync += weight_taken.eq(core.weight.valid & core.weight.ready)
        with m.If(weight_taken):
            m.d.sync += programmed.eq(programmed + (programmed != 0xFFFFFFFF))
        first_row, first_col = Signal(16), Signal(16)
        with m.If(core.pv_fail & (failures == 0)):
            m.d.sync += [first_row.eq(core.pv_fail_row), first_col.eq(core.pv_fail_col)]
        m.d.comb += [regs.prog_count_weights.eq(programmed),
                     regs.prog_first_fail_addr_row.eq(first_row), regs.prog_first_fail_addr_col.eq(first_col)]
        for name, _, counter, _ in ACTIVITY_COUNTERS:
            m.d.comb += getattr(regs, f"{name.lower()}_count").eq(getattr(core.activity, counter))
        if self.emulated and spec.twin.drift == "on":
            m.d.comb += core.drift_epoch.eq(regs.drift_epoch_epoch)
        m.d.comb += [
            core.in_commit.eq(regs.ctrl_start),
            core.out_stream_enable.eq(regs.config_out_stream),
            core.pv_max_retries.eq(regs.prog_ctrl_max_retries),
            regs.status_busy.eq(core.busy),
            regs.status_in_free.eq(core.in_free),
            regs.status_prog_busy.eq(core.pv_busy),
            regs.errors_acc_overflow_set.eq(core.acc_overflow),
            regs.errors_output_saturated_set.eq(core.output_saturated),
            regs.errors_prog_verify_fail_set.eq(core.pv_fail),
            regs.errors_bus_error_set.eq(regs.bus_error),
            regs.errors_start_dropped_set.eq(core.start_dropped),
            regs.out_count_count.eq(core.out_count),
            regs.prog_status_failures.eq(failures),
            regs.prog_fail_addr_row.eq(fail_row),
            regs.prog_fail_addr_col.eq(fail_col),
            core.layer_count.eq(regs.layer_count_count),
        ]
        # PROG_CTRL.tolerance saturates at 2^weight_bits - 1, the largest |read back - target| two weight codes
        # can have (every read back passes), instead of losing its high bits in the narrower engine port.
        tolerance = regs.prog_ctrl_tolerance
        limit = (1 << len(core.pv_tolerance)) - 1
        if len(tolerance) > len(core.pv_tolerance):
            m.d.comb += core.pv_tolerance.eq(Mux(tolerance > limit, limit, tolerance))
        else:
            m.d.comb += core.pv_tolerance.eq(tolerance)
        for i in range(spec.array.max_layers):
            m.d.comb += [
                core.layers[i].start.eq(getattr(regs, f"layer_{i}_start")),
                core.layers[i].count.eq(getattr(regs, f"layer_{i}_count")),
            ]

        # Coefficient windows share the core's coefficient port (never both active).
        m.d.comb += [
            core.coef_addr.eq(Mux(regs.scale_stb, regs.scale_addr, regs.offset_addr)),
            core.coef_scale_wdata.eq(regs.scale_wdata),
            core.coef_offset_wdata.eq(regs.offset_wdata),
            core.coef_scale_we.eq(regs.scale_stb & regs.scale_we),
            core.coef_offset_we.eq(regs.offset_stb & regs.offset_we),
        ]
        if self.coefficient_copy:
            port = self.copy_port or \
                ("sync" if on_family(platform, SYNC_COPY_FAMILIES) else "async")
            self._coefficient_copy(m, regs, port)
        else:
            m.d.comb += [
                regs.scale_rdata.eq(core.coef_scale_rdata),
                regs.offset_rdata.eq(core.coef_offset_rdata),
                regs.scale_ack.eq(regs.scale_stb),
                regs.offset_ack.eq(regs.offset_stb),
            ]
        if tile_gain_on(spec):
            # TILE_GAIN: the core's trim memory, word (r - 1) * C + j as the window numbers it
            m.d.comb += [
                core.tile_gain_addr.eq(regs.tile_gain_addr),
                core.tile_gain_wdata.eq(regs.tile_gain_wdata),
                core.tile_gain_we.eq(regs.tile_gain_stb & regs.tile_gain_we),
            ]
            if not self.coefficient_copy:
                m.d.comb += [regs.tile_gain_rdata.eq(core.tile_gain_rdata),
                             regs.tile_gain_ack.eq(regs.tile_gain_stb)]

        # INPUT: writes wait until the load buffer is free (not being filled by the stream).
        m.d.comb += [
            core.in_wr_addr.eq(regs.input_addr),
            core.in_wr_data.eq(regs.input_wdata),
            core.in_wr_en.eq(regs.input_stb & core.in_free),
            regs.input_ack.eq(regs.input_stb & core.in_free),
        ]
        # OUTPUT: the last output vector.
        m.d.comb += [
            core.out_rd_addr.eq(regs.output_addr),
            regs.output_rdata.eq(core.out_rd_data),
            regs.output_ack.eq(regs.output_stb),
        ]
        # WEIGHTS: word row * stride + col; a write is acknowledged when program-and-verify takes it.
        stride_bits = col_stride(spec).bit_length() - 1
        row = regs.weights_addr >> stride_bits
        col = regs.weights_addr & (col_stride(spec) - 1)
        in_matrix = Signal()
        m.d.comb += [
            in_matrix.eq(col < spec.logical_cols),
            core.weight.payload.row.eq(row),
            core.weight.payload.col.eq(col),
            core.weight.payload.target.eq(regs.weights_wdata),
            core.weight.valid.eq(regs.weights_stb & in_matrix),
            regs.weights_ack.eq(regs.weights_stb & (core.weight.ready | ~in_matrix)),
        ]
        return m

    def _coefficient_copy(self, m, regs, port: str):
        """SCALE, OFFSET (and TILE_GAIN) read back from block RAM, written alongside the core's (same initial
        values)."""
        spec = self.spec
        fmt = datapath_formats(spec)
        cols = spec.logical_cols
        windows = [("scale", signed(fmt.scale.bits), cols, [unity_scale(spec)] * cols),
                   ("offset", signed(fmt.offset.bits), cols, [])]
        if tile_gain_on(spec):
            depth = (spec.array.row_tiles - 1) * cols
            windows.append(("tile_gain", spec.accumulator.tile_gain_bits, depth, [unity_gain(spec)] * depth))
        for name, shape, depth, init in windows:
            stb, we = getattr(regs, f"{name}_stb"), getattr(regs, f"{name}_we")
            # The read port as COPY_PORTS says; reads and writes of one window never meet (the bus carries
            # one access at a time).
            copy = Memory(shape=shape, depth=depth, init=init, attrs={"no_rw_check": 1})
            m.submodules[f"{name}_copy"] = copy
            write = copy.write_port()
            read = copy.read_port() if port == "sync" else copy.read_port(domain="comb")
            rdata, fetched = Signal(shape, name=f"{name}_copy_rdata"), Signal(name=f"{name}_copy_fetched")
            m.d.sync += rdata.eq(read.data)
            if port == "sync":
                pending = Signal(name=f"{name}_copy_pending")
                m.d.sync += [pending.eq(stb & ~we & ~pending & ~fetched), fetched.eq(pending)]
            else:
                m.d.sync += fetched.eq(stb & ~we & ~fetched)
            m.d.comb += [
                write.addr.eq(getattr(regs, f"{name}_addr")), write.data.eq(getattr(regs, f"{name}_wdata")),
                write.en.eq(stb & we),
                read.addr.eq(getattr(regs, f"{name}_addr")),
                getattr(regs, f"{name}_rdata").eq(rdata),
                getattr(regs, f"{name}_ack").eq(stb & (we | fetched)),
            ]
