"""The background coroutine of a cocotb bench component (stream driver, stream monitor, analog macro).

Each one runs forever beside the test, so a bench starts it once the clock runs and cancels it when the
test ends; each one stalls on a seeded random fraction of cycles so that a failing run repeats exactly.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod


class StallingTask(ABC):
    """`_run()` as a cocotb task (`start`, `stop`), with `stall()` true on `stall_probability` of its draws
    from random.Random(seed)."""

    def __init__(self, stall_probability: float, seed: int | None):
        if not 0.0 <= stall_probability < 1.0:
            raise ValueError(f"stall_probability must lie in [0, 1), got {stall_probability}")
        self.stall_probability = stall_probability
        self.rng = random.Random(seed)
        self._task = None

    def stall(self) -> bool:
        """Draw one cycle: stall it? (No draw at all when stalls are off, so seeds stay comparable.)"""
        return self.stall_probability > 0 and self.rng.random() < self.stall_probability

    @abstractmethod
    async def _run(self) -> None:
        """The component's cycle loop; it never returns."""

    def start(self):
        import cocotb

        if self._task is None:
            self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
