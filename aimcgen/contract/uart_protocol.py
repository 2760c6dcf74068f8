"""The host link protocol: Wishbone accesses framed over a UART (8N1). The single source of its constants.

Pure Python (no Amaranth): the bridge RTL (rtl/uart_bridge.py) and the host driver (sim/host/driver.py)
both import the constants and the CRC from here, so they cannot disagree.

PROTOCOL_VERSION 2. Version 2 added the request TAG and the echoed TAG and CMD in the response, so that a
response that arrives after the host gave up on it is never taken for the answer to a later request, and a
response's length follows from its own header. Each version has its own SYNC bytes (version 1: request 0xA5,
response 0x5A, V1_REQUEST_SYNC / V1_RESPONSE_SYNC), so a bridge of one version ignores requests of the other
and a host recognizes a response of the other version by its first byte. Any two of the four SYNC bytes
differ in at least 4 bits, so a flipped bit never turns one into another.

Request (host -> board)::

    SYNC  TAG  CMD  ADDR0 ADDR1 ADDR2 ADDR3  [DATA: COUNT words x 4 bytes]  CRC

    SYNC   0xC3 (REQUEST_SYNC). While idle the bridge drops every other byte, so a host can resynchronize
           by waiting FRAME_TIMEOUT_BYTES byte times and sending a new frame.
    TAG    any byte 0..255, chosen by the host; the bridge echoes it in the response. The host driver
           sends tag (previous tag + 1) mod 256 in each request frame it writes, 1 first (a retry is a new
           frame with a new tag), and takes as the answer only the response that carries that tag.
    CMD    bit 7: 1 write, 0 read (CMD_WRITE); bit 6: reserved, must be 0; bits 5..0: COUNT - 1, so a
           burst moves 1..MAX_BURST (64) consecutive 32-bit words.
    ADDR   32-bit BYTE address of the first word, little-endian, a multiple of 4; word i of the burst is at
           ADDR + 4 i (the bridge puts (ADDR >> 2) + i on the Wishbone `adr`).
    DATA   writes only: COUNT words, each little-endian (byte 0 = bits 7..0).
    CRC    CRC-8 (polynomial x^8 + x^2 + x + 1 = 0x07, initial value 0, no reflection, no final xor;
           "CRC-8/SMBUS", check value crc8(b"123456789") = 0xF4) over every byte after SYNC: TAG, CMD,
           ADDR, DATA.

    A request is REQUEST_OVERHEAD (8) bytes plus 4 COUNT for a write.

Response (board -> host), one per request frame whose SYNC the bridge saw and whose CRC byte arrived::

    SYNC  TAG  CMD  STATUS  DONE  [DATA: DONE words x 4 bytes, reads only]  CRC

    SYNC   0x3C (RESPONSE_SYNC)
    TAG    the request's TAG byte, as received (even when the request's CRC did not match).
    CMD    the request's CMD byte, as received (even when the request's CRC did not match).
    STATUS STATUS_OK (0): every word done
           STATUS_BUS_ERROR (1): the bus answered err at word DONE (the burst stops there; an address
             beyond the bus's range is a bus error too, without a bus cycle)
           STATUS_CHECKSUM_ERROR (2): the request's CRC did not match: nothing was accessed
           STATUS_BAD_COMMAND (3): reserved CMD bit set or ADDR not a multiple of 4: nothing was accessed
           STATUS_TIMEOUT (4): the bus did not answer word DONE within the bridge's bus timeout (the
             cycle was abandoned; the burst stops there)
           No other value is sent.
    DONE   words completed: COUNT when STATUS is ok; 0..COUNT - 1 when STATUS is bus error or timeout;
           0 when STATUS is checksum error or bad command. Never more than MAX_BURST (64).
    DATA   present exactly when the echoed CMD's bit 7 is 0 (a read): the DONE words read, each
           little-endian (none when DONE is 0). So the response is RESPONSE_OVERHEAD (6) bytes plus
           4 DONE for a read (response_length(CMD, DONE)), known from its first five bytes.
    CRC    CRC-8 as above over every byte after SYNC: TAG, CMD, STATUS, DONE, DATA.

The bridge checks the request's CRC before it touches the bus (a write burst is buffered first), so a
corrupted frame never writes. A frame that stalls for FRAME_TIMEOUT_BYTES byte times is dropped without a
response. Bursts run in order, one Wishbone classic cycle per word; responses are sent in request order.

A host accepts a response as the answer to its request only when: SYNC is RESPONSE_SYNC; DONE <= MAX_BURST;
the CRC matches; TAG is the request's TAG (a CRC-valid response with another TAG is a late answer to an
earlier request: the driver drops it, counts it and reads the next response); CMD is the request's CMD
(unless STATUS is checksum error: the board may have received a corrupted CMD, and the host sends the
request again); STATUS is one of the five codes; DONE follows the STATUS rule above for the request's COUNT.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_VERSION = 2
REQUEST_SYNC = 0xC3
RESPONSE_SYNC = 0x3C
V1_REQUEST_SYNC = 0xA5          # protocol version 1 (no TAG): only to name it in errors
V1_RESPONSE_SYNC = 0x5A
CMD_WRITE = 0x80
CMD_RESERVED = 0x40
COUNT_MASK = 0x3F
MAX_BURST = COUNT_MASK + 1
ADDRESS_BYTES = 4
WORD_BYTES = 4
TAG_MASK = 0xFF

STATUS_OK = 0
STATUS_BUS_ERROR = 1
STATUS_CHECKSUM_ERROR = 2
STATUS_BAD_COMMAND = 3
STATUS_TIMEOUT = 4
STATUS_NAMES = {
    STATUS_OK: "ok",
    STATUS_BUS_ERROR: "bus error",
    STATUS_CHECKSUM_ERROR: "checksum error",
    STATUS_BAD_COMMAND: "bad command",
    STATUS_TIMEOUT: "bus timeout",
}

DEFAULT_BAUD = 115_200        # 8N1 baud rate of the host link unless a build or a host asks for another

CRC_POLY = 0x07
CRC_INIT = 0x00
FRAME_TIMEOUT_BYTES = 64      # a frame stalled this many byte times (10 bits each) is dropped
REQUEST_OVERHEAD = 1 + 1 + 1 + ADDRESS_BYTES + 1      # SYNC TAG CMD ADDR CRC
RESPONSE_HEADER = 1 + 1 + 1 + 1 + 1                   # SYNC TAG CMD STATUS DONE: gives the length
RESPONSE_OVERHEAD = RESPONSE_HEADER + 1               # ... and CRC


class FrameError(ValueError):
    """A response frame that breaks the layout above (the message names the field)."""


@dataclass(frozen=True)
class Response:
    tag: int
    cmd: int
    status: int
    done: int
    words: tuple[int, ...]

    @property
    def write(self) -> bool:
        return bool(self.cmd & CMD_WRITE)


def crc8_update(crc: int, byte: int) -> int:
    """One byte into the CRC-8 (MSB first): what the RTL computes in one cycle."""
    crc ^= byte & 0xFF
    for _ in range(8):
        crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc8(data: bytes, crc: int = CRC_INIT) -> int:
    for byte in data:
        crc = crc8_update(crc, byte)
    return crc


def _check_burst(address: int, count: int) -> None:
    if not isinstance(address, int) or not 0 <= address < (1 << 32):
        raise ValueError(f"address {address!r}: must be a 32-bit byte address")
    if address % WORD_BYTES:
        raise ValueError(f"address {address:#x}: must be a multiple of {WORD_BYTES}")
    if not 1 <= count <= MAX_BURST:
        raise ValueError(f"burst of {count} words: must be 1..{MAX_BURST}")


def _check_tag(tag: int) -> None:
    if isinstance(tag, bool) or not isinstance(tag, int) or not 0 <= tag <= TAG_MASK:
        raise ValueError(f"tag {tag!r}: must be a byte 0..{TAG_MASK}")


def command_byte(write: bool, count: int) -> int:
    return (CMD_WRITE if write else 0) | (count - 1)


def command_count(cmd: int) -> int:
    """COUNT of a CMD byte."""
    return (cmd & COUNT_MASK) + 1


def _words_bytes(words) -> bytes:
    return b"".join((int(w) & 0xFFFFFFFF).to_bytes(WORD_BYTES, "little") for w in words)


def _frame(sync: int, body: bytes) -> bytes:
    return bytes([sync]) + body + bytes([crc8(body)])


def encode_read(address: int, count: int = 1, *, tag: int = 0) -> bytes:
    """A read request of `count` words from byte `address`."""
    _check_burst(address, count)
    _check_tag(tag)
    return _frame(REQUEST_SYNC, bytes([tag, command_byte(False, count)]) + address.to_bytes(ADDRESS_BYTES, "little"))


def encode_write(address: int, words, *, tag: int = 0) -> bytes:
    """A write request of `words` (32-bit integers; negative values are written two's complement)."""
    words = list(words)
    _check_burst(address, len(words))
    _check_tag(tag)
    body = bytes([tag, command_byte(True, len(words))]) + address.to_bytes(ADDRESS_BYTES, "little")
    return _frame(REQUEST_SYNC, body + _words_bytes(words))


def response_length(cmd: int, done: int) -> int:
    """Bytes of a whole response whose header echoes `cmd` and says `done` (DATA only for a read)."""
    return RESPONSE_OVERHEAD + (0 if cmd & CMD_WRITE else WORD_BYTES * done)


def encode_response(tag: int, cmd: int, status: int, done: int, words=()) -> bytes:
    """A response frame (what the bridge sends; used by tests and models). Not checked: tests craft bad ones."""
    return _frame(RESPONSE_SYNC, bytes([tag & 0xFF, cmd & 0xFF, status & 0xFF, done & 0xFF]) + _words_bytes(words))


def check_header(header: bytes) -> int:
    """The whole length of the response whose first RESPONSE_HEADER bytes are `header`; FrameError if
    SYNC or DONE make it no response (the length cannot be trusted)."""
    if len(header) != RESPONSE_HEADER:
        raise FrameError(f"response header of {len(header)} bytes, expected {RESPONSE_HEADER}")
    if header[0] != RESPONSE_SYNC:
        old = " (protocol version 1's: the board's bridge predates this host)" if header[0] == V1_RESPONSE_SYNC else ""
        raise FrameError(f"response SYNC is {header[0]:#04x}{old}, expected {RESPONSE_SYNC:#04x}")
    cmd, done = header[2], header[4]
    if done > MAX_BURST:
        raise FrameError(f"response DONE = {done} exceeds MAX_BURST ({MAX_BURST})")
    return response_length(cmd, done)


def decode_response(frame: bytes) -> Response:
    """A whole response frame, checked against the layout (SYNC, DONE range, length, CRC); FrameError names
    the field that is wrong. Whether it answers a given request is `check_answer`'s business."""
    n = check_header(bytes(frame[:RESPONSE_HEADER]))
    if len(frame) != n:
        raise FrameError(f"response of {len(frame)} bytes, its header (CMD {frame[2]:#04x}, DONE {frame[4]}) "
                         f"says {n}")
    if crc8(frame[1:-1]) != frame[-1]:
        raise FrameError(f"response CRC is {frame[-1]:#04x}, the bytes give {crc8(frame[1:-1]):#04x}")
    return Response(frame[1], frame[2], frame[3], frame[4], tuple(decode_words(frame[RESPONSE_HEADER:-1])))


def check_answer(response: Response, tag: int, cmd: int) -> None:
    """FrameError unless `response` (same TAG) is a consistent answer to the request of `cmd`."""
    if response.tag != tag:
        raise FrameError(f"response TAG is {response.tag:#04x}, expected {tag:#04x}")
    if response.status == STATUS_CHECKSUM_ERROR:
        if response.done:
            raise FrameError(f"status checksum error with DONE = {response.done}, expected 0")
        return                                     # CMD may be the corrupted byte the board received
    if response.cmd != cmd:
        raise FrameError(f"response CMD is {response.cmd:#04x}, the request's is {cmd:#04x}")
    count = command_count(cmd)
    if response.status == STATUS_OK:
        expected = f"{count}"
        good = response.done == count
    elif response.status in (STATUS_BUS_ERROR, STATUS_TIMEOUT):
        expected = f"0..{count - 1}" if count > 1 else "0"
        good = response.done < count
    elif response.status == STATUS_BAD_COMMAND:
        expected = "0"
        good = response.done == 0
    else:
        raise FrameError(f"response STATUS is {response.status}, not one of {sorted(STATUS_NAMES)}")
    if not good:
        raise FrameError(f"status {STATUS_NAMES[response.status]} with DONE = {response.done} on a "
                         f"{count}-word {'write' if cmd & CMD_WRITE else 'read'}, expected DONE = {expected}")


def decode_words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + WORD_BYTES], "little") for i in range(0, len(data), WORD_BYTES)]
