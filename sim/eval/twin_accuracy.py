"""Accuracy of a mapped network from the emulated hardware's arithmetic: the golden model with the digital twin.

Why: the physics back end (sim.eval.backends.PhysicsBackend) estimates accuracy under drift in float; the
emulated tile with `[twin]` on (contract.device_twin, device_twin_drift, device_read_noise) is what the
FPGA and the RTL compute, and the golden model replays it bit for bit. One twin chip here is:

- per layer one GoldenAccelerator on the layer's grid (as GoldenBackend), its spec with programming_error,
  drift, read_noise and stuck "on" and noise.seed = twin_seed(chip, layer) (each layer on tiles of its own:
  layers with one seed would replay one another's draws);
- devices erased, then every weight of the logical matrix written once in row-major order (the WEIGHTS
  window's order) as program-and-verify with max_retries = 0: one programming shot, as the physics model
  programs (no retry pulls a device back to its target);
- read at drift epoch e (DRIFT_EPOCH; t = EPOCH_SECONDS[e]);
- global drift compensation as the firmware does it (aimc_gdc_measure / aimc_gdc_rescale,
  contract.calibration.global_rescale): per layer accelerator, R = sum |output| of the layer's calibration
  MVM inputs with the base scales and zero offsets, R0 read right after programming (epoch 0), Rt at the
  epoch; the scales become global_rescale(base, R0, Rt) and the offsets stay the mapping's. The calibration
  MVM inputs are fixed vectors: each layer's inputs for the calibration set on the noise-free golden model
  (GoldenBackend(noise=False)), stored once as a firmware would store them.

The physics back end does the same per-layer digital rule with compensation="digital" (on the same fixed
calibration MVM inputs, sim.eval.backends.calibration_inputs), the like-for-like comparison; its
compensation="analog" is an analog gain per tile before the ADC instead (PhysicsCrossbar.mvm), which spreads
the drifted signal over the ADC's codes again, where the digital rescale keeps the codes where drift left them.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.calibration import drift_readouts, global_rescale
from aimcgen.sim.eval.backends import GoldenBackend, calibration_inputs
from aimcgen.sim.eval.mapping import LayerMapping, NetworkMapping
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.spec import DesignSpec

TWIN_ON = {"programming_error": "on", "drift": "on", "read_noise": "on", "stuck": "on"}
LAYER_SEEDS = 1 << 8            # layers per chip the seed rule keeps apart


def twin_seed(chip: int, layer: int) -> int:
    """noise.seed of a chip's layer accelerator: 1 + chip * 256 + layer (noise.seed >= 1)."""
    return 1 + int(chip) * LAYER_SEEDS + int(layer)


def twin_layer_spec(spec: DesignSpec, chip: int, layer: int) -> DesignSpec:
    """The layer's spec as one chip of the twin: every twin effect on, one programming shot, its own seed."""
    return spec.replace(twin=TWIN_ON, program_verify={"max_retries": 0}, noise={"seed": twin_seed(chip, layer)})


class TwinBackend(GoldenBackend):
    """One twin chip (module docstring) read at drift `epoch`, with or without global drift compensation."""
    name = "twin"

    def __init__(self, mapping: NetworkMapping, *, chip: int, epoch: int, compensation: bool,
                 calib_inputs: list[np.ndarray] | None = None):
        self.mapping, self.noise, self.epoch = mapping, True, int(epoch)
        self.accels: list[GoldenAccelerator] = []
        if compensation and calib_inputs is None:
            raise ValueError("drift compensation needs the calibration MVM inputs (calibration_inputs)")
        for layer in mapping.layers:
            accel = self._programmed(layer, twin_layer_spec(layer.spec, chip, layer.index))
            if compensation:
                x = calib_inputs[layer.index]
                reference = self._readout(accel, layer, x)
                accel.set_drift_epoch(self.epoch)
                scale = global_rescale(layer.scale, reference, self._readout(accel, layer, x), accel.spec)
                accel.set_coefficients(scale, layer.offset)
            else:
                accel.set_drift_epoch(self.epoch)
            self.accels.append(accel)

    @staticmethod
    def _programmed(layer: LayerMapping, spec: DesignSpec) -> GoldenAccelerator:
        accel = GoldenAccelerator(spec, np.zeros_like(layer.weight_codes), layer.scale, layer.offset)
        accel.program_weights(layer.weight_codes)
        return accel

    @staticmethod
    def _readout(accel: GoldenAccelerator, layer: LayerMapping, x: np.ndarray) -> int:
        """aimc_gdc_measure: sum |output| of x with the base scales and zero offsets; leaves them loaded."""
        accel.set_coefficients(layer.scale, np.zeros_like(layer.offset))
        return int(drift_readouts(accel.run(x).outputs).sum())


def measure_twin_chips(mapping: NetworkMapping, x, y, calib_x, chips, *, epoch: int,
                       compensation: bool) -> np.ndarray:
    """Correctness (chips, samples) of twin chips `chips` (an int n: 0..n-1, or an iterable) at `epoch`."""
    chips = range(chips) if isinstance(chips, (int, np.integer)) else list(chips)
    calib = calibration_inputs(mapping, calib_x) if compensation else None
    y = np.asarray(y)
    return np.array([TwinBackend(mapping, chip=c, epoch=epoch, compensation=compensation,
                                 calib_inputs=calib).predict(x) == y for c in chips], dtype=bool)
