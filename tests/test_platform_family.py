"""rtl.platform_family: the one reading of a platform's FPGA family."""

from types import SimpleNamespace

from aimcgen.rtl.platform_family import on_family, platform_family


def test_family_is_read_in_lower_case():
    assert platform_family(SimpleNamespace(family="ECP5")) == "ecp5"
    assert on_family(SimpleNamespace(family="iCE40"), ("ice40",))


def test_no_platform_or_no_family_is_no_family():
    assert platform_family(None) == ""
    assert platform_family(SimpleNamespace()) == ""
    assert platform_family(SimpleNamespace(family=None)) == ""
    assert not on_family(None, ("ecp5",))
