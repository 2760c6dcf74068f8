"""The ctypes binding of the C driver is read from aimc_driver.h: its layout must be the C compiler's.

A tiny C program (built with gcc in tmp_path) prints sizeof, _Alignof and each member's offsetof and sizeof
for every struct the reader found, and the value of every enumerator; ctypes must agree on all of them.
Offsets rising in the parsed order show the members are in declaration order.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest

from aimcgen.firmware import c_driver
from aimcgen.firmware.c_header_types import HeaderTypes, parse_header, read_header

HEADER = c_driver.driver_sources()[1]

EXTRA = """
#include <stdint.h>
typedef enum { E_A, E_B = 5, E_C, E_D = -2, E_E } extra_enum_t;   /* implicit values follow the last */
typedef struct { uint8_t tag; uint64_t wide; } extra_inner_t;
typedef struct {
    char c;                                   // padding before the struct member
    extra_inner_t inner;
    const char *text;
    uint16_t shorts[3];
    int32_t *(*pick)(void *ctx, unsigned int, int32_t *values);
    void (*done)(void);
    extra_enum_t kind;
    unsigned int u;
} extra_t;
"""


def c_layout(tmp_path, include: str, types: HeaderTypes) -> list[str]:
    """What gcc says about `types` (lines `name size align`, `name.member offset size`, `ENUMERATOR value`)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "aimc_regs.h").write_text("/* no registers needed for the types */\n")
    lines = []
    for name, struct in types.structs.items():
        lines.append(f'printf("{name} %zu %zu\\n", sizeof({name}), (size_t)_Alignof({name}));')
        for member, _ in struct._fields_:
            lines.append(f'printf("{name}.{member} %zu %zu\\n", offsetof({name}, {member}), '
                         f'sizeof((({name} *)0)->{member}));')
    for values in types.enums.values():
        lines += [f'printf("{key} %d\\n", (int){key});' for key in values]
    source = tmp_path / "layout.c"
    source.write_text(f'#include <stddef.h>\n#include <stdio.h>\n#include "{include}"\n'
                      "int main(void) {\n    " + "\n    ".join(lines) + "\n    return 0;\n}\n")
    exe = tmp_path / "layout"
    cmd = ["gcc", "-std=c11", "-Wall", "-Werror", f"-I{tmp_path}", f"-I{HEADER.parent}", str(source), "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()


def ctypes_layout(types: HeaderTypes) -> list[str]:
    """The same lines from the ctypes types."""
    lines = []
    for name, struct in types.structs.items():
        lines.append(f"{name} {ctypes.sizeof(struct)} {ctypes.alignment(struct)}")
        lines += [f"{name}.{member} {getattr(struct, member).offset} {getattr(struct, member).size}"
                  for member, _ in struct._fields_]
    for values in types.enums.values():
        lines += [f"{key} {value}" for key, value in values.items()]
    return lines


def check_order(lines: list[str]) -> None:
    offsets: dict[str, list[int]] = {}
    for line in lines:
        key, *numbers = line.split()
        if "." in key:
            offsets.setdefault(key.split(".")[0], []).append(int(numbers[0]))
    for name, found in offsets.items():
        assert found == sorted(set(found)), f"{name}: members not in declaration order: {found}"


def test_driver_header_layout_is_the_compilers(tmp_path):
    types = read_header(HEADER)
    assert list(types.structs) == ["aimc_hal_t", "aimc_dev_t", "aimc_prog_report_t", "aimc_layer_t", "aimc_conv_t",
                                   "aimc_program_layer_t", "aimc_program_segment_t", "aimc_program_t"]
    assert list(types.enums) == ["aimc_status_t", "aimc_host_step_t", "aimc_segment_driver_t", "aimc_layer_kind_t"]
    compiled = c_layout(tmp_path, "aimc_driver.h", types)
    assert ctypes_layout(types) == compiled
    check_order(compiled)


def test_a_header_with_every_supported_member_kind(tmp_path):
    (tmp_path / "extra.h").write_text(EXTRA)
    types = parse_header(EXTRA)
    assert types.enums["extra_enum_t"] == {"E_A": 0, "E_B": 5, "E_C": 6, "E_D": -2, "E_E": -1}
    assert [m for m, _ in types.structs["extra_t"]._fields_] == ["c", "inner", "text", "shorts", "pick", "done",
                                                                 "kind", "u"]
    compiled = c_layout(tmp_path, "extra.h", types)
    assert ctypes_layout(types) == compiled
    check_order(compiled)


def test_the_binding_uses_the_header_types():
    types = read_header(HEADER)
    assert c_driver.STATUS_CODE == types.enums["aimc_status_t"]
    assert {c_driver.STATUS_CODE[name] for name in c_driver.AIMC_STATUS.values()} == set(c_driver.AIMC_STATUS)
    assert set(c_driver.AIMC_STATUS.values()) == set(types.enums["aimc_status_t"])      # every status has a code
    assert c_driver.STATUS_CODE["AIMC_OK"] == 0 and all(code < 0 for name, code in c_driver.STATUS_CODE.items()
                                                        if name != "AIMC_OK")
    for binding, name in ((c_driver.Hal, "aimc_hal_t"), (c_driver.Dev, "aimc_dev_t"),
                          (c_driver.Report, "aimc_prog_report_t"), (c_driver.Layer, "aimc_layer_t")):
        assert [m for m, _ in binding._fields_] == [m for m, _ in types.structs[name]._fields_]
        assert ctypes.sizeof(binding) == ctypes.sizeof(types.structs[name])
    read32 = dict(c_driver.Hal._fields_)["read32"]
    assert read32._restype_ is ctypes.c_int
    assert [t.__name__ for t in read32._argtypes_] == ["c_void_p", ctypes.c_uint32.__name__, "LP_c_uint"]


@pytest.mark.parametrize("header, message", [
    ("typedef struct { float128 x; } t;", "struct t x: C type 'float128' has no ctypes mapping"),
    ("typedef struct { void v; } t;", "struct t: cannot read the member 'void v'"),
    ("typedef struct { uint32_t; } t;", "struct t: cannot read the member 'uint32_t'"),
    ("typedef struct { uint32_t a, b; } t;", "C type 'uint32_t a' has no ctypes mapping"),
    ("typedef struct { int x[N]; } t;", "array sizes must be decimal numbers"),
    ("typedef enum { A = B + 1 } e;", "enum e A: cannot read the value 'B \\+ 1'"),
])
def test_unsupported_declarations_fail_loudly(header, message):
    with pytest.raises(ValueError, match=message):
        parse_header(header)
