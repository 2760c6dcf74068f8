"""Model files of a network: plain numpy weight lists (.npz) and ONNX (sim.eval.onnx_io).

The layers themselves (DenseLayer, ConvLayer, Network) are defined in sim.eval.layers and importable from here.

.npz layout (save_npz / load_npz): layer{i}_weight (in, out) -- or the kernel (F, C, kh, kw) of a conv
layer with layer{i}_conv = [C, H, W, pad top, left, bottom, right, stride h, w, dilation h, w] --,
layer{i}_bias (out,), layer{i}_activation (a string); any other array is metadata (e.g.
float_test_accuracy, x_test, y_test, x_calib).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aimcgen.sim.eval.layers import ACTIVATIONS, ConvLayer, DenseLayer, Network, NetworkError
from aimcgen.sim.eval.onnx_io import export_onnx, load_onnx

__all__ = ["ACTIVATIONS", "ConvLayer", "DenseLayer", "Network", "NetworkError", "default_model_path",
           "export_onnx", "load_network", "load_npz", "load_onnx", "save_npz"]


def save_npz(net: Network, path, **meta) -> None:
    arrays = {}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, ConvLayer):
            arrays[f"layer{i}_conv"] = layer.geometry()
        arrays[f"layer{i}_weight"] = (layer.kernel if isinstance(layer, ConvLayer) else layer.weight).astype(np.float32)
        arrays[f"layer{i}_bias"] = layer.bias.astype(np.float32)
        arrays[f"layer{i}_activation"] = np.array(layer.activation)
    arrays["name"] = np.array(net.name)
    for key, value in {**net.meta, **meta}.items():
        arrays[key] = np.asarray(value)
    np.savez_compressed(path, **arrays)


def load_npz(path) -> Network:
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        files = dict(data.items())
    layers, i = [], 0
    while f"layer{i}_weight" in files:
        act = str(files.pop(f"layer{i}_activation", np.array("none")))
        w, b = files.pop(f"layer{i}_weight"), files.pop(f"layer{i}_bias", None)
        if f"layer{i}_conv" in files:
            g = [int(v) for v in files.pop(f"layer{i}_conv")]
            layers.append(ConvLayer(w, b, tuple(g[:3]), act, tuple(g[3:7]), tuple(g[7:9]), tuple(g[9:11])))
        else:
            layers.append(DenseLayer(w, b, act))
        i += 1
    if not layers:
        raise NetworkError(f"{path}: no layer0_weight array (expected layer{{i}}_weight, layer{{i}}_bias, "
                           f"layer{{i}}_activation)")
    name = str(files.pop("name", np.array(path.stem)))
    meta = {k: (v.item() if v.ndim == 0 else v) for k, v in files.items()}
    return Network(layers, name=name, meta=meta)


def load_network(path) -> Network:
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix == ".onnx":
        return load_onnx(path)
    raise NetworkError(f"{path}: unknown model format (expected .npz or .onnx)")


def default_model_path() -> Path:
    return Path(__file__).parent / "models" / "digits_mlp.npz"
