"""ctypes types read from a C header, so the Python binding of the C driver cannot drift from aimc_driver.h.

`read_header(path)` (or `parse_header(text)`) finds every `typedef enum {...} name;` and `typedef struct
{...} name;` and returns `HeaderTypes`: `enums[name]` is {enumerator: value} in declaration order (explicit
integer values, or the previous value + 1), `structs[name]` a `ctypes.Structure` whose `_fields_` follow the
members in order, so ctypes lays them out as the C compiler does.

Members understood: the integer types of <stdint.h> and the C basic integer types, `void *` (c_void_p),
`char *` (c_char_p), pointers to those or to earlier typedef'd structs (POINTER), fixed-size arrays
(`uint32_t x[4]`), earlier typedef'd structs by value, and function pointers
`ret (*name)(type param, ...)` (CFUNCTYPE). Anything else raises ValueError naming the member: the reader
fails rather than guess. Comments and preprocessor lines are ignored; nested anonymous structs are not
supported.
"""

from __future__ import annotations

import ctypes as C
import re
from dataclasses import dataclass, field
from pathlib import Path

BASIC_TYPES = {
    "void": None, "char": C.c_char, "signed char": C.c_byte, "unsigned char": C.c_ubyte,
    "short": C.c_short, "unsigned short": C.c_ushort, "int": C.c_int, "signed": C.c_int,
    "signed int": C.c_int, "unsigned": C.c_uint, "unsigned int": C.c_uint, "long": C.c_long,
    "unsigned long": C.c_ulong, "long long": C.c_longlong, "unsigned long long": C.c_ulonglong,
    "size_t": C.c_size_t, "float": C.c_float, "double": C.c_double,
    "int8_t": C.c_int8, "uint8_t": C.c_uint8, "int16_t": C.c_int16, "uint16_t": C.c_uint16,
    "int32_t": C.c_int32, "uint32_t": C.c_uint32, "int64_t": C.c_int64, "uint64_t": C.c_uint64,
}
QUALIFIERS = {"const", "volatile", "restrict"}
TYPE_WORDS = {"void", "char", "short", "int", "long", "signed", "unsigned", "float", "double"}
_TYPEDEF = re.compile(r"typedef\s+(struct|enum)\s*(?:\w+\s*)?\{(.*?)\}\s*(\w+)\s*;", re.S)
_FUNCTION_POINTER = re.compile(r"^(.*?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)$", re.S)


@dataclass
class HeaderTypes:
    """The typedefs of one header: enums {name: {enumerator: value}}, structs {name: ctypes.Structure}."""
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    structs: dict[str, type[C.Structure]] = field(default_factory=dict)


def _strip(text: str) -> str:
    """The header without comments and preprocessor lines (C code only)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _ctype(name: str, stars: int, types: HeaderTypes, where: str):
    """The ctypes type of C type `name` (qualifiers dropped) with `stars` levels of pointer; None: void."""
    if name in types.structs:
        ctype = types.structs[name]
    elif name in types.enums:
        ctype = C.c_int
    elif name in BASIC_TYPES:
        ctype = BASIC_TYPES[name]
    else:
        raise ValueError(f"{where}: C type {name!r} has no ctypes mapping")
    if stars and ctype in (None, C.c_char):
        ctype, stars = (C.c_void_p if ctype is None else C.c_char_p), stars - 1
    for _ in range(stars):
        ctype = C.POINTER(ctype)
    return ctype


def _declaration(text: str, types: HeaderTypes, where: str):
    """(name, or "" when unnamed, ctypes type) of `uint32_t *value`, `uint16_t x[4]`, `void *`, `int`."""
    tokens = re.findall(r"\w+|[*\[\]]", text)
    count = None
    if tokens[-1:] == ["]"]:
        if len(tokens) < 4 or tokens[-3] != "[" or not tokens[-2].isdigit():
            raise ValueError(f"{where}: cannot read {text.strip()!r} (array sizes must be decimal numbers)")
        count, tokens = int(tokens[-2]), tokens[:-3]
    words = [t for t in tokens if t not in QUALIFIERS]
    name = ""
    if sum(w != "*" for w in words) > 1 and words[-1] != "*" and words[-1] not in TYPE_WORDS:
        name, words = words[-1], words[:-1]
    ctype = _ctype(" ".join(w for w in words if w != "*"), words.count("*"), types, f"{where} {name}".rstrip())
    return name, ctype if count is None else ctype * count


def _function_pointer(ret: str, params: str, types: HeaderTypes, where: str):
    restype = _declaration(ret, types, f"{where} return")[1]
    argtypes = [] if params.split() in ([], ["void"]) else \
        [_declaration(p, types, f"{where} parameter")[1] for p in params.split(",")]
    if None in argtypes:
        raise ValueError(f"{where}: a void parameter among others")
    return C.CFUNCTYPE(restype, *argtypes)


def _struct(name: str, body: str, types: HeaderTypes) -> type[C.Structure]:
    members = []
    for member in filter(str.strip, body.split(";")):
        pointer = _FUNCTION_POINTER.match(member.strip())
        if pointer:
            ret, field_name, params = pointer.groups()
            members.append((field_name, _function_pointer(ret, params, types, f"struct {name} {field_name}")))
        else:
            field_name, ctype = _declaration(member, types, f"struct {name}")
            if not field_name or ctype is None:
                raise ValueError(f"struct {name}: cannot read the member {' '.join(member.split())!r}")
            members.append((field_name, ctype))
    return type(name, (C.Structure,), {"_fields_": members})


def _enum(name: str, body: str) -> dict[str, int]:
    values, value = {}, -1
    for item in filter(str.strip, body.split(",")):
        key, _, expr = (part.strip() for part in item.partition("="))
        if expr:
            try:
                value = values[expr] if expr in values else int(expr.replace(" ", ""), 0)
            except ValueError:
                raise ValueError(f"enum {name} {key}: cannot read the value {expr!r}") from None
        else:
            value += 1
        values[key] = value
    return values


def parse_header(text: str) -> HeaderTypes:
    """The enum and struct typedefs of C header `text`, in declaration order."""
    types = HeaderTypes()
    for kind, body, name in _TYPEDEF.findall(_strip(text)):
        if kind == "enum":
            types.enums[name] = _enum(name, body)
        else:
            types.structs[name] = _struct(name, body, types)
    return types


def read_header(path) -> HeaderTypes:
    return parse_header(Path(path).read_text())
