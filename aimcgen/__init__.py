"""aimcgen: a generator of analog in-memory-compute accelerators.

The design spec (`aimcgen.spec`) drives everything: the golden and physics models (`aimcgen.sim`), the RTL
(`aimcgen.rtl`), board builds (`aimcgen.boards`), ASIC and FPGA flows (`aimcgen.flows`).
"""

from aimcgen.spec import DesignSpec, SpecError

__all__ = ["DesignSpec", "SpecError"]
__version__ = "0.1.0"
