"""The host driver (sim/host/driver.py) against the simulated emulation core, UART bits included.

The same AimcHost that talks to a board over a serial port programs weights, loads coefficients and runs
MVMs through sim/verify/uart_sim_transport.py; the results must equal the golden model.
"""

import numpy as np
import pytest

from aimcgen.contract import uart_protocol as proto
from aimcgen.contract.aimc_registers import MAGIC
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.host.driver import AimcBusError, AimcHost, AimcLinkError
from aimcgen.sim.verify.uart_sim_transport import UartSimTransport
from aimcgen.spec import from_dict

SPEC = {"tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0}}


class Flaky:
    """Wraps a transport: corrupts the first request written and/or the first response byte read."""

    def __init__(self, inner, *, corrupt_request=False, corrupt_response=False):
        self.inner, self.corrupt_request, self.corrupt_response = inner, corrupt_request, corrupt_response

    def write(self, data):
        if self.corrupt_request:
            self.corrupt_request = False
            data = data[:-2] + bytes([data[-2] ^ 0x10]) + data[-1:]
        self.inner.write(data)

    def read(self, n):
        data = self.inner.read(n)
        if self.corrupt_response and n > 3:
            self.corrupt_response = False
            data = bytes([data[0] ^ 0x01]) + data[1:]
        return data

    def idle(self):
        self.inner.idle()

    def reset_input_buffer(self):
        self.inner.reset_input_buffer()


def test_driver_programs_runs_and_matches_golden():
    spec = from_dict(SPEC)
    rng = np.random.default_rng(3)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    scale = rng.integers(1, 9, spec.logical_cols)
    offset = rng.integers(-40, 40, spec.logical_cols)
    xs = rng.integers(-7, 8, (3, spec.logical_rows))
    with UartSimTransport(spec) as link:
        host = AimcHost(link, spec=spec)
        info = host.check_identity()
        assert info["id"] == MAGIC and info["rows"] == spec.tile.rows and info["cols"] == spec.tile.cols
        assert host.program_weights(w, tolerance=0, max_retries=2) == 0
        assert host.read_field("PROG_CTRL", "max_retries") == 2
        host.load_coefficients(scale, offset)
        np.testing.assert_array_equal(host.read_window("OFFSET"), offset)
        got = host.run(xs)
        errors = host.errors()
    expected = GoldenAccelerator(spec, w, scale, offset).run(xs)
    np.testing.assert_array_equal(got, expected.outputs)
    assert errors["acc_overflow"] == int(expected.overflow.any())
    assert errors["output_saturated"] == int(expected.output_saturated.any())
    assert link.framing_errors == 0


def test_bus_errors_are_raised_and_flagged_and_cleared():
    spec = from_dict(SPEC)
    with UartSimTransport(spec) as link:
        host = AimcHost(link, spec=spec)
        with pytest.raises(AimcBusError, match="window WEIGHTS"):
            host.read_window("WEIGHTS", 0, 1)                 # write-only window
        with pytest.raises(AimcBusError, match="no register or window"):
            host.read_words(host.regmap.size - 4)            # hole at the top of the map
        with pytest.raises(AimcBusError):
            host.read_words(1 << 20)                        # beyond the bus: no bus cycle at all
        assert host.errors()["bus_error"] == 1
        host.clear_errors()
        assert host.errors()["bus_error"] == 0
        with pytest.raises(ValueError, match="does not fit"):
            host.write_window("SCALE", [1 << 10])


def test_corrupted_frames_are_retried():
    spec = from_dict(SPEC)
    with UartSimTransport(spec) as inner:
        link = Flaky(inner, corrupt_request=True)
        host = AimcHost(link, spec=spec)
        host.write("LAYER_COUNT", 3)                          # first attempt: checksum error at the board
        assert host.retried == 1
        link.corrupt_response = True
        assert host.read("LAYER_COUNT") == 3                  # first response garbled: retried
        assert host.retried == 2
        host.retries = 0
        link.corrupt_request = True
        with pytest.raises(AimcLinkError, match="checksum"):
            host.write("LAYER_COUNT", 1)


class ProtocolModel:
    """A board in plain Python (memory behind the framed protocol), to count frames without RTL."""

    def __init__(self):
        self.mem, self.out, self.requests = {}, bytearray(), []

    def write(self, data):
        assert data[0] == proto.REQUEST_SYNC and proto.crc8(data[1:-1]) == data[-1]
        tag, cmd, addr = data[1], data[2], int.from_bytes(data[3:7], "little")
        count = proto.command_count(cmd)
        self.requests.append((bool(cmd & proto.CMD_WRITE), addr, count))
        if cmd & proto.CMD_WRITE:
            for i, word in enumerate(proto.decode_words(data[7:-1])):
                self.mem[addr + 4 * i] = word
            self.out += proto.encode_response(tag, cmd, proto.STATUS_OK, count)
        else:
            words = [self.mem.get(addr + 4 * i, 0) for i in range(count)]
            self.out += proto.encode_response(tag, cmd, proto.STATUS_OK, count, words)

    def read(self, n):
        data, self.out = bytes(self.out[:n]), self.out[n:]
        return data


def test_bursts_longer_than_a_frame_are_split():
    spec = from_dict({"tile": {"rows": 16, "cols": 8}, "array": {"col_tiles": 12}, "adc": {"count": 2}})
    assert spec.logical_cols > proto.MAX_BURST
    board = ProtocolModel()
    host = AimcHost(board, spec=spec)
    values = np.arange(spec.logical_cols) - 40
    host.load_coefficients(offset=values)
    np.testing.assert_array_equal(host.read_window("OFFSET"), values)
    base = host.regmap.window("OFFSET").address
    assert board.requests == [(True, base, 64), (True, base + 256, 32), (False, base, 64), (False, base + 256, 32)]


def test_late_response_on_the_simulated_link_is_dropped():
    """A response to an earlier request (here injected as if it came late, after the host timed out) sits
    in front of the board's answer: the driver drops it by its TAG, counts it and returns the board's words."""
    spec = from_dict(SPEC)
    with UartSimTransport(spec) as link:
        host = AimcHost(link, spec=spec)
        version = host.regmap.register("VERSION")
        late = proto.encode_response(host.tag, 0x00, proto.STATUS_OK, 1, [0x1111])   # TAG of the last request
        link.inject(late)
        assert host.read("ID") == MAGIC
        link.inject(proto.encode_response(host.tag - 1, 0x00, proto.STATUS_OK, 1, [0x2222]))
        assert host.read("VERSION") == version.field("version").reset
        assert host.read("SPEC_HASH") == host.regmap.register("SPEC_HASH").field("hash").reset
        assert (host.stale, host.retried) == (2, 0)
    assert link.framing_errors == 0
