"""cocotb drivers and monitors for Amaranth streams (`lib.stream`) of generated Verilog, with random stalls.

Amaranth flattens a stream `inp` into the ports `inp__valid`, `inp__ready` and `inp__payload` (the payload's
bits follow its Amaranth shape or layout; `pack`/`unpack` of sim.cocotb_macro convert). A transfer happens
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

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from aimcgen.sim.cocotb_macro import pack, unpack


def _read_int(handle) -> int:
    value = handle.value
    if not value.is_resolvable:
        raise ValueError(f"{handle._name} is not resolvable: {value}")
    return value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)


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


class StreamDriver:
    """The source side of stream `prefix` of `dut`; see the module docstring."""

    def __init__(self, dut, prefix: str, *, shape, clock=None, stall_probability: float = 0.0,
                 seed: int | None = None, period_ns: float = 10.0,
                 on_packet_done: Callable[[Packet], None] | None = None):
        if not 0.0 <= stall_probability < 1.0:
            raise ValueError(f"stall_probability must lie in [0, 1), got {stall_probability}")
        from cocotb.triggers import Event

        self.dut, self.prefix, self.shape = dut, prefix, shape
        self.clock = dut.clk if clock is None else clock
        self.valid, self.ready, self.payload = (_port(dut, prefix, n) for n in ("valid", "ready", "payload"))
        self.stall_probability = stall_probability
        self.rng = random.Random(seed)
        self.period_ns = period_ns
        self.on_packet_done = on_packet_done
        self.stats = StreamStats()
        self.sent: list[Packet] = []
        self._queue: deque[tuple[Any, list[Any]]] = deque()
        self._current: Packet | None = None
        self._last_transfer: int | None = None
        self._last_packet_end: int | None = None
        self._wake, self._idle = Event(), Event()
        self._idle.set()
        self._task = None
        self.valid.value = 0
        self.payload.value = 0

    def start(self):
        import cocotb

        if self._task is None:
            self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

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
                if self.stall_probability and self.rng.random() < self.stall_probability:
                    self.valid.value = 0
                    self.stats.stall_cycles += 1
                    await RisingEdge(self.clock)
                    continue
                self.payload.value = pack(self.shape, beats[0])
                self.valid.value = 1
                presenting = True
            await ReadOnly()
            ready = _read_int(self.ready)
            await RisingEdge(self.clock)
            if not ready:
                self.stats.backpressure_cycles += 1
                if not self._current.values:
                    self.stats.packet_start_waits += 1
                continue
            cycle = sim_cycle(self.period_ns)
            value = beats.popleft()
            self._current.values.append(value)
            self._current.cycles.append(cycle)
            self.stats.transfers += 1
            if self._last_transfer is not None and cycle == self._last_transfer + 1:
                self.stats.back_to_back += 1
            if len(self._current.values) == 1 and self._last_packet_end is not None \
                    and cycle == self._last_packet_end + 1:
                self.stats.packets_back_to_back += 1
            self._last_transfer = cycle
            presenting = False
            self.valid.value = 0            # the next iteration presents the next beat (or stalls)

    def _finish_packet(self) -> None:
        packet, self._current = self._current, None
        self._last_packet_end = packet.last_cycle
        self.stats.packets += 1
        self.sent.append(packet)
        if self.on_packet_done is not None:
            self.on_packet_done(packet)


class StreamMonitor:
    """The sink side of stream `prefix` of `dut`; see the module docstring. `on_packet(packet)` is called
    for every completed packet (in the monitor's coroutine, right after the edge of its last transfer)."""

    def __init__(self, dut, prefix: str, *, shape, clock=None, stall_probability: float = 0.0,
                 seed: int | None = None, period_ns: float = 10.0, last_field: str | None = "last",
                 packet_length: int | None = None, on_packet: Callable[[Packet], None] | None = None):
        if not 0.0 <= stall_probability < 1.0:
            raise ValueError(f"stall_probability must lie in [0, 1), got {stall_probability}")
        from cocotb.triggers import Event

        self.dut, self.prefix, self.shape = dut, prefix, shape
        self.clock = dut.clk if clock is None else clock
        self.valid, self.ready, self.payload = (_port(dut, prefix, n) for n in ("valid", "ready", "payload"))
        self.stall_probability = stall_probability
        self.rng = random.Random(seed)
        self.period_ns = period_ns
        self.last_field, self.packet_length = last_field, packet_length
        self.on_packet = on_packet
        self.stats = StreamStats()
        self.packets: list[Packet] = []
        self._current = Packet([], [])
        self._last_transfer: int | None = None
        self._last_packet_end: int | None = None
        self._arrived = Event()
        self._task = None
        self.ready.value = 0

    def start(self):
        import cocotb

        if self._task is None:
            self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.ready.value = 0

    def _draw(self) -> int:
        return 0 if self.stall_probability and self.rng.random() < self.stall_probability else 1

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
            if not _read_int(self.valid):
                await RisingEdge(self.valid)            # idle: sleep until the design offers a beat
                ready = self._draw()
                self.ready.value = ready
                continue
            raw = _read_int(self.payload)
            await RisingEdge(self.clock)
            if ready:
                self._transfer(unpack(self.shape, raw), sim_cycle(self.period_ns))
            else:
                self.stats.stall_cycles += 1
            ready = self._draw()
            self.ready.value = ready

    def _transfer(self, value, cycle: int) -> None:
        stats = self.stats
        stats.transfers += 1
        if self._last_transfer is not None and cycle == self._last_transfer + 1:
            stats.back_to_back += 1
        if not self._current.values and self._last_packet_end is not None and cycle == self._last_packet_end + 1:
            stats.packets_back_to_back += 1
        self._last_transfer = cycle
        self._current.values.append(value)
        self._current.cycles.append(cycle)
        if self.last_field is not None and isinstance(value, dict):
            end = bool(value.get(self.last_field))
        else:
            end = self.packet_length is not None and len(self._current.values) == self.packet_length
        if end:
            packet, self._current = self._current, Packet([], [])
            self._last_packet_end = cycle
            stats.packets += 1
            self.packets.append(packet)
            if self.on_packet is not None:
                self.on_packet(packet)
            self._arrived.set()

    @property
    def partial(self) -> Packet:
        """The beats of the packet in progress (no `last` yet)."""
        return self._current
