"""The portable C driver from Python: build it against a design's header, and call it through ctypes.

`compile_driver_library(spec, out_dir)` writes the design's register header (firmware.generate) and builds
aimc_driver.c into a shared library; `Driver` loads it with HAL callbacks into Python, so host tests and
cocotb benches run the very C code a microcontroller would run against the RTL or a model.

The status codes and the structures (aimc_hal_t, aimc_dev_t, aimc_prog_report_t, aimc_layer_t, and the chip
program's aimc_program_t with its layers and segments) are read from aimc_driver.h (firmware.c_header_types),
so the binding cannot drift from the header.

Chip programs: `Driver.load_program(program)` takes an aimcgen.contract.chip_program.ChipProgram (the
aimc_program_t is built in memory by `program_struct`) or the name of a program compiled into the library
(firmware.program_c tables passed as extra_sources, e.g. "digits_mlp_program"); `Driver.run_network(x_codes)`
runs the loaded program and returns (output codes, predictions).
"""

from __future__ import annotations

import ctypes as C
from pathlib import Path

from aimcgen.firmware.c_header_types import read_header
from aimcgen.firmware.generate import write_firmware
from aimcgen.spec import DesignSpec
from aimcgen.firmware.program_c import CONV_FIELDS, conv_values, stride_of


def driver_sources() -> tuple[Path, Path]:
    """The portable C driver (aimc_driver.c, aimc_driver.h), shipped as package data beside this module."""
    root = Path(__file__).resolve().parent
    return root / "aimc_driver.c", root / "aimc_driver.h"


# The calibration routines (aimc_calibrate.c/.h, bound in firmware.c_calibration) are built into every library.
CALIBRATION_SOURCE = Path(__file__).resolve().parent / "aimc_calibrate.c"


def compile_driver_library(spec: DesignSpec, out_dir, *, cc: str = "gcc", extra_sources=(),
                           flags=("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1")) -> Path:
    """Generate the header of `spec` into `out_dir` and build the driver as a shared library there.

    Returns the library path (`libaimc_<name>.so`). Raises RuntimeError with the compiler's output on failure.
    """
    import subprocess

    out = Path(out_dir)
    paths = write_firmware(spec, out)
    source, header = driver_sources()
    lib = out / f"libaimc_{spec.name}.so"
    cmd = [cc, *flags, "-fPIC", "-shared", f"-I{header.parent}", f"-I{out}",
           f'-DAIMC_REGS_HEADER="{paths["header"].name}"', str(source), str(CALIBRATION_SOURCE),
           *map(str, extra_sources), "-o", str(lib)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"driver build failed: {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    return lib


class BusError(Exception):
    """Raised by a HAL callback (Python side) to make the driver see a bus error."""


HEADER_TYPES = read_header(driver_sources()[1])
STATUS_CODE = dict(HEADER_TYPES.enums["aimc_status_t"])
AIMC_STATUS = {code: name for name, code in STATUS_CODE.items()}
Hal = HEADER_TYPES.structs["aimc_hal_t"]
Dev = HEADER_TYPES.structs["aimc_dev_t"]
Report = HEADER_TYPES.structs["aimc_prog_report_t"]
Layer = HEADER_TYPES.structs["aimc_layer_t"]
Program = HEADER_TYPES.structs["aimc_program_t"]
ProgramLayer = HEADER_TYPES.structs["aimc_program_layer_t"]
ProgramSegment = HEADER_TYPES.structs["aimc_program_segment_t"]
Conv = HEADER_TYPES.structs["aimc_conv_t"]
STEP_CODE = dict(HEADER_TYPES.enums["aimc_host_step_t"])
SEGMENT_CODE = dict(HEADER_TYPES.enums["aimc_segment_driver_t"])
LAYER_KIND = dict(HEADER_TYPES.enums["aimc_layer_kind_t"])
READ32, WRITE32 = (dict(Hal._fields_)[name] for name in ("read32", "write32"))


def _steps(steps) -> list[int]:
    codes = [STEP_CODE[f"AIMC_STEP_{s.upper()}"] for s in steps]
    if len(codes) >= 4:
        raise ValueError(f"host steps {steps}: aimc_program_t holds at most 3")
    return codes + [STEP_CODE["AIMC_STEP_NONE"]] * (4 - len(codes))


def program_struct(program, max_batch: int = 64):
    """(aimc_program_t, the ctypes arrays it points to) of a ChipProgram; keep both alive while it is used.

    The tables are those firmware.program_c writes as C source; the workspace holds `max_batch` inferences."""
    import numpy as np

    keep = []

    def array(ctype, values):
        values = [int(v) for v in np.asarray(values).ravel()]
        arr = (ctype * max(1, len(values)))(*values)
        keep.append(arr)
        return arr

    rows, cols = program.logical_shape
    layers = (ProgramLayer * len(program.layers))()
    for item, l in zip(layers, program.layers):
        item.kind = LAYER_KIND["AIMC_LAYER_CONV" if l.kind == "conv" else "AIMC_LAYER_DENSE"]
        item.segment = l.segment
        item.row_start, item.row_end = l.row_range
        item.col_start, item.col_end = l.col_range
        item.in_features, item.out_features, item.positions = l.in_features, l.out_features, l.positions
        item.host_relu = int(bool(l.host_relu))
        g = conv_values(l)
        item.conv = Conv(*(g[k] for k in CONV_FIELDS))
    segments = (ProgramSegment * len(program.segments))()
    for item, s in zip(segments, program.segments):
        item.driver = SEGMENT_CODE["AIMC_SEGMENT_" + s.driver.upper()]
        item.first_layer, item.last_layer = min(s.layers), max(s.layers)
        descriptors = (Layer * len(s.descriptors))(*[Layer(int(a), int(b)) for a, b in s.descriptors])
        keep.append(descriptors)
        item.descriptors = C.cast(descriptors, C.POINTER(Layer))
        item.n_descriptors = len(s.descriptors)
        item.host_before[:] = _steps(s.host_before)
        item.host_after[:] = _steps(s.host_after)
    stride = stride_of(program)
    names = [program.network.encode(), program.spec_name.encode()]
    keep += [layers, segments, names]
    p = Program()
    p.network, p.spec_name = names
    p.spec_hash, p.logical_rows, p.logical_cols = program.spec_hash, rows, cols
    p.max_magnitude = int(program.input["max_magnitude"])
    p.x_scale, p.x_zero = float(program.input["x_scale"]), float(program.input["x_zero"])
    p.weights = C.cast(array(C.c_int16, program.weights), C.POINTER(C.c_int16))
    p.scale = C.cast(array(C.c_int32, program.scale), C.POINTER(C.c_int32))
    p.offset = C.cast(array(C.c_int32, program.offset), C.POINTER(C.c_int32))
    p.layers, p.n_layers = C.cast(layers, C.POINTER(ProgramLayer)), len(program.layers)
    p.segments, p.n_segments = C.cast(segments, C.POINTER(ProgramSegment)), len(program.segments)
    p.host_final[:] = _steps(program.host_final)
    p.in_features, p.out_features = program.layers[0].in_features, program.layers[-1].out_features
    p.stride = stride
    p.workspace = C.cast(array(C.c_int32, np.zeros(2 * max_batch * stride)), C.POINTER(C.c_int32))
    p.max_batch = max_batch
    return p, keep


class DriverError(Exception):
    def __init__(self, function: str, status: int, text: str):
        super().__init__(f"{function}: {AIMC_STATUS.get(status, status)} ({text})")
        self.function, self.status = function, status


class Driver:
    """The C driver (a shared library from `compile_driver_library`) with HAL callbacks into Python.

    `read(offset) -> int` and `write(offset, value)` perform bus accesses (byte offsets); raising BusError
    makes the HAL report a bus error. Other exceptions in a callback also end the access with a bus error
    and are re-raised after the C call returns. Methods raise DriverError on a nonzero status unless
    `check=False` (then the status is returned first).
    """

    def __init__(self, library, spec: DesignSpec, read, write):
        self.C, self.spec = C, spec
        self.lib = C.CDLL(str(library))
        self.read_cb, self.write_cb = read, write
        self._pending: BaseException | None = None
        self.Report, self.Layer = Report, Layer
        self.program = None                         # the aimc_program_t of the last load_program
        self._program_refs = None

        def c_read(ctx, offset, value):
            try:
                value[0] = int(self.read_cb(int(offset))) & 0xFFFFFFFF
                return 0
            except BusError:
                return 1
            except BaseException as exc:          # noqa: BLE001 - re-raised after the C call
                self._pending = self._pending or exc
                return 1

        def c_write(ctx, offset, value):
            try:
                self.write_cb(int(offset), int(value))
                return 0
            except BusError:
                return 1
            except BaseException as exc:          # noqa: BLE001
                self._pending = self._pending or exc
                return 1

        self._read_fn, self._write_fn = READ32(c_read), WRITE32(c_write)  # keep the thunks alive
        self.hal = Hal(self._read_fn, self._write_fn, None)
        self.dev = Dev()
        self.lib.aimc_strerror.restype = C.c_char_p
        self.lib.aimc_error_name.restype = C.c_char_p
        self.lib.aimc_error_name.argtypes = [C.c_uint32]

    # helpers
    def _i32(self, values):
        import numpy as np
        values = np.ascontiguousarray(np.asarray(values, dtype=np.int64).reshape(-1))
        arr = (self.C.c_int32 * max(1, len(values)))(*[int(v) for v in values])
        return arr

    def _call(self, name, *args, check=True):
        self._pending = None
        status = getattr(self.lib, name)(*args)
        if self._pending is not None:
            exc, self._pending = self._pending, None
            raise exc
        if check and status:
            raise DriverError(name, status, self.strerror(status))
        return status

    def strerror(self, status: int) -> str:
        return self.lib.aimc_strerror(status).decode()

    def error_name(self, errors: int) -> str:
        return self.lib.aimc_error_name(errors).decode()

    @property
    def polls(self) -> int:
        return self.dev.polls

    # API
    def init(self, timeout_polls: int = 0, check=True):
        C = self.C
        return self._call("aimc_init", C.byref(self.dev), C.byref(self.hal), C.c_uint32(timeout_polls),
                          check=check)

    def read_errors(self) -> int:
        v = self.C.c_uint32()
        self._call("aimc_read_errors", self.C.byref(self.dev), self.C.byref(v))
        return v.value

    def clear_errors(self, mask: int = 0xFFFFFFFF, check=True):
        return self._call("aimc_clear_errors", self.C.byref(self.dev), self.C.c_uint32(mask), check=check)

    def program_weights(self, w, tolerance: int = 0, max_retries: int = 3, check=True):
        """Returns (status, report dict)."""
        import numpy as np
        w = np.asarray(w)
        rows, cols = w.shape
        rep = self.Report()
        status = self._call("aimc_program_weights", self.C.byref(self.dev), self._i32(w), self.C.c_uint32(rows),
                            self.C.c_uint32(cols), self.C.c_uint32(cols), self.C.c_uint32(tolerance),
                            self.C.c_uint32(max_retries), self.C.byref(rep), check=check)
        return status, {n: getattr(rep, n) for n, _ in rep._fields_}

    def load_coefficients(self, first: int, scale=None, offset=None, check=True):
        count = len(scale) if scale is not None else len(offset)
        return self._call("aimc_load_coefficients", self.C.byref(self.dev), self.C.c_uint32(first),
                          self.C.c_uint32(count), None if scale is None else self._i32(scale),
                          None if offset is None else self._i32(offset), check=check)

    def read_coefficients(self, first: int, count: int):
        scale, offset = (self.C.c_int32 * count)(), (self.C.c_int32 * count)()
        self._call("aimc_read_coefficients", self.C.byref(self.dev), self.C.c_uint32(first), self.C.c_uint32(count),
                   scale, offset)
        return list(scale), list(offset)

    def mvm(self, x, n_out: int | None = None, check=True):
        import numpy as np
        n_out = self.spec.logical_cols if n_out is None else n_out
        y = (self.C.c_int32 * max(1, n_out))()
        status = self._call("aimc_mvm", self.C.byref(self.dev), self._i32(x), y, self.C.c_uint32(n_out),
                            check=check)
        out = np.array(list(y)[:n_out], dtype=np.int64)
        return (status, out) if not check else out

    def run_batch(self, xs, n_out: int | None = None):
        import numpy as np
        xs = np.asarray(xs)
        n_out = self.spec.logical_cols if n_out is None else n_out
        ys = (self.C.c_int32 * max(1, len(xs) * n_out))()
        self._call("aimc_run_batch", self.C.byref(self.dev), self._i32(xs), self.C.c_uint32(len(xs)), ys,
                   self.C.c_uint32(n_out))
        return np.array(list(ys)[:len(xs) * n_out], dtype=np.int64).reshape(len(xs), n_out)

    def _layers(self, layers):
        arr = (self.Layer * len(layers))()
        for i, (start, count) in enumerate(layers):
            arr[i].start, arr[i].count = start, count
        return arr

    def set_layers(self, layers, check=True):
        return self._call("aimc_set_layers", self.C.byref(self.dev), self._layers(layers),
                          self.C.c_uint32(len(layers)), check=check)

    def run_chain(self, layers, xs, n_out: int | None = None):
        import numpy as np
        xs = np.asarray(xs)
        if n_out is None:
            start, count = layers[-1]
            n_out = count or self.spec.logical_cols - start
        ys = (self.C.c_int32 * max(1, len(xs) * n_out))()
        self._call("aimc_run_chain", self.C.byref(self.dev), self._layers(layers), self.C.c_uint32(len(layers)),
                   self._i32(xs), self.C.c_uint32(len(xs)), ys, self.C.c_uint32(n_out))
        return np.array(list(ys)[:len(xs) * n_out], dtype=np.int64).reshape(len(xs), n_out)

    def gdc_measure(self, cal_xs, base_scale) -> int:
        import numpy as np
        cal_xs = np.asarray(cal_xs)
        v = self.C.c_uint64()
        self._call("aimc_gdc_measure", self.C.byref(self.dev), self._i32(cal_xs), self.C.c_uint32(len(cal_xs)),
                   self._i32(base_scale), self.C.byref(v))
        return v.value

    def gdc_calibrate(self, cal_xs, reference: int, base_scale, base_offset=None, check=True):
        """Returns (status, new scales, gain Q16.16)."""
        import numpy as np
        cal_xs = np.asarray(cal_xs)
        cols = self.spec.logical_cols
        new = (self.C.c_int32 * cols)()
        gain = self.C.c_uint32()
        status = self._call("aimc_gdc_calibrate", self.C.byref(self.dev), self._i32(cal_xs),
                            self.C.c_uint32(len(cal_xs)), self.C.c_uint64(reference), self._i32(base_scale),
                            None if base_offset is None else self._i32(base_offset), new, self.C.byref(gain),
                            check=check)
        return status, np.array(list(new), dtype=np.int64), gain.value

    # Chip programs
    def use_program(self, program, max_batch: int = 64):
        """Select the program (ChipProgram, or the symbol name of a compiled-in aimc_program_t) without
        loading it into the chip; returns the aimc_program_t."""
        if isinstance(program, str):
            self.program, self._program_refs = Program.in_dll(self.lib, program), None
        else:
            self.program, self._program_refs = program_struct(program, max_batch)
        return self.program

    def load_program(self, program, tolerance: int = 0, max_retries: int = 3, check=True, max_batch: int = 64):
        """aimc_load_program (spec hash check, program-and-verify of the non-zero weights, coefficients).
        Returns (status, report dict); DriverError on a nonzero status when check."""
        p = self.use_program(program, max_batch)
        rep = self.Report()
        status = self._call("aimc_load_program", self.C.byref(self.dev), self.C.byref(p),
                            self.C.c_uint32(tolerance), self.C.c_uint32(max_retries), self.C.byref(rep),
                            check=check)
        return status, {n: getattr(rep, n) for n, _ in rep._fields_}

    def run_network(self, x_codes, check=True):
        """aimc_run_network of the loaded program on x_codes (batch x in_features): returns
        (output codes batch x out_features, predictions batch) -- (status, codes, predictions) if not check."""
        import numpy as np
        if self.program is None:
            raise ValueError("run_network: no program loaded (load_program first)")
        p = self.program
        xs = np.atleast_2d(np.asarray(x_codes, dtype=np.int64))
        batch = len(xs)
        if xs.shape[1] != p.in_features:
            raise ValueError(f"run_network: {xs.shape[1]} input codes per inference, the program takes "
                             f"{p.in_features}")
        ys = (self.C.c_int32 * max(1, batch * p.out_features))()
        pred = (self.C.c_uint32 * max(1, batch))()
        status = self._call("aimc_run_network", self.C.byref(self.dev), self.C.byref(p), self._i32(xs),
                            self.C.c_uint32(batch), ys, pred, check=check)
        codes = np.array(list(ys)[:batch * p.out_features], dtype=np.int64).reshape(batch, p.out_features)
        predictions = np.array(list(pred)[:batch], dtype=np.int64)
        return (status, codes, predictions) if not check else (codes, predictions)
