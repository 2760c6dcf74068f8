"""Inference of a mapped network on three back ends with one interface, and noise attribution.

    backend.run(x) -> list of per-layer outputs (batch, out) in real units (after activation)
    backend.predict(x) -> argmax of the last layer

- FloatBackend: the float reference (Network.forward).
- PhysicsBackend: every tile a sim.models.physics.PhysicsCrossbar (programming noise, stuck devices, drift and
  relaxation at time t_s, read noise, IR drop of the wires at device.wire_r_ohm) of the block of devices the
  layer occupies, the ADC, the saturating shift-add, row-tile partial sums and the post-processor in integers
  as in the RTL; optional global drift compensation (`compensation`, COMPENSATIONS):
  - "analog" (or True): per TILE, a factor on the charges before the ADC (PhysicsCrossbar.mvm's analog gain),
    calibrated with PhysicsCrossbar.calibrate_drift_compensation on the calibration inputs flowing through the
    (compensated) chip at the same t_s; the drifted signal is spread over the ADC's codes again.
  - "digital": the firmware's rule, as the twin does it (sim.eval.twin_accuracy): per LAYER (all tiles of
    the layer together, as one accelerator's aimc_gdc_measure), with x_l the layer's fixed calibration MVM
    inputs (calibration_inputs: the calibration set on the noise-free golden model),
        R(t) = sum over vectors and columns of |y_out| (contract.calibration.drift_readouts), y_out the
               layer's post-processor outputs of x_l with the mapping's base scales and zero offsets, one
               read (purpose "calibration") at time t;
        scales = contract.calibration.global_rescale(base scales, R(0), R(t_s));
    the layer then runs with these scales and the mapping's offsets; the ADC sees the drifted charges (no
    analog gain). R(0) is a read at t = 0 s: no drift or relaxation, programming noise and read noise on.
  - "off" (or False): none.
  Sources can be switched off one by one (`Sources`): device ones through
  dataclasses.replace on the DeviceSpec, ADC quantization and clipping through an idealized ADC/accumulator
  (float codes, no clamps).
  Chip `seed` draws every random stream of every tile from (seed, layer, tile, stream name) alone
  (sim.models.physics.ChipStreams): the same seed is the same chip under any Sources, drift time or
  compensation setting, so such configurations compare pairwise on common chips (sim.eval.statistics).
- GoldenBackend: the bit-exact integer model of the RTL (sim.models.golden.GoldenAccelerator per layer grid),
  emulated read noise `noise.sigma_lsb` included unless noise=False.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from aimcgen.contract.calibration import drift_readouts, global_rescale
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.encoding import step_weights
from aimcgen.sim.models.golden import GoldenAccelerator, shift_add
from aimcgen.sim.models.physics import ChipStreams, PhysicsCrossbar
from aimcgen.sim.eval import statistics as st
from aimcgen.contract.postproc import postprocess
from aimcgen.spec import DesignSpec, device_preset
from aimcgen.sim.eval.mapping import LayerMapping, NetworkMapping
from aimcgen.sim.eval.network import Network

COMPENSATIONS = ("off", "analog", "digital")
SOURCES = ("programming", "read", "drift", "stuck", "adc_quantization", "adc_clipping", "ir_drop")


@dataclass(frozen=True)
class Sources:
    """Which non-idealities the physics back end applies. drift covers PCM drift and RRAM relaxation;
    adc_clipping covers ADC range clipping and accumulator saturation. The spec's ADC errors (adc.gain_sigma,
    ...; contract.adc_errors) apply only with both ADC sources on (the exact integer datapath)."""
    programming: bool = True
    read: bool = True
    drift: bool = True
    stuck: bool = True
    adc_quantization: bool = True
    adc_clipping: bool = True
    ir_drop: bool = True            # the wires' resistance, device.wire_r_ohm (off: ideal wires)

    @classmethod
    def none(cls) -> "Sources":
        return cls(**{s: False for s in SOURCES})

    @classmethod
    def only(cls, name: str) -> "Sources":
        return dataclasses.replace(cls.none(), **{name: True})

    def without(self, name: str) -> "Sources":
        return dataclasses.replace(self, **{name: False})


def with_device(spec: DesignSpec, model: str) -> DesignSpec:
    """The spec with every device statistic taken from the preset `model` (pcm, rram, ideal)."""
    return dataclasses.replace(spec, device=device_preset(model))


def device_with_sources(spec: DesignSpec, sources: Sources) -> DesignSpec:
    """The spec whose DeviceSpec has the switched-off statistics zeroed."""
    dev = spec.device
    changes = {}
    if not sources.programming:
        changes["prog_noise_us"] = (0.0,)
    if not sources.read:
        changes["read_noise_q"] = (0.0, 0.0, 0.0)
        changes["read_noise_rel"] = 0.0
    if not sources.drift:
        changes["drift_mu"] = (0.0, 0.0, 0.0, 0.0)
        changes["drift_sigma"] = (0.0, 0.0, 0.0, 0.0)
        changes["relax_us"] = (0.0,)
    if not sources.stuck:
        changes["stuck_set_fraction"] = 0.0
        changes["stuck_reset_fraction"] = 0.0
    if not sources.ir_drop:
        changes["wire_r_ohm"] = 0.0
    return dataclasses.replace(spec, device=dataclasses.replace(dev, **changes)) if changes else spec


class LayerCodes(NamedTuple):
    inputs: np.ndarray              # (batch * positions, logical_rows) MVM input codes, zero padded
    outputs: np.ndarray             # (batch * positions, logical_cols) post-processor output codes
    codes: np.ndarray               # (batch, out_features) the layer's finished codes: the next input


class FloatBackend:
    name = "float"

    def __init__(self, network: Network):
        self.network = network

    def run(self, x) -> list[np.ndarray]:
        return self.network.forward(x, all_layers=True)

    def predict(self, x) -> np.ndarray:
        return np.argmax(self.run(x)[-1], axis=1)


class _MappedBackend:
    mapping: NetworkMapping

    def run(self, x) -> list[np.ndarray]:
        return [layer.dequantize(t.codes) for layer, t in zip(self.mapping.layers, self.run_codes(x))]

    def run_codes(self, x) -> list[LayerCodes]:
        """Per layer, its MVMs as the RTL sees them, each layer fed the codes of the one before."""
        codes = self.mapping.quantize_input(x)
        trace = []
        for layer in self.mapping.layers:
            inputs = self.mapping.layer_input(layer, codes)
            outputs = self._layer(layer, inputs)
            codes = self.mapping.layer_output(layer, outputs)
            trace.append(LayerCodes(inputs, outputs, codes))
        return trace

    def predict(self, x) -> np.ndarray:
        return np.argmax(self.run(x)[-1], axis=1)


class GoldenBackend(_MappedBackend):
    """The bit-exact integer model; noise=False sets noise.sigma_lsb = 0 (deterministic, noise-free)."""
    name = "golden"

    def __init__(self, mapping: NetworkMapping, noise: bool = True):
        self.mapping, self.noise = mapping, noise
        self.accels = []
        for layer in mapping.layers:
            spec = layer.spec if noise else layer.spec.replace(noise={"sigma_lsb": 0.0})
            self.accels.append(GoldenAccelerator(spec, layer.weight_codes, layer.scale, layer.offset))

    def _layer(self, layer: LayerMapping, x: np.ndarray) -> np.ndarray:
        return self.accels[layer.index].run(x).outputs


def calibration_inputs(mapping: NetworkMapping, calib_x) -> list[np.ndarray]:
    """Per layer, the MVM inputs of the calibration set on the noise-free golden model: the fixed vectors a
    firmware stores for aimc_gdc_measure (digital drift compensation)."""
    return [t.inputs for t in GoldenBackend(mapping, noise=False).run_codes(calib_x)]


def compensation_mode(compensation) -> str:
    """One of COMPENSATIONS from a mode name or the older bool (True: "analog", False / None: "off")."""
    if compensation is None or compensation is False:
        return "off"
    if compensation is True:
        return "analog"
    if isinstance(compensation, str) and compensation in COMPENSATIONS:
        return compensation
    raise ValueError(f"compensation = {compensation!r}: allowed {', '.join(COMPENSATIONS)}, True or False")


class PhysicsBackend(_MappedBackend):
    """One programmed chip (one Monte-Carlo draw per seed) read at t_s seconds after programming."""
    name = "physics"

    def __init__(self, mapping: NetworkMapping, *, t_s: float = 1.0, compensation: bool | str = True,
                 seed: int = 0, sources: Sources = Sources(), calib_x=None, whole_tiles: bool = False,
                 calib_inputs: list[np.ndarray] | None = None):
        """compensation: "off", "analog" or "digital" (module docstring; True is "analog", False "off").
        calib_x: the calibration set (analog, digital); calib_inputs: its per-layer MVM inputs
        (calibration_inputs) for the digital mode, computed from calib_x when not given.
        whole_tiles models every device of every tile; by default only the block the layer occupies
        (PhysicsCrossbar active): same results for what is kept, except that the analog drift compensation
        read-out averages over the used columns only, and much faster on large, sparsely used tiles."""
        mode = compensation_mode(compensation)
        self.mapping, self.t_s, self.compensation, self.sources = mapping, float(t_s), mode, sources
        self.seed = int(seed)
        self.scales = [layer.scale for layer in mapping.layers]    # the post-processor's SCALE codes per layer
        self.tiles: list[list[list[PhysicsCrossbar]]] = []      # [layer][row tile][col tile]
        for layer in mapping.layers:
            spec = device_with_sources(layer.spec, sources)
            r, c = spec.tile.rows, spec.tile.cols
            self.tiles.append([[PhysicsCrossbar(
                spec, layer.weight_codes[i * r:(i + 1) * r, j * c:(j + 1) * c],
                active=None if whole_tiles else (min(r, layer.in_features - i * r),
                                                 min(c, layer.out_features - j * c)),
                streams=ChipStreams(self.seed, ("layer", layer.index, "tile", i, j)))
                for j in range(layer.col_tiles)] for i in range(layer.row_tiles)])
        self.factors = None
        if mode == "analog":
            if calib_x is None:
                raise ValueError("drift compensation needs calibration inputs (calib_x)")
            self._calibrate(calib_x)
        elif mode == "digital":
            if calib_inputs is None:
                if calib_x is None:
                    raise ValueError("drift compensation needs calibration inputs (calib_x or calib_inputs)")
                calib_inputs = calibration_inputs(mapping, calib_x)
            self._rescale(calib_inputs)

    def _calibrate(self, calib_x) -> None:
        """Per tile global drift compensation factors from the calibration inputs flowing through the
        (compensated) chip, layer by layer."""
        self.factors = []
        codes = self.mapping.quantize_input(calib_x)
        for layer in self.mapping.layers:
            x = self.mapping.layer_input(layer, codes)
            r = layer.spec.tile.rows
            self.factors.append([[xbar.calibrate_drift_compensation(x[:, i * r:(i + 1) * r], self.t_s)
                                  for xbar in row] for i, row in enumerate(self.tiles[layer.index])])
            codes = self.mapping.layer_output(layer, self._layer(layer, x, purpose="calibration"))

    def _rescale(self, calib_inputs: list[np.ndarray]) -> None:
        """Digital global drift compensation per layer: its scales become global_rescale(base, R(0), R(t_s))
        (module docstring)."""
        for layer in self.mapping.layers:
            x = calib_inputs[layer.index]
            reference, now = (self.readout(layer, x, t) for t in (0.0, self.t_s))
            self.scales[layer.index] = global_rescale(layer.scale, reference, now, layer.spec)

    def readout(self, layer: LayerMapping, x: np.ndarray, t_s: float) -> int:
        """aimc_gdc_measure of one layer at t_s: sum |output| of its MVM inputs x with the base scales and
        zero offsets (one read, purpose "calibration"; no compensation applied)."""
        out = self._layer(layer, x, "calibration", t_s=t_s, scale=layer.scale, offset=np.zeros_like(layer.offset),
                          compensated=False)
        return int(drift_readouts(out).sum())

    def _layer(self, layer: LayerMapping, x: np.ndarray, purpose: str = "read", *, t_s: float | None = None,
               scale=None, offset=None, compensated: bool = True) -> np.ndarray:
        """The layer's output codes of inputs x at t_s (default self.t_s), with the post-processor's scale
        and offset (default: the backend's scales, the mapping's offsets) and the analog factors if any."""
        t_s = self.t_s if t_s is None else float(t_s)
        post_scale = np.asarray(self.scales[layer.index] if scale is None else scale)
        post_offset = np.asarray(layer.offset if offset is None else offset)
        spec = layer.spec
        src = self.sources
        exact = src.adc_quantization and src.adc_clipping
        fmt = datapath_formats(spec).accumulator
        shifts = step_weights(spec.input)
        lsb = float(1 << spec.adc.lsb_shift)
        r = spec.tile.rows
        cols = []
        for j in range(layer.col_tiles):
            acc = None
            for i in range(layer.row_tiles):
                xbar = self.tiles[layer.index][i][j]
                charges = xbar.column_charges(x[:, i * r:(i + 1) * r], t_s, purpose)
                if compensated and self.factors is not None and len(self.factors) > layer.index:
                    charges = charges * self.factors[layer.index][i][j]
                if exact:
                    part = shift_add(xbar.adc_codes(charges), shifts, spec)[0]   # ADC errors too
                    acc = part if acc is None else fmt.saturate(acc + part)[0]
                    continue
                if src.adc_quantization:
                    offset = 0.5 if spec.adc.kind == "flash" else 0.0
                    codes = np.floor(charges / lsb + offset)
                else:
                    # Ideal ADC: the charge itself, less the mean floor loss the mapping corrects for.
                    codes = charges / lsb - (0.0 if spec.adc.kind == "flash" else
                                             (0.5 * (1 - 2.0 ** -spec.adc.lsb_shift)
                                              if spec.adc.lsb_shift else 0.0))
                if src.adc_clipping:
                    codes = np.clip(codes, spec.adc.code_min, spec.adc.code_max)
                part = np.zeros(codes.shape[1:])
                for code, k in zip(codes, shifts):
                    part = part + code * float(1 << int(k))
                    if src.adc_clipping:
                        part = np.clip(part, fmt.min, fmt.max)
                acc = part if acc is None else acc + part
                if src.adc_clipping:
                    acc = np.clip(acc, fmt.min, fmt.max)
            cols.append(acc)
        acc = np.concatenate(cols, axis=1)
        n = acc.shape[1]
        out = np.zeros((len(acc), layer.scale.shape[0]), dtype=np.int64)
        # Columns without modelled devices have scale = offset = 0: their output code is 0 on any charge.
        out[:, :n] = self._postprocess(acc, post_scale[:n], post_offset[:n], spec, exact)
        return out

    @staticmethod
    def _postprocess(acc, scale, offset, spec: DesignSpec, exact: bool) -> np.ndarray:
        if exact:
            return postprocess(acc, scale, offset, spec)[0]
        post = spec.postproc
        p = acc * scale + offset
        y = np.floor(p / float(1 << post.scale_frac_bits) + 0.5)
        if post.activation == "relu":
            y = np.maximum(y, 0)
        elif post.activation == "clip":
            y = np.clip(y, 0, post.clip_high)
        return np.clip(y, post.output_min, post.output_max).astype(np.int64)


def accuracy(backend, x, y) -> float:
    return float(np.mean(backend.predict(x) == np.asarray(y)))


def relative_errors(outs: list[np.ndarray], ref: list[np.ndarray]) -> list[float]:
    """Per layer: RMS(output - float reference output) / RMS(float reference output)."""
    return [float(np.sqrt(np.mean((o - r) ** 2)) / max(np.sqrt(np.mean(r ** 2)), 1e-30))
            for o, r in zip(outs, ref)]


def measure_chips(mapping: NetworkMapping, x, y, calib_x, seeds, *, t_s: float, compensation: bool | str = True,
                  sources: Sources = Sources(), ref=None) -> dict:
    """Chips `seeds` (an int n: chips 0..n-1; or an iterable of chip seeds) of one configuration:
    "correct" (chips, samples) booleans and, with the float reference outputs `ref`, "layer_error"
    (chips, layers). The unit of paired comparisons: the same seeds are the same chips."""
    seeds = range(seeds) if isinstance(seeds, (int, np.integer)) else list(seeds)
    y = np.asarray(y)
    calib = calibration_inputs(mapping, calib_x) if compensation_mode(compensation) == "digital" else None
    correct, errs = [], []
    for seed in seeds:
        b = PhysicsBackend(mapping, t_s=t_s, compensation=compensation, seed=seed, sources=sources,
                           calib_x=calib_x, calib_inputs=calib)
        outs = b.run(x)
        correct.append(np.argmax(outs[-1], axis=1) == y)
        if ref is not None:
            errs.append(relative_errors(outs, ref))
    out = {"correct": np.array(correct, dtype=bool).reshape(len(correct), len(y))}
    if ref is not None:
        out["layer_error"] = np.array(errs, dtype=np.float64)
    return out


def attribution(mapping: NetworkMapping, x, y, calib_x, *, t_s: float = 86400.0, compensation: bool = True,
                seeds: int = 3, sources=SOURCES, measure=None) -> dict:
    """Accuracy and per-layer output error per noise source: each source alone (vs all off) and leave
    one out (vs all on), on the same `seeds` chips for every configuration (common random numbers).

    Returns a JSON-ready dict. Every figure is the mean over chips (a float, as before) with a sibling
    "<figure>_ci" carrying its 95 % interval: paired t over chips for differences (sim.eval.statistics;
    with one chip, the per-sample paired interval for accuracies and none for layer errors), and
    "significant" (the interval excludes 0). `measure(sources)` may supply measure_chips results (a cache)."""
    ref = FloatBackend(mapping.network).run(x)
    y = np.asarray(y)
    if measure is None:
        def measure(src: Sources) -> dict:
            return measure_chips(mapping, x, y, calib_x, seeds, t_s=t_s, compensation=compensation,
                                 sources=src, ref=ref)

    def layers(a: np.ndarray, b: np.ndarray) -> list[dict]:
        return [st.paired_difference(a[:, k], b[:, k]) for k in range(a.shape[1])]

    float_correct = np.argmax(ref[-1], axis=1) == y
    none, every = measure(Sources.none()), measure(Sources())
    rows = []
    for s in sources:
        alone, left = measure(Sources.only(s)), measure(Sources().without(s))
        drop = st.paired_accuracy_stat(none["correct"], alone["correct"])
        gain = st.paired_accuracy_stat(left["correct"], every["correct"])
        added = layers(alone["layer_error"], none["layer_error"])
        removed = layers(every["layer_error"], left["layer_error"])
        rows.append({"source": s,
                     "alone_accuracy_drop": drop["mean"], "alone_accuracy_drop_ci": drop,
                     "alone_layer_error_added": [d["mean"] for d in added], "alone_layer_error_added_ci": added,
                     "leave_one_out_accuracy_gain": gain["mean"], "leave_one_out_accuracy_gain_ci": gain,
                     "leave_one_out_layer_error_removed": [d["mean"] for d in removed],
                     "leave_one_out_layer_error_removed_ci": removed,
                     "alone_significant": drop["significant"], "leave_one_out_significant": gain["significant"]})
    none_acc, all_acc = st.accuracy_stat(none["correct"]), st.accuracy_stat(every["correct"])
    n = len(every["correct"])
    return {"t_s": t_s, "compensation": compensation, "seeds": n, "chips": n,
            "pairing": "every configuration on the same chips (common random numbers); differences with "
                       + (st.PAIRED_METHOD if n > 1 else st.PAIRED_SAMPLE_METHOD),
            "float_accuracy": float(np.mean(float_correct)),
            "quantized_ideal_accuracy": none_acc["mean"], "quantized_ideal_accuracy_ci": none_acc,
            "quantized_ideal_layer_error": list(none["layer_error"].mean(axis=0)),
            "all_sources_accuracy": all_acc["mean"], "all_sources_accuracy_ci": all_acc,
            "all_sources_layer_error": list(every["layer_error"].mean(axis=0)), "sources": rows}
