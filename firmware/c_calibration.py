"""The C calibration routines (aimc_calibrate.c) from Python, on a `firmware.c_driver.Driver`.

Why a module of its own: the routines are an add-on to the driver (their own header); their structures and
status codes are read from aimc_calibrate.h like the driver's from aimc_driver.h, so the binding cannot
drift from the C. `fit_column` calls the pure rule (no bus), which tests compare with
aimcgen.contract.calibration bit for bit; the others run on the driver's HAL.
"""

from __future__ import annotations

import ctypes as C
from pathlib import Path

import numpy as np

from aimcgen.contract.calibration import CentringCounts, ColumnSums, MeasurementWindow
from aimcgen.firmware.c_driver import Driver
from aimcgen.firmware.c_header_types import read_header

CALIBRATION_HEADER = Path(__file__).resolve().parent / "aimc_calibrate.h"
TYPES = read_header(CALIBRATION_HEADER)
CAL_STATUS = dict(TYPES.enums["aimc_cal_status_t"])
DRIFT_MODE = dict(TYPES.enums["aimc_drift_mode_t"])
Window = TYPES.structs["aimc_cal_window_t"]
Sums = TYPES.structs["aimc_cal_sums_t"]
Centring = TYPES.structs["aimc_cal_centring_t"]


def c_sums(sums: ColumnSums) -> Sums:
    """The aimc_cal_sums_t of Python sums (range set as aimc_cal_add would have set it)."""
    c = Sums()
    c.n, c.sq, c.sy, c.sqq, c.sqy, c.max_q, c.max_y = (sums.n, sums.sq, sums.sy, sums.sqq, sums.sqy,
                                                        sums.max_q, sums.max_y)
    c.range = int(sums.n * sums.max_q >= 1 << 31 or sums.n * sums.max_y >= 1 << 31)
    return c


def c_window(window: MeasurementWindow) -> Window:
    return Window(window.offset, window.low, window.high)


class CalibrationDriver:
    """aimc_calibrate.h's functions on a Driver (its library, device and HAL)."""

    def __init__(self, driver: Driver):
        self.drv, self.lib = driver, driver.lib
        self.cols = driver.spec.logical_cols

    def add_samples(self, q, y_out, window: MeasurementWindow) -> list:
        """aimc_cal_add of every sample (q, y_out: n x cols) into fresh sums; returns the aimc_cal_sums_t."""
        q, y_out = np.asarray(q, dtype=np.int64), np.asarray(y_out, dtype=np.int64)
        w = c_window(window)
        out = []
        for j in range(q.shape[1]):
            s = Sums()
            for qk, yk in zip(q[:, j], y_out[:, j]):
                self.lib.aimc_cal_add(C.byref(s), C.c_int64(int(qk)), C.c_int32(int(yk)), C.byref(w))
            out.append(s)
        return out

    def fit_column(self, sums, target_scale: int, target_offset: int) -> tuple[int, int, int]:
        """aimc_cal_fit: (scale, offset, status) of one column; `sums` a ColumnSums or aimc_cal_sums_t."""
        c = c_sums(sums) if isinstance(sums, ColumnSums) else sums
        scale, offset = C.c_int32(), C.c_int32()
        status = self.lib.aimc_cal_fit(C.byref(c), C.c_int32(int(target_scale)), C.c_int32(int(target_offset)),
                                       C.byref(scale), C.byref(offset))
        return scale.value, offset.value, status

    def centring_step(self, counts: CentringCounts, window: MeasurementWindow) -> int:
        """aimc_cal_centring_step of a column's counts (no bus)."""
        c = Centring()
        c.n, c.inside, c.above, c.below, c.sum_inside = (counts.n, counts.inside, counts.above, counts.below,
                                                         counts.sum_inside)
        return int(self.lib.aimc_cal_centring_step(C.byref(c), C.byref(c_window(window))))

    def centring_counts(self, y_out, window: MeasurementWindow) -> list[CentringCounts]:
        """aimc_cal_centring_add of every read-out (n x cols) into fresh counts, as CentringCounts."""
        y_out = np.asarray(y_out, dtype=np.int64)
        w = c_window(window)
        out = []
        for j in range(y_out.shape[1]):
            c = Centring()
            for yk in y_out[:, j]:
                self.lib.aimc_cal_centring_add(C.byref(c), C.c_int32(int(yk)), C.byref(w))
            out.append(CentringCounts(c.n, c.inside, c.above, c.below, c.sum_inside))
        return out

    def calibrate_columns_centred(self, weights, xs, window: MeasurementWindow, rounds: int, target_scale,
                                  target_offset, check: bool = True):
        """aimc_calibrate_columns_centred: returns (status, new scale codes, new offset codes, per-column
        status, trims)."""
        drv, cols = self.drv, self.cols
        w = np.asarray(weights)
        xs = np.asarray(xs)
        st = np.broadcast_to(np.asarray(target_scale), (cols,))
        ot = np.broadcast_to(np.asarray(target_offset), (cols,))
        new_scale, new_offset, trim = (C.c_int32 * cols)(), (C.c_int32 * cols)(), (C.c_int32 * cols)()
        status = (C.c_uint8 * cols)()
        rc = drv._call("aimc_calibrate_columns_centred", C.byref(drv.dev), drv._i32(w), C.c_uint32(w.shape[1]),
                       drv._i32(xs), C.c_uint32(len(xs)), C.byref(c_window(window)), C.c_uint32(int(rounds)),
                       drv._i32(st), drv._i32(ot), new_scale, new_offset, status, trim, check=check)
        return (rc, np.array(list(new_scale)), np.array(list(new_offset)), np.array(list(status)),
                np.array(list(trim)))

    def calibrate_columns(self, weights, xs, window: MeasurementWindow, target_scale, target_offset,
                          check: bool = True):
        """aimc_calibrate_columns: returns (status, new scale codes, new offset codes, per-column status)."""
        drv, cols = self.drv, self.cols
        w = np.asarray(weights)
        xs = np.asarray(xs)
        st = np.broadcast_to(np.asarray(target_scale), (cols,))
        ot = np.broadcast_to(np.asarray(target_offset), (cols,))
        new_scale, new_offset, status = (C.c_int32 * cols)(), (C.c_int32 * cols)(), (C.c_uint8 * cols)()
        rc = drv._call("aimc_calibrate_columns", C.byref(drv.dev), drv._i32(w), C.c_uint32(w.shape[1]),
                       drv._i32(xs), C.c_uint32(len(xs)), C.byref(c_window(window)), drv._i32(st), drv._i32(ot),
                       new_scale, new_offset, status, check=check)
        return rc, np.array(list(new_scale)), np.array(list(new_offset)), np.array(list(status))

    def pcdc_measure(self, cal_xs, base_scale) -> np.ndarray:
        drv = self.drv
        cal_xs = np.asarray(cal_xs)
        out = (C.c_uint64 * self.cols)()
        drv._call("aimc_pcdc_measure", C.byref(drv.dev), drv._i32(cal_xs), C.c_uint32(len(cal_xs)),
                  drv._i32(base_scale), out)
        return np.array(list(out), dtype=np.int64)

    def pcdc_rescale(self, base_scale, reference, readout) -> np.ndarray:
        base = np.asarray(base_scale)
        n = len(base)
        ref, now, out = (C.c_uint64 * n)(*map(int, reference)), (C.c_uint64 * n)(*map(int, readout)), (C.c_int32 * n)()
        self.drv._call("aimc_pcdc_rescale", self.drv._i32(base), C.c_uint32(n), ref, now, out)
        return np.array(list(out), dtype=np.int64)

    def drift_compensate(self, mode: str, cal_xs, reference, base_scale, base_offset=None, check: bool = True):
        """aimc_drift_compensate, mode "global" or "per_column": returns (status, new scale codes)."""
        drv = self.drv
        cal_xs = np.asarray(cal_xs)
        ref = (C.c_uint64 * self.cols)(*map(int, reference))
        out = (C.c_int32 * self.cols)()
        rc = drv._call("aimc_drift_compensate", C.byref(drv.dev), C.c_uint32(DRIFT_MODE[f"AIMC_DRIFT_{mode.upper()}"]),
                       drv._i32(cal_xs), C.c_uint32(len(cal_xs)), ref, drv._i32(base_scale),
                       None if base_offset is None else drv._i32(base_offset), out, check=check)
        return rc, np.array(list(out), dtype=np.int64)
