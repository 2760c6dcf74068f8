"""The host link protocol: Wishbone accesses framed over a UART (8N1). The single source of its constants.

Pure Python (no Amaranth): the bridge RTL (rtl/uart_bridge.py) and the host driver (sim/host/driver.py)
both import the constants and the CRC from here, so they cannot disagree.

Request (host -> board)::

    SYNC  CMD  ADDR0 ADDR1 ADDR2 ADDR3  [DATA: COUNT words x 4 bytes]  CRC

    SYNC   0xA5 (REQUEST_SYNC). While idle the bridge drops every other byte, so a host can resynchronize
           by waiting FRAME_TIMEOUT_BYTES byte times and sending a new frame.
    CMD    bit 7: 1 write, 0 read (CMD_WRITE); bit 6: reserved, must be 0; bits 5..0: COUNT - 1, so a
           burst moves 1..MAX_BURST (64) consecutive 32-bit words.
    ADDR   32-bit BYTE address of the first word, little-endian, a multiple of 4; word i of the burst is at
           ADDR + 4 i (the bridge puts (ADDR >> 2) + i on the Wishbone `adr`).
    DATA   writes only: COUNT words, each little-endian (byte 0 = bits 7..0).
    CRC    CRC-8 (polynomial x^8 + x^2 + x + 1 = 0x07, initial value 0, no reflection, no final xor;
           "CRC-8/SMBUS", check value crc8(b"123456789") = 0xF4) over every byte after SYNC: CMD, ADDR,
           DATA.

Response (board -> host), one per request frame whose SYNC the bridge saw::

    SYNC  STATUS  DONE  [DATA: DONE words x 4 bytes, reads only]  CRC

    SYNC   0x5A (RESPONSE_SYNC)
    STATUS STATUS_OK (0): every word done
           STATUS_BUS_ERROR (1): the bus answered err at word DONE (the burst stops there; an address
             beyond the bus's range is a bus error too, without a bus cycle)
           STATUS_CHECKSUM_ERROR (2): the request's CRC did not match: nothing was accessed
           STATUS_BAD_COMMAND (3): reserved CMD bit set or ADDR not a multiple of 4: nothing was accessed
           STATUS_TIMEOUT (4): the bus did not answer word DONE within the bridge's bus timeout (the
             cycle was abandoned; the burst stops there)
    DONE   words completed (0..COUNT); COUNT when STATUS is ok.
    DATA   for a read whose CMD was accepted (STATUS ok, bus error or timeout): the DONE words read.
    CRC    CRC-8 as above over STATUS, DONE and DATA.

The bridge checks the request's CRC before it touches the bus (a write burst is buffered first), so a
corrupted frame never writes. A frame that stalls for FRAME_TIMEOUT_BYTES byte times is dropped without a
response. Bursts run in order, one Wishbone classic cycle per word; responses are sent in request order.
"""

from __future__ import annotations

REQUEST_SYNC = 0xA5
RESPONSE_SYNC = 0x5A
CMD_WRITE = 0x80
CMD_RESERVED = 0x40
COUNT_MASK = 0x3F
MAX_BURST = COUNT_MASK + 1
ADDRESS_BYTES = 4
WORD_BYTES = 4

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
REQUEST_OVERHEAD = 1 + 1 + ADDRESS_BYTES + 1
RESPONSE_OVERHEAD = 1 + 1 + 1 + 1


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


def command_byte(write: bool, count: int) -> int:
    return (CMD_WRITE if write else 0) | (count - 1)


def encode_read(address: int, count: int = 1) -> bytes:
    """A read request of `count` words from byte `address`."""
    _check_burst(address, count)
    body = bytes([command_byte(False, count)]) + address.to_bytes(ADDRESS_BYTES, "little")
    return bytes([REQUEST_SYNC]) + body + bytes([crc8(body)])


def encode_write(address: int, words) -> bytes:
    """A write request of `words` (32-bit integers; negative values are written two's complement)."""
    words = list(words)
    _check_burst(address, len(words))
    body = bytes([command_byte(True, len(words))]) + address.to_bytes(ADDRESS_BYTES, "little")
    body += b"".join((int(w) & 0xFFFFFFFF).to_bytes(WORD_BYTES, "little") for w in words)
    return bytes([REQUEST_SYNC]) + body + bytes([crc8(body)])


def response_length(status: int, done: int, read: bool) -> int:
    """Bytes of a response with this STATUS and DONE (after reading its first three bytes)."""
    has_data = read and status in (STATUS_OK, STATUS_BUS_ERROR, STATUS_TIMEOUT)
    return RESPONSE_OVERHEAD + (WORD_BYTES * done if has_data else 0)


def encode_response(status: int, done: int, words=()) -> bytes:
    """A response frame (what the bridge sends; used by tests and models)."""
    body = bytes([status, done]) + b"".join((int(w) & 0xFFFFFFFF).to_bytes(WORD_BYTES, "little")
                                            for w in words)
    return bytes([RESPONSE_SYNC]) + body + bytes([crc8(body)])


def decode_words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + WORD_BYTES], "little") for i in range(0, len(data), WORD_BYTES)]
