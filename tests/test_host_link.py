"""The host driver's side of the link protocol (sim/host/driver.py, aimcgen/contract/uart_protocol.py) against
a board in plain Python whose responses a test can delay or replace with crafted bytes.

A late response (one the host timed out on) must never be taken for the answer to a later request, and a
response that breaks the protocol (short, wrong SYNC, bad CRC, DONE that does not fit STATUS and COUNT,
another CMD) must raise AimcLinkError naming what differed, never IndexError or a wrong word.
"""

from __future__ import annotations

import pytest

from aimcgen.contract import uart_protocol as proto
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.sim.host.driver import AimcHost, AimcLinkError, TransportTimeout
from aimcgen.spec import from_dict

SPEC = from_dict({"tile": {"rows": 6, "cols": 4}})


class FakeBoard:
    """Transport to a board model: registers read their reset values (ID, VERSION, SPEC_HASH, ...).

    `late`: indices of requests whose response is held back (the host times out) and sent just before the
    next request's response. `craft(tag, cmd, frame) -> bytes`: what to send instead of `frame` (the
    correct response). `short`: a read with too few bytes returns them, as pyserial does, instead of raising.
    """

    def __init__(self, regmap, *, late=(), craft=None, short=False):
        self.mem = {r.address: sum(f.reset << f.lsb for f in r.fields) for r in regmap.registers}
        self.late, self.craft, self.short = set(late), craft, short
        self.out, self.held, self.tags = bytearray(), bytearray(), []

    def write(self, data):
        assert data[0] == proto.REQUEST_SYNC and proto.crc8(data[1:-1]) == data[-1]
        tag, cmd, addr = data[1], data[2], int.from_bytes(data[3:7], "little")
        count = proto.command_count(cmd)
        if cmd & proto.CMD_WRITE:
            for i, word in enumerate(proto.decode_words(data[7:-1])):
                self.mem[addr + 4 * i] = word
            frame = proto.encode_response(tag, cmd, proto.STATUS_OK, count)
        else:
            words = [self.mem.get(addr + 4 * i, 0) for i in range(count)]
            frame = proto.encode_response(tag, cmd, proto.STATUS_OK, count, words)
        if self.craft:
            frame = self.craft(tag, cmd, frame)
        index = len(self.tags)
        self.tags.append(tag)
        self.out += self.held
        self.held = bytearray()
        if index in self.late:
            self.held += frame
        else:
            self.out += frame

    def read(self, n):
        if len(self.out) < n and not self.short:
            got, self.out = bytes(self.out), bytearray()
            raise TransportTimeout(f"fake board: {len(got)} of {n} bytes")
        data, self.out = bytes(self.out[:n]), self.out[n:]
        return data


def host_on(**board):
    regmap = aimc_register_map(SPEC)
    host = AimcHost(FakeBoard(regmap, **board), regmap=regmap)
    return host, host.transport


def reset(host, register, field):
    return host.regmap.register(register).field(field).reset


def test_late_response_is_dropped_not_taken_for_the_next_read():
    """The hostile case: ID's response comes after the host gave up on it. Before request tags the next
    reads returned ID's word for VERSION and so on, one behind."""
    host, _ = host_on(late={0})
    host.retries = 0
    with pytest.raises(AimcLinkError, match="no response header"):
        host.read("ID")
    assert host.read("ID") == reset(host, "ID", "magic")
    assert host.read("VERSION") == reset(host, "VERSION", "version")
    assert host.read("SPEC_HASH") == reset(host, "SPEC_HASH", "hash")
    assert host.stale == 1


def test_retry_after_a_timeout_drops_the_late_answer_to_the_first_attempt():
    host, board = host_on(late={0})
    assert host.read("SPEC_HASH") == reset(host, "SPEC_HASH", "hash")
    assert (host.retried, host.stale, board.tags) == (1, 1, [1, 2])
    assert host.read("ID") == reset(host, "ID", "magic")


def test_tag_increments_per_request_frame_and_wraps():
    host, board = host_on()
    for _ in range(300):
        host.read("ID")
    assert board.tags == [(i + 1) % 256 for i in range(300)] and host.stale == 0


def crafted(status=proto.STATUS_OK, done=None, words=None, cmd=None, tag=None):
    """A craft function: the correct response with some fields replaced (the CRC made to match)."""
    def craft(t, c, frame):
        right = proto.decode_response(frame)
        return proto.encode_response(right.tag if tag is None else tag, right.cmd if cmd is None else cmd, status,
                                     right.done if done is None else done, right.words if words is None else words)
    return craft


@pytest.mark.parametrize("craft, count, message", [
    (crafted(done=0, words=()), 1, "status ok with DONE = 0 on a 1-word read, expected DONE = 1"),
    (crafted(done=2, words=(1, 2)), 1, "status ok with DONE = 2 on a 1-word read, expected DONE = 1"),
    (crafted(done=1, words=(1,)), 2, "status ok with DONE = 1 on a 2-word read, expected DONE = 2"),
    (crafted(status=proto.STATUS_BUS_ERROR, done=1, words=(1,)), 1,
     "status bus error with DONE = 1 on a 1-word read, expected DONE = 0"),
    (crafted(status=proto.STATUS_TIMEOUT, done=3, words=(1, 2, 3)), 3,
     "status bus timeout with DONE = 3 on a 3-word read, expected DONE = 0..2"),
    (crafted(status=proto.STATUS_BAD_COMMAND, done=1, words=(1,)), 1,
     "status bad command with DONE = 1 on a 1-word read, expected DONE = 0"),
    (crafted(status=9), 1, "response STATUS is 9, not one of"),
    (crafted(cmd=0x03, done=1, words=(1,)), 1, "response CMD is 0x03, the request's is 0x00"),
    (crafted(done=65, words=()), 1, "response DONE = 65 exceeds MAX_BURST"),
    (lambda t, c, f: f[:-1] + bytes([f[-1] ^ 0x01]), 1, "response CRC is 0x.., the bytes give 0x"),
    (lambda t, c, f: b"\x13" + f[1:], 1, "response SYNC is 0x13, expected 0x3c"),
    (lambda t, c, f: bytes([proto.V1_RESPONSE_SYNC]) + f[1:], 1, "protocol version 1"),
    (lambda t, c, f: f[:3], 1, "no response header"),
    (lambda t, c, f: f[:-2], 2, "no response"),
])
def test_a_bad_answer_raises_a_link_error_naming_the_field(craft, count, message):
    host, _ = host_on(craft=craft)
    host.retries = 0
    with pytest.raises(AimcLinkError, match=message):
        host.read_words(0, count)


@pytest.mark.parametrize("cut, message", [(3, "response header: the transport returned 3 of 5 bytes"),
                                          (-2, "response: the transport returned 7 of 9 bytes")])
def test_short_reads_raise_a_link_error(cut, message):
    """A transport that returns fewer bytes than asked (pyserial on its timeout) is a failed attempt."""
    host, _ = host_on(craft=lambda t, c, f: f[:cut], short=True)
    host.retries = 0
    with pytest.raises(AimcLinkError, match=message):
        host.read_words(0, 2)


def test_every_attempt_is_named_and_a_good_retry_wins():
    answers = iter([crafted(done=0, words=()), crafted(status=7), None])

    def craft(t, c, frame):
        how = next(answers)
        return frame if how is None else how(t, c, frame)

    host, _ = host_on(craft=craft)
    assert host.read("ID") == reset(host, "ID", "magic") and host.retried == 2
    host, _ = host_on(craft=crafted(done=0, words=()))
    host.retries = 1
    with pytest.raises(AimcLinkError, match=r"after 2 attempts: attempt 1: status ok with DONE = 0 .*; "
                                            r"attempt 2: status ok with DONE = 0"):
        host.read("ID")


def test_a_write_answer_with_data_or_the_wrong_tag_forever_fails():
    host, _ = host_on(craft=crafted(cmd=0x00, done=1, words=(5,)))
    host.retries = 0
    with pytest.raises(AimcLinkError, match="response CMD is 0x00, the request's is 0x80"):
        host.write("LAYER_COUNT", 1)
    host, _ = host_on(craft=lambda t, c, f: crafted(tag=t ^ 0x80)(t, c, f) * 300)
    host.retries = 0
    with pytest.raises(AimcLinkError, match="256 responses in a row with other tags"):
        host.read("ID")
    assert host.stale == 256
