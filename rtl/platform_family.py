"""The FPGA family an elaboration targets, read in one place.

Why: a few components pick between equivalent forms of their logic by FPGA family (the same results bit for
bit, a different cost on each fabric). They all ask here, so the rule for reading a platform is written once:
the platform's `family` attribute in lower case ("ecp5", "ice40"), or "" when there is no platform (simulation,
the SKY130 netlist) or it names no family.
"""

from __future__ import annotations


def platform_family(platform) -> str:
    """The lower-case `family` of an Amaranth platform, or "" for none (module docstring)."""
    return str(getattr(platform, "family", "") or "").lower()


def on_family(platform, families: tuple[str, ...]) -> bool:
    """Whether the platform's family is one of `families` (lower-case names)."""
    return platform_family(platform) in families
