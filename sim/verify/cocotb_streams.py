"""cocotb drivers and monitors for Amaranth streams (`lib.stream`) of generated Verilog, with random stalls.

Amaranth flattens a stream `inp` into the ports `inp__valid`, `inp__ready` and `inp__payload` (the payload's
bits follow its Amaranth shape or layout; `pack`/`unpack` of sim.verify.cocotb_macro convert). A transfer happens
at the rising clock edge where valid and ready are both high.

`StreamDriver(dut, "inp", shape=...)` is the source: `send(values, tag)` queues one packet (a vector of
beats); the driver presents one beat at a time, holds valid and payload until the beat is taken (the
stream rule), and between beats withholds valid on a seeded random fraction of cycles
(`stall_probability`, "source stalls"). `wait_idle()` returns when everything queued has been taken.

`StreamMonitor(dut, "out", shape=..., stall_probability=...)` is the sink: it drives ready, low on a seeded
random fraction of cycles ("sink stalls"), records every transfer, and cuts packets at the payload field
`last` (or every `packet_length` beats). `wait_packets(n)` returns when n packets have arrived. While valid
is low the monitor does not poll every cycle: it waits for valid to rise (so an idle stream costs no
Python time), which means ready is only redrawn in cycles where valid is high or rises.

Both keep `StreamStats` (transfers, stall and back-pressure cycles, back-to-back transfers, packets that
followed the previous one without a gap, cycles a packet's first beat waited) and the cycle numbers of
their transfers; cycle numbers are simulation time / clock period (`period_ns`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from aimcgen.sim.verify.cocotb_macro import pack, read_unsigned, unpack
from aimcgen.sim.verify.cocotb_task import StallingTask


def sim_cycle(period_ns: float) -> int:
    """The current clock cycle number: simulation time / clock period."""
    from cocotb.utils import get_sim_time

    return int(round(get_sim_time(unit="ns") / period_ns))


@dataclass
class StreamStats:
    transfers: int = 0
    stall_cycles: int = 0            # driver: valid withheld with data pending; monitor: valid & ~ready
    backpressure_cycles: int = 0     # driver only: valid & ~ready (the design stalled the source)
    back_to_back: int = 0            # transfers in the cycle right after the previous transfer
    packets: int = 0
    packets_back_to_back: int = 0    # a packet's first beat in the cycle after the previous packet's last
    packet_start_waits: int = 0      # driver only: cycles a packet's first beat waited for ready

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Packet:
    values: list[Any]
    cycles: list[int]                 # cycle of each transfer
    tag: Any = None

    @property
    def first_cycle(self) -> int:
        return self.cycles[0]

    @property
    def last_cycle(self) -> int:
        return self.cycles[-1]


def _port(dut, prefix, name):
    handle = getattr(dut, f"{prefix}__{name}", None)
    if handle is None:
        raise AttributeError(f"{dut._name} has no port {prefix}__{name}: is `{prefix}` a stream?")
    return handle


class StreamEnd(StallingTask):
    """What both ends of stream `prefix` of `dut` share: its ports, the seeded stalls, the background task,
    and the bookkeeping of transfers and packets in `stats`."""

    def __init__(self, dut, prefix: str, *, shape, clock, stall_probability: float, seed: int | None,
                 period_ns: float):
        super().__init__(stall_probability, seed)
        self.dut, self.prefix, self.shape = dut, prefix, shape
        self.clock = dut.clk if clock is None else clock
        self.valid, self.ready, self.payload = (_port(dut, prefix, n) for n in ("valid", "ready", "payload"))
        self.period_ns = period_ns
        self.stats = StreamStats()
        self._last_transfer: int | None = None
        self._last_packet_end: int | None = None

    def _record(self, packet: Packet, value, cycle: int) -> None:
        """One transfer of `value` at `cycle` into `packet` (the packet in progress)."""
        stats = self.stats
        stats.transfers += 1
        if self._last_transfer is not None and cycle == self._last_transfer + 1:
            stats.back_to_back += 1
        if not packet.values and self._last_packet_end is not None and cycle == self._last_packet_end + 1:
            stats.packets_back_to_back += 1
        self._last_transfer = cycle
        packet.values.append(value)
        packet.cycles.append(cycle)

    def _close(self, packet: Packet, done: list[Packet], callback) -> None:
        """`packet` got its last beat: count it, keep it in `done`, hand it to `callback`."""
        self._last_packet_end = packet.last_cycle
        self.stats.packets += 1
        done.append(packet)
        if callback is not None:
            callback(packet)


class StreamDriver(StreamEnd):
    """The source side of stream `prefix` of `dut`; see the module docstring."""

    def __init__(self, dut, prefix: str, *, shape, clock=None, stall_probability: float = 0.0,
                 seed: int | None = None, period_ns: float = 10.0,
                 on_packet_done: Callable[[Packet], None] | None = None):
        from cocotb.triggers import Event

        super().__init__(dut, prefix, shape=shape, clock=clock, stall_probability=stall_probability, seed=seed,
                         period_ns=period_ns)
        self.on_packet_done = on_packet_done
        self.sent: list[Packet] = []
        self._queue: deque[tuple[Any, list[Any]]] = deque()
        self._current: Packet | None = None
        self._wake, self._idle = Event(), Event()
        self._idle.set()
        self.valid.value = 0
        self.payload.value = 0

    def send(self, values, tag: Any = None) -> None:
        """Queue one packet (a non-empty sequence of beat values)."""
        values = list(values)
        if not values:
            raise ValueError(f"{self.prefix}: a packet needs at least one beat")
        self._queue.append((tag, values))
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        """Packets queued or in flight."""
        return len(self._queue) + (self._current is not None)

    async def wait_idle(self) -> None:
        if self.pending:
            await self._idle.wait()

    async def _run(self) -> None:
        from cocotb.triggers import ReadOnly, RisingEdge

        beats: deque = deque()
        presenting = False
        while True:
            if not beats:
                if self._current is not None:
                    self._finish_packet()
                if not self._queue:
                    self.valid.value = 0
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                tag, values = self._queue.popleft()
                self._current = Packet([], [], tag)
                beats.extend(values)
            if not presenting:
                if self.stall():
                    self.valid.value = 0
                    self.stats.stall_cycles += 1
                    await RisingEdge(self.clock)
                    continue
                self.payload.value = pack(self.shape, beats[0])
                self.valid.value = 1
                presenting = True
            await ReadOnly()
            ready = read_unsigned(self.ready)
            await RisingEdge(self.clock)
            if not ready:
                self.stats.backpressure_cycles += 1
                if not self._current.values:
                    self.stats.packet_start_waits += 1
                continue
            self._record(self._current, beats.popleft(), sim_cycle(self.period_ns))
            presenting = False
            self.valid.value = 0            # the next iteration presents the next beat (or stalls)

    def _finish_packet(self) -> None:
        packet, self._current = self._current, None
        self._close(packet, self.sent, self.on_packet_done)


class StreamMonitor(StreamEnd):
    """The sink side of stream `prefix` of `dut`; see the module docstring. `on_packet(packet)` is called
    for every completed packet (in the monitor's coroutine, right after the edge of its last transfer)."""

    def __init__(self, dut, prefix: str, *, shape, clock=None, stall_probability: float = 0.0,
                 seed: int | None = None, period_ns: float = 10.0, last_field: str | None = "last",
                 packet_length: int | None = None, on_packet: Callable[[Packet], None] | None = None):
        from cocotb.triggers import Event

        super().__init__(dut, prefix, shape=shape, clock=clock, stall_probability=stall_probability, seed=seed,
                         period_ns=period_ns)
        self.last_field, self.packet_length = last_field, packet_length
        self.on_packet = on_packet
        self.packets: list[Packet] = []
        self._current = Packet([], [])
        self._arrived = Event()
        self.ready.value = 0

    def stop(self) -> None:
        super().stop()
        self.ready.value = 0

    def _draw(self) -> int:
        return 0 if self.stall() else 1

    async def wait_packets(self, count: int) -> list[Packet]:
        """Wait until `count` packets have arrived in total; returns all packets."""
        while len(self.packets) < count:
            self._arrived.clear()
            await self._arrived.wait()
        return self.packets

    async def _run(self) -> None:
        from cocotb.triggers import ReadOnly, RisingEdge

        ready = self._draw()
        self.ready.value = ready
        while True:
            await ReadOnly()
            if not read_unsigned(self.valid):
                await RisingEdge(self.valid)            # idle: sleep until the design offers a beat
                ready = self._draw()
                self.ready.value = ready
                continue
            raw = read_unsigned(self.payload)
            await RisingEdge(self.clock)
            if ready:
                self._transfer(unpack(self.shape, raw), sim_cycle(self.period_ns))
            else:
                self.stats.stall_cycles += 1
            ready = self._draw()
            self.ready.value = ready

    def _transfer(self, value, cycle: int) -> None:
        self._record(self._current, value, cycle)
        if self.last_field is not None and isinstance(value, dict):
            end = bool(value.get(self.last_field))
        else:
            end = self.packet_length is not None and len(self._current.values) == self.packet_length
        if end:
            packet, self._current = self._current, Packet([], [])
            self._close(packet, self.packets, self.on_packet)
            self._arrived.set()

    @property
    def partial(self) -> Packet:
        """The beats of the packet in progress (no `last` yet)."""
        return self._current
