"""The host driver of an aimcgen accelerator on an FPGA board (or in simulation), over the UART link.

`AimcHost(port, regmap=...)` speaks the framed protocol of aimcgen/contract/uart_protocol.py (the constants and the
CRC come from there, as in the bridge RTL) and gives register access by name from the register map
(aimcgen/contract/register_map.py): read and write registers, fields and windows, program weights, load the per-column
coefficients, run MVMs and read the outputs. Fields and window words are encoded and decoded by
aimcgen/contract/register_access.py, as in the cocotb benches.

The link is a `Transport`: anything with `write(bytes)` and `read(n) -> bytes` (raising
`TransportTimeout` when the bytes do not come). `SerialTransport` is a serial port through pyserial (`pip
install pyserial`); sim.verify.uart_sim_transport.UartSimTransport is the same UART in Amaranth's simulator, so
one driver runs against the board and against the RTL. `AimcHost("/dev/ttyUSB0", regmap=...)` opens a
serial port; `AimcHost(transport, regmap=...)` uses a transport.

The register map is what the accelerator was built from: pass `regmap=` (a RegisterMap), `regmap_json=`
(the regmap.json that `aimcgen generate` / `aimcgen fpga` write) or `spec=` (a DesignSpec);
`check_identity()` compares the board's ID and SPEC_HASH registers with it.

Chip programs (aimcgen.contract.chip_program, `aimcgen deploy`'s program.aimc): `load_program(program)`
checks the program's spec hash against the board's SPEC_HASH, programs its non-zero weights with
program-and-verify and loads the coefficients; `run_network(program, x_codes)` runs the host's schedule
(segments in order, each over the whole batch, as sim.deploy.run.execute does, so the emulated read noise
advances in the golden model's order): a sequencer segment writes LAYER_COUNT / LAYER_i and runs one chain
per inference, a host_per_position (convolution) segment runs one MVM per im2col patch and flattens, with
the host steps relu and clamp between segments. The caller quantizes the inputs (program.input) and takes
the argmax of the output codes (host_final).

Requests are tagged (protocol version 2): each request frame carries the next TAG (`self.tag`, mod 256) and
only the response with that TAG answers it. A well-formed response with another TAG is a late answer to an
earlier request (one the host timed out on): it is dropped, counted in `self.stale` and the driver reads on
until its own response or the transport's timeout. Every field of the answer is checked (SYNC, DONE range,
length, CRC, TAG, the echoed CMD, STATUS, DONE against the request's COUNT: uart_protocol.check_answer), so a
short, garbled or inconsistent response is a link failure, never a wrong or missing word.

Errors: a failed attempt (no response, a garbled or inconsistent response, a checksum error at the board) is
retried (`retries` times, each a new frame with a new TAG, after waiting out the bridge's frame timeout and
dropping buffered bytes); when every attempt failed `AimcLinkError` names what went wrong in each. A bus
error raises `AimcBusError` (the address hit nothing, a read-only window was written, a value did not fit a
window's word format, ...), a bus timeout or a bad command `AimcLinkError`.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np

from aimcgen.contract import register_access as access
from aimcgen.contract import uart_protocol as proto
from aimcgen.contract.chip_program import ChipProgram, host_steps_after, im2col
from aimcgen.contract.register_map import RegisterMap, Window
from aimcgen.contract.uart_protocol import DEFAULT_BAUD
from aimcgen.contract.aimc_registers import ACTIVITY_COUNTERS, aimc_register_map
from aimcgen.contract.device_twin import analog_yield


class TransportTimeout(TimeoutError):
    """The board did not send the expected bytes in time."""


class AimcLinkError(RuntimeError):
    """The link failed: no valid answer after all retries, a bus timeout, a bad command."""


class _AttemptFailed(Exception):
    """One request attempt got no valid answer (the message says why); the exchange retries."""


class AimcBusError(AimcLinkError):
    """The accelerator's bus answered err (address decodes to nothing, access not allowed, value too wide)."""


class Transport(Protocol):
    """What the driver needs of a link. Optional: `idle()` waits out the bridge's frame timeout and
    `reset_input_buffer()` drops stale bytes (both used to resynchronize before a retry), `close()`."""

    def write(self, data: bytes) -> None: ...

    def read(self, n: int) -> bytes: ...


class SerialTransport:
    """A serial port (pyserial): 8N1 at `baud`."""

    def __init__(self, port: str, baud: int = DEFAULT_BAUD, timeout: float = 1.0):
        try:
            import serial
        except ImportError:
            raise ImportError("the host driver needs pyserial for a serial port: pip install pyserial") from None
        self.port = serial.Serial(port, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=timeout)
        self.baud = baud

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, n: int) -> bytes:
        data = self.port.read(n)
        if len(data) < n:
            raise TransportTimeout(f"{self.port.port}: {len(data)} of {n} bytes before the timeout")
        return data

    def reset_input_buffer(self) -> None:
        self.port.reset_input_buffer()

    def idle(self) -> None:
        """Wait out the bridge's frame timeout (FRAME_TIMEOUT_BYTES byte times), plus a margin."""
        time.sleep(0.01 + 2 * 10 * proto.FRAME_TIMEOUT_BYTES / self.baud)

    def close(self) -> None:
        self.port.close()


class AimcHost:
    """Register-level access to one accelerator over a transport (see the module doc)."""

    def __init__(self, port, *, regmap: RegisterMap | None = None, regmap_json: str | Path | None = None,
                 spec=None, baud: int = DEFAULT_BAUD, timeout: float = 1.0, retries: int = 2,
                 poll_limit: int = 100_000):
        if sum(x is not None for x in (regmap, regmap_json, spec)) != 1:
            raise ValueError("AimcHost: give exactly one of regmap=, regmap_json= or spec=")
        if regmap_json is not None:
            regmap = RegisterMap.from_json(Path(regmap_json).read_text())
        elif spec is not None:
            regmap = aimc_register_map(spec)
        self.regmap = regmap
        self.codec = access.RegisterCodec(regmap)
        self.transport = SerialTransport(port, baud, timeout) if isinstance(port, str) else port
        self.retries, self.poll_limit = retries, poll_limit
        self.frames = 0
        self.retried = 0
        self.stale = 0            # late responses (another request's TAG) dropped
        self.tag = 0              # TAG of the last request frame sent; the next one sends tag + 1

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Frames -------------------------------------------------------------------------------------------

    def _exchange(self, request, read: bool) -> tuple[int, int, list[int]]:
        """Send one request (`request(tag=...)` builds its frame: each attempt gets the next tag), return
        (status, done, words) of its answer; retries failed attempts."""
        reasons = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                self._resync()
            self.tag = (self.tag + 1) & proto.TAG_MASK
            frame = request(tag=self.tag)
            self.frames += 1
            self.transport.write(frame)
            try:
                answer = self._answer(self.tag, frame[2])
            except _AttemptFailed as exc:
                reasons.append(str(exc))
                continue
            if answer.status == proto.STATUS_CHECKSUM_ERROR:
                reasons.append("the board saw a request checksum error")
                continue
            return answer.status, answer.done, list(answer.words)
        attempts = "; ".join(f"attempt {i + 1}: {r}" for i, r in enumerate(reasons))
        raise AimcLinkError(f"host link: no valid answer to a {'read' if read else 'write'} request after "
                            f"{len(reasons)} attempts: {attempts}")

    def _answer(self, tag: int, cmd: int) -> proto.Response:
        """Read responses until the one with `tag`, dropping (and counting) late ones with other tags."""
        for _ in range(proto.TAG_MASK + 1):         # more late answers than tags: not late, a babbling link
            header = self._read(proto.RESPONSE_HEADER, "response header")
            try:
                n = proto.check_header(header)
                response = proto.decode_response(header + self._read(n - len(header), "response"))
                if response.tag != tag:
                    self.stale += 1
                    continue
                proto.check_answer(response, tag, cmd)
            except proto.FrameError as exc:
                raise _AttemptFailed(str(exc)) from None
            return response
        raise _AttemptFailed(f"{proto.TAG_MASK + 1} responses in a row with other tags than {tag:#04x}")

    def _read(self, n: int, what: str) -> bytes:
        """Exactly n bytes from the transport, or _AttemptFailed (a short read is no response)."""
        try:
            data = bytes(self.transport.read(n))
        except TransportTimeout as exc:
            raise _AttemptFailed(f"no {what} ({exc})") from None
        if len(data) != n:
            raise _AttemptFailed(f"{what}: the transport returned {len(data)} of {n} bytes ({data.hex()})")
        return data

    def _resync(self) -> None:
        idle = getattr(self.transport, "idle", None)
        if idle:
            idle()
        reset = getattr(self.transport, "reset_input_buffer", None)
        if reset:
            reset()

    def _check(self, status: int, done: int, address: int, write: bool) -> None:
        if status == proto.STATUS_OK:
            return
        what = f"{'write' if write else 'read'} at {address + 4 * done:#x}"
        name = proto.STATUS_NAMES.get(status, f"status {status}")
        if status == proto.STATUS_BUS_ERROR:
            raise AimcBusError(f"bus error on {what}{self._describe(address + 4 * done)}")
        raise AimcLinkError(f"{name} on {what}")

    def _describe(self, address: int) -> str:
        found = self.codec.locate(address)
        if found is None:
            return " (no register or window there)"
        item, index = found
        return f" (window {item.name}[{index}])" if isinstance(item, Window) else f" (register {item.name})"

    def read_words(self, address: int, count: int = 1) -> list[int]:
        """`count` 32-bit words from byte `address` on (bursts of up to MAX_BURST words)."""
        words = []
        while count:
            n = min(count, proto.MAX_BURST)
            status, done, data = self._exchange(partial(proto.encode_read, address, n), read=True)
            self._check(status, done, address, write=False)
            words += data
            address, count = address + 4 * n, count - n
        return words

    def write_words(self, address: int, words) -> None:
        words = [int(w) & 0xFFFFFFFF for w in words]
        for i in range(0, len(words), proto.MAX_BURST):
            chunk = words[i:i + proto.MAX_BURST]
            status, done, _ = self._exchange(partial(proto.encode_write, address + 4 * i, chunk), read=False)
            self._check(status, done, address + 4 * i, write=True)

    # Registers and windows by name --------------------------------------------------------------------

    def read(self, register: str) -> int:
        return self.read_words(self.regmap.register(register).address)[0]

    def write(self, register: str, value: int) -> None:
        self.write_words(self.regmap.register(register).address, [value])

    def read_field(self, register: str, field: str) -> int:
        f = self.codec.field(register, field)
        return access.decode_field(f, self.read(register))

    def write_field(self, register: str, field: str, value: int) -> None:
        """Read-modify-write of one field (the other rw fields keep their value)."""
        new = access.encode_field(self.codec.field(register, field), value, where=register)  # checked first
        keep = self.codec.keep_mask(register, (field,))
        word = self.read(register) & keep if keep else 0
        self.write(register, word | new)

    def fields(self, register: str) -> dict[str, int]:
        return self.codec.decode_fields(register, self.read(register))

    def _window(self, name: str, start: int, count: int) -> Window:
        w = self.regmap.window(name)
        if not (0 <= start and 0 <= count and start + count <= w.depth):
            raise ValueError(f"window {name}: words {start}..{start + count - 1} outside 0..{w.depth - 1}")
        return w

    def read_window(self, name: str, start: int = 0, count: int | None = None) -> np.ndarray:
        """Words of a window, converted from its word format (sign-extended when signed)."""
        w = self.regmap.window(name)
        count = w.depth - start if count is None else count
        w = self._window(name, start, count)
        words = self.read_words(w.address + 4 * start, count) if count else []
        return np.array([access.decode_word(w, v) for v in words], dtype=np.int64)

    def write_window(self, name: str, values, start: int = 0) -> None:
        values = [int(v) for v in np.asarray(values).ravel()]
        w = self._window(name, start, len(values))
        words = [access.encode_word(w, v) for v in values]              # every value checked before writing
        if words:
            self.write_words(w.address + 4 * start, words)

    # The accelerator ----------------------------------------------------------------------------------

    def _const(self, register: str, field: str) -> int:
        return self.regmap.register(register).field(field).reset

    def check_identity(self) -> dict:
        """Read ID, VERSION, SPEC_HASH and the geometry; AimcLinkError if the board is not this map's build."""
        info = {"id": self.read("ID"), "version": self.read("VERSION"), "spec_hash": self.read("SPEC_HASH")}
        if info["id"] != self._const("ID", "magic"):
            raise AimcLinkError(f"ID reads {info['id']:#010x}, not the aimcgen magic "
                                f"{self._const('ID', 'magic'):#010x}: not an aimcgen accelerator, or no link")
        if info["spec_hash"] != self._const("SPEC_HASH", "hash"):
            raise AimcLinkError(f"SPEC_HASH reads {info['spec_hash']:#010x}, the register map was built for "
                                f"{self._const('SPEC_HASH', 'hash'):#010x}: the board runs another design")
        info.update(self.fields("TILE"))
        return info

    @property
    def logical_rows(self) -> int:
        return self.regmap.window("INPUT").depth

    @property
    def logical_cols(self) -> int:
        return self.regmap.window("OUTPUT").depth

    @property
    def col_stride(self) -> int:
        return self.regmap.window("WEIGHTS").depth // self.logical_rows

    def wait_idle(self, field: str = "busy") -> None:
        """Poll STATUS until `field` (busy or prog_busy) is 0."""
        for _ in range(self.poll_limit):
            if not self.read_field("STATUS", field):
                return
        raise AimcLinkError(f"STATUS.{field} still set after {self.poll_limit} polls")

    def program_weights(self, weights, *, tolerance: int | None = None, max_retries: int | None = None) -> int:
        """Program every weight (rows x cols signed codes) with program-and-verify; returns the failures.

        Each row goes out as one burst into the WEIGHTS window (word row * stride + col); the call waits
        until program-and-verify is done and returns PROG_STATUS.failures (PROG_FAIL_ADDR has the last).
        """
        w = np.asarray(weights)
        if w.shape != (self.logical_rows, self.logical_cols):
            raise ValueError(f"weights: expected shape {(self.logical_rows, self.logical_cols)}, got {w.shape}")
        if tolerance is not None:
            self.write_field("PROG_CTRL", "tolerance", tolerance)
        if max_retries is not None:
            self.write_field("PROG_CTRL", "max_retries", max_retries)
        before = self.read_field("PROG_STATUS", "failures")
        for r, row in enumerate(w):
            self.write_window("WEIGHTS", row, start=r * self.col_stride)
        self.wait_idle("prog_busy")
        return self.read_field("PROG_STATUS", "failures") - before

    def program_report(self) -> dict:
        """Program-and-verify since reset: {"weights", "failures", "first_fail", "last_fail",
        "analog_yield"} from PROG_COUNT, PROG_STATUS, PROG_FIRST_FAIL_ADDR and PROG_FAIL_ADDR; the fail
        addresses are logical (row, col), None without failures; the yield is the share of weights within
        tolerance (contract.device_twin.analog_yield)."""
        weights = self.read_field("PROG_COUNT", "weights")
        failures = self.read_field("PROG_STATUS", "failures")
        first = self.fields("PROG_FIRST_FAIL_ADDR") if failures else None
        last = self.fields("PROG_FAIL_ADDR") if failures else None
        return {"weights": weights, "failures": failures,
                "first_fail": (first["row"], first["col"]) if first else None,
                "last_fail": (last["row"], last["col"]) if last else None,
                "analog_yield": analog_yield(weights, failures)}

    def activity(self) -> dict[str, int]:
        """The activity counters {mvms, drive_cycles, row_activations, conversions, skipped} since reset,
        32 bits each and wrapping (contract.aimc_registers.ACTIVITY_COUNTERS): subtract two readings modulo
        2^32 (`activity_since`) to count the work between them."""
        return {counter: self.read_field(register, "count") for register, _, counter, _ in ACTIVITY_COUNTERS}

    @staticmethod
    def activity_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        """The work between two `activity()` readings (each counter modulo 2^32)."""
        return {name: (after[name] - before[name]) & 0xFFFFFFFF for name in after}

    def load_coefficients(self, scale=None, offset=None) -> None:
        """Per-column affine scale and offset (either may be omitted)."""
        if scale is not None:
            self.write_window("SCALE", np.broadcast_to(np.asarray(scale), (self.logical_cols,)))
        if offset is not None:
            self.write_window("OFFSET", np.broadcast_to(np.asarray(offset), (self.logical_cols,)))

    def load_tile_gains(self, gains) -> None:
        """The per-row-tile gain trims (TILE_GAIN window, contract.tile_gain): gains[r - 1][j] of row tile
        r >= 1 in logical column j, (row_tiles - 1) x logical_cols codes."""
        if "TILE_GAIN" not in {w.name for w in self.regmap.windows}:
            raise ValueError("tile gains: this accelerator has no TILE_GAIN window (accumulator.tile_gain_bits = 0 "
                             "or one row tile)")
        g = np.asarray(gains)
        if g.ndim != 2 or g.shape[1] != self.logical_cols or g.size != self.regmap.window("TILE_GAIN").depth:
            raise ValueError(f"tile gains: expected shape ({self.regmap.window('TILE_GAIN').depth // self.logical_cols}, "
                             f"{self.logical_cols}), got {g.shape}")
        self.write_window("TILE_GAIN", g.ravel())

    def run_mvm(self, x) -> np.ndarray:
        """One MVM: write INPUT, CTRL.start, wait until OUT_COUNT moves, read OUTPUT (logical_cols codes)."""
        x = np.asarray(x).ravel()
        if x.size != self.logical_rows:
            raise ValueError(f"input vector: expected {self.logical_rows} values, got {x.size}")
        count = self.read("OUT_COUNT")
        self.write_window("INPUT", x)
        self.write_field("CTRL", "start", 1)
        for _ in range(self.poll_limit):
            if self.read("OUT_COUNT") != count:
                break
        else:
            raise AimcLinkError(f"OUT_COUNT did not move after {self.poll_limit} polls: the MVM did not finish")
        return self.read_window("OUTPUT")

    def run(self, xs) -> np.ndarray:
        """MVMs on each row of `xs` (batch x logical_rows): outputs batch x logical_cols."""
        return np.array([self.run_mvm(x) for x in np.atleast_2d(np.asarray(xs))])

    def errors(self) -> dict[str, int]:
        return self.fields("ERRORS")

    def clear_errors(self) -> None:
        reg = self.regmap.register("ERRORS")
        self.write("ERRORS", sum(f.mask for f in reg.fields if f.access == "w1c"))

    # Chip programs ------------------------------------------------------------------------------------

    def check_program(self, program: ChipProgram) -> None:
        """AimcLinkError unless the board's SPEC_HASH is the program's and the logical shape fits."""
        board = self.read("SPEC_HASH")
        if board != program.spec_hash:
            raise AimcLinkError(f"program {program.network!r} was built for spec {program.spec_name!r} "
                                f"(hash {program.spec_hash:#010x}) but the board's SPEC_HASH reads {board:#010x}: "
                                "deploy the network again for this design")
        if board != self._const("SPEC_HASH", "hash"):
            raise AimcLinkError(f"SPEC_HASH reads {board:#010x}, the register map was built for "
                                f"{self._const('SPEC_HASH', 'hash'):#010x}: the board runs another design")
        if tuple(program.logical_shape) != (self.logical_rows, self.logical_cols):
            raise AimcLinkError(f"program logical shape {tuple(program.logical_shape)}, the board's is "
                                f"{(self.logical_rows, self.logical_cols)}")

    def load_program(self, program: ChipProgram, tolerance: int = 0, max_retries: int = 3) -> dict:
        """Load a chip program: spec hash check, program-and-verify of every NON-ZERO weight (devices start
        erased at code 0; a board that held another program must be erased first, e.g. program_weights of
        zeros), SCALE / OFFSET of every logical column, CONFIG.out_stream = 0.

        Returns {"written", "failures", "fail_row", "fail_col", "errors"} (failures: weights that missed
        tolerance in this load, from PROG_STATUS; the last one's address from PROG_FAIL_ADDR)."""
        self.check_program(program)
        w = np.asarray(program.weights, dtype=np.int64)
        self.wait_idle("prog_busy")
        self.write("PROG_CTRL", self.codec.encode_fields("PROG_CTRL", {"tolerance": tolerance,
                                                                        "max_retries": max_retries}))
        self.write("ERRORS", self.codec.field("ERRORS", "prog_verify_fail").mask)
        before = self.read_field("PROG_STATUS", "failures")
        written = 0
        for r, row in enumerate(w):
            cols = np.flatnonzero(row)
            # bursts of consecutive non-zero weights of the row
            for run in np.split(cols, np.flatnonzero(np.diff(cols) != 1) + 1) if cols.size else []:
                self.write_window("WEIGHTS", row[run[0]:run[-1] + 1], start=r * self.col_stride + int(run[0]))
                written += len(run)
        self.wait_idle("prog_busy")
        errors = self.errors()
        failures = self.read_field("PROG_STATUS", "failures") - before
        if failures == 0 and errors.get("prog_verify_fail"):
            failures = 1
        report = {"written": written, "failures": failures, "fail_row": 0, "fail_col": 0, "errors": errors}
        if failures:
            fail = self.fields("PROG_FAIL_ADDR")
            report.update(fail_row=fail["row"], fail_col=fail["col"])
        self.load_coefficients(program.scale, program.offset)
        self.write("CONFIG", self.codec.encode_fields("CONFIG", {"out_stream": 0}))
        return report

    def set_layers(self, descriptors) -> None:
        """LAYER_i = the (start, count) descriptors, then LAYER_COUNT."""
        for i, (start, count) in enumerate(descriptors):
            self.write(f"LAYER_{i}", self.codec.encode_fields(f"LAYER_{i}", {"start": int(start),
                                                                               "count": int(count)}))
        self.write("LAYER_COUNT", self.codec.encode_fields("LAYER_COUNT", {"count": len(descriptors)}))

    def run_chain(self, x, count: int) -> np.ndarray:
        """One MVM or layer chain on x (logical_rows codes): the first `count` OUTPUT codes."""
        done = self.read("OUT_COUNT")
        self.write_window("INPUT", x)
        self.write("CTRL", self.codec.encode_fields("CTRL", {"start": 1}))
        for _ in range(self.poll_limit):
            if not self.read_field("STATUS", "busy") and self.read("OUT_COUNT") != done:
                break
        else:
            raise AimcLinkError(f"OUT_COUNT did not move after {self.poll_limit} polls: the chain did not finish")
        return self.read_window("OUTPUT", 0, count)

    def run_network(self, program: ChipProgram, x_codes) -> np.ndarray:
        """The program on quantized inputs x_codes (batch x first layer's in_features): the last segment's
        output codes after its host steps (batch x last layer's out_features); predictions are their argmax.

        Segments run in order, each over the whole batch, exactly as sim.deploy.run.execute schedules them
        (see the module doc); the weights must have been loaded (load_program)."""
        m = int(program.input["max_magnitude"])
        codes = np.atleast_2d(np.asarray(x_codes, dtype=np.int64))
        if codes.shape[1] != program.layers[0].in_features:
            raise ValueError(f"run_network: {codes.shape[1]} input codes per inference, program "
                             f"{program.network!r} takes {program.layers[0].in_features}")
        if np.abs(codes).max(initial=0) > m:
            raise ValueError(f"run_network: input codes must be within +-{m} (program.input max_magnitude)")
        for seg in program.segments:
            first, last = program.layers[seg.layers[0]], program.layers[seg.layers[-1]]
            unknown = set(seg.host_before) - {"im2col"} | set(seg.host_after) - {"relu", "clamp", "flatten"}
            if unknown:
                raise ValueError(f"segment {seg.index}: host step(s) {sorted(unknown)} are not supported by the "
                                 "host driver")
            rows = im2col(first.conv, codes) if "im2col" in seg.host_before else codes
            if rows.shape[1] > self.logical_rows:
                raise ValueError(f"segment {seg.index}: {rows.shape[1]} inputs per MVM, the chip has "
                                 f"{self.logical_rows} rows")
            self.set_layers(seg.descriptors)
            count = int(seg.descriptors[-1][1])
            inputs = np.zeros((len(rows), self.logical_rows), dtype=np.int64)
            inputs[:, :rows.shape[1]] = rows
            codes = np.array([self.run_chain(x, count) for x in inputs], dtype=np.int64).reshape(-1, count)
            codes = host_steps_after(codes, seg.host_after, m, last.conv)
        self.set_layers([(0, 0)])
        return codes
