"""The C driver's per-row-tile gain trims (aimc_load_tile_gains, aimc_cal_tile_gain,
aimc_calibrate_tile_gains) from Python, on a `firmware.c_driver.Driver`.

Why a module of its own: the trims are an add-on to the calibration routines (firmware.c_calibration binds
those); `tile_gain` calls the pure rule (no bus), which tests compare with
aimcgen.contract.tile_gain_calibration bit for bit; the others run on the driver's HAL.
"""

from __future__ import annotations

import ctypes as C

import numpy as np

from aimcgen.contract.calibration import ColumnSums, MeasurementWindow
from aimcgen.firmware.c_calibration import c_sums, c_window
from aimcgen.firmware.c_driver import Driver


class TileGainDriver:
    """aimc_load_tile_gains and the trim calibration on a Driver (its library, device and HAL)."""

    def __init__(self, driver: Driver):
        self.drv, self.lib = driver, driver.lib
        self.spec = driver.spec
        self.cols = driver.spec.logical_cols
        self.words = (driver.spec.array.row_tiles - 1) * self.cols

    def load_tile_gains(self, gains, check: bool = True) -> int:
        """aimc_load_tile_gains of (row_tiles - 1) x logical_cols trims."""
        g = np.asarray(gains, dtype=np.int64).reshape(-1)
        return self.drv._call("aimc_load_tile_gains", C.byref(self.drv.dev), self.drv._i32(g), check=check)

    def tile_gain(self, reference: ColumnSums, tile: ColumnSums, gain_bits: int) -> tuple[int, int]:
        """aimc_cal_tile_gain: (trim, status) of one column."""
        gain = C.c_int32()
        status = self.lib.aimc_cal_tile_gain(C.byref(c_sums(reference)), C.byref(c_sums(tile)),
                                             C.c_uint32(int(gain_bits)), C.byref(gain))
        return gain.value, status

    def calibrate_tile_gains(self, weights, xs, window: MeasurementWindow, rounds: int, target_scale,
                             target_offset, tile_xs=None, check: bool = True) -> dict:
        """aimc_calibrate_tile_gains: {"cal_status", "gains", "gain_status", "scale", "offset", "status",
        "trim"} (trims as (row_tiles - 1, logical_cols)). tile_xs: row_tiles sets of the same length, or None."""
        drv, cols = self.drv, self.cols
        w, xs = np.asarray(weights), np.atleast_2d(np.asarray(xs))
        st = np.broadcast_to(np.asarray(target_scale), (cols,))
        ot = np.broadcast_to(np.asarray(target_offset), (cols,))
        if tile_xs is None:
            blocks, tile_n = None, 0
        else:
            sets = [np.atleast_2d(np.asarray(t)) for t in tile_xs]
            if len({len(t) for t in sets}) != 1:
                raise ValueError("aimc_calibrate_tile_gains: every row tile takes the same number of vectors")
            blocks, tile_n = drv._i32(np.concatenate(sets)), len(sets[0])
        words = max(1, self.words)
        gains, gain_status = (C.c_int32 * words)(), (C.c_uint8 * words)()
        new_scale, new_offset, trim = (C.c_int32 * cols)(), (C.c_int32 * cols)(), (C.c_int32 * cols)()
        status = (C.c_uint8 * cols)()
        rc = drv._call("aimc_calibrate_tile_gains", C.byref(drv.dev), drv._i32(w), C.c_uint32(w.shape[1]),
                       drv._i32(xs), C.c_uint32(len(xs)), blocks, C.c_uint32(tile_n), C.byref(c_window(window)),
                       C.c_uint32(int(rounds)), drv._i32(st), drv._i32(ot), gains, gain_status, new_scale,
                       new_offset, status, trim, check=check)
        shape = (self.spec.array.row_tiles - 1, cols)
        return {"cal_status": rc, "gains": np.array(list(gains)[:self.words]).reshape(shape),
                "gain_status": np.array(list(gain_status)[:self.words]).reshape(shape),
                "scale": np.array(list(new_scale)), "offset": np.array(list(new_offset)),
                "status": np.array(list(status)), "trim": np.array(list(trim))}
