"""Model files of a network: plain numpy weight lists (.npz) and ONNX (sim.eval.onnx_io).

The layers themselves (DenseLayer, ConvLayer, Network) are defined in sim.eval.layers and importable from here.

.npz layout (save_npz / load_npz): layer{i}_weight (in, out) -- or the kernel (F, C, kh, kw) of a conv
layer with layer{i}_conv = [C, H, W, pad top, left, bottom, right, stride h, w, dilation h, w] --,
layer{i}_bias (out,), layer{i}_activation (a string); any other array is metadata (e.g.
float_test_accuracy, x_test, y_test, x_calib).

Every problem of a model or test-set file a user can cause raises NetworkError naming the file (and the
layer or array), never a numpy, zip or protobuf exception.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from aimcgen.sim.eval.layers import ACTIVATIONS, ConvLayer, DenseLayer, Network, NetworkError
from aimcgen.sim.eval.onnx_io import export_onnx, load_onnx

__all__ = ["ACTIVATIONS", "ConvLayer", "DenseLayer", "Network", "NetworkError", "attach_test_set",
           "checked_test_set", "default_model_path", "export_onnx", "load_network", "load_npz", "load_onnx",
           "read_npz", "save_npz"]

CONV_FIELDS = "[C, H, W, pad top, left, bottom, right, stride h, w, dilation h, w]"
TEST_ARRAYS = ("x_test", "y_test")
# What np.load and reading a member of a damaged or foreign archive raise.
_NPZ_ERRORS = (ValueError, EOFError, zipfile.BadZipFile, zlib.error)


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


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise NetworkError(f"{path}: is a folder, not a file")
    if not path.exists():
        raise NetworkError(f"{path}: no such file")


def read_npz(path) -> dict[str, np.ndarray]:
    """Every array of an .npz archive (no pickled objects: a model file must not run code)."""
    path = Path(path)
    _check_file(path)
    if not zipfile.is_zipfile(path):
        raise NetworkError(f"{path}: not an .npz file (a zip archive of numpy arrays, as numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return dict(data.items())
    except OSError as exc:
        raise NetworkError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except _NPZ_ERRORS as exc:
        raise NetworkError(f"{path}: damaged or unsupported .npz ({exc})") from None


def _conv_geometry(name: str, values) -> tuple[int, ...]:
    g = np.asarray(values).reshape(-1)
    got = f"{g.size} value(s)" if g.size != 11 else str(g.tolist())
    if (g.size != 11 or g.dtype.kind not in "iuf" or not np.isfinite(g).all()
            or not (g == np.round(g)).all()):
        raise NetworkError(f"{name}: expected 11 integers {CONV_FIELDS}, got {got}")
    return tuple(int(v) for v in g)


def _npz_layer(files: dict, i: int):
    """Layer i of an .npz (its arrays popped from `files`)."""
    act = str(files.pop(f"layer{i}_activation", np.array("none")))
    w, b = files.pop(f"layer{i}_weight"), files.pop(f"layer{i}_bias", None)
    g = _conv_geometry(f"layer{i}_conv", files.pop(f"layer{i}_conv")) if f"layer{i}_conv" in files else None
    try:
        if g is not None:
            return ConvLayer(w, b, g[:3], act, g[3:7], g[7:9], g[9:11])
        return DenseLayer(w, b, act)
    except NetworkError as exc:
        raise NetworkError(f"layer{i}: {exc}") from None


def load_npz(path) -> Network:
    path = Path(path)
    files = read_npz(path)
    layers, i = [], 0
    while f"layer{i}_weight" in files:
        layers.append(_npz_layer(files, i))
        i += 1
    if not layers:
        raise NetworkError(f"{path}: no layer0_weight array (expected layer{{i}}_weight, layer{{i}}_bias, "
                           f"layer{{i}}_activation)")
    name = str(files.pop("name", np.array(path.stem)))
    meta = {k: (v.item() if v.ndim == 0 else v) for k, v in files.items()}
    return Network(layers, name=name, meta=meta)


def load_network(path) -> Network:
    """The network of a .npz or .onnx file; NetworkError starting with the file's path otherwise."""
    path = Path(path)
    loader = {".npz": load_npz, ".onnx": load_onnx}.get(path.suffix)
    if loader is None:
        raise NetworkError(f"{path}: unknown model format (expected .npz or .onnx)")
    _check_file(path)
    try:
        return loader(path)
    except NetworkError as exc:
        message = str(exc)
        raise NetworkError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    except OSError as exc:
        raise NetworkError(f"{path}: cannot read: {exc.strerror or exc}") from None


def attach_test_set(net: Network, path) -> None:
    """Put the test set of the .npz `path` (x_test, y_test, optional x_calib) into net.meta; one without
    x_test or y_test is refused rather than mixed with another test set."""
    path = Path(path)
    arrays = read_npz(path)
    missing = [k for k in TEST_ARRAYS if k not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)[:8]) or "none"
        raise NetworkError(f"{path}: no {' and no '.join(missing)} array (a test set holds x_test, y_test and "
                           f"optionally x_calib; found: {found})")
    net.meta.update({k: arrays[k] for k in (*TEST_ARRAYS, "x_calib") if k in arrays})


def _samples(source: str, key: str, values, features: int) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetworkError(f"{source}: {key} must be an array of numbers") from None
    if a.ndim < 1 or len(a) == 0:
        raise NetworkError(f"{source}: {key} must hold at least one sample, got shape {a.shape}")
    if a.reshape(len(a), -1).shape[1] != features:
        raise NetworkError(f"{source}: {key} has {a.shape[1:]} features per sample, the network takes "
                           f"{features}")
    if not np.isfinite(a).all():
        raise NetworkError(f"{source}: {key} holds NaN or inf values")
    return a


def _labels(source: str, values, samples: int, classes: int) -> np.ndarray:
    y = np.asarray(values)
    if y.ndim != 1 or len(y) != samples:
        raise NetworkError(f"{source}: y_test has shape {y.shape}: expected one class label per sample of "
                           f"x_test ({samples},)")
    if y.dtype.kind not in "iuf" or not np.isfinite(y).all() or not (y == np.round(y)).all():
        raise NetworkError(f"{source}: y_test must be integer class labels, got {y.dtype}")
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if len(bad):
        raise NetworkError(f"{source}: y_test[{bad[0]}] = {y[bad[0]]}: labels must be 0..{classes - 1} (the "
                           f"network has {classes} outputs)")
    return y.astype(np.int64)


def checked_test_set(net: Network, source: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_test, y_test, x_calib) of net.meta, checked against the network: a bad test set would otherwise
    fail deep in the evaluation or report a meaningless accuracy. `source` names where it came from."""
    source = source or f"network {net.name!r}"
    missing = [k for k in TEST_ARRAYS if k not in net.meta]
    if missing:
        raise NetworkError(f"{source}: no {' and no '.join(missing)} array; the evaluation needs a test set "
                           f"(x_test, y_test) in the model file or a separate .npz")
    x = _samples(source, "x_test", net.meta["x_test"], net.in_features)
    y = _labels(source, net.meta["y_test"], len(x), net.out_features)
    calib = _samples(source, "x_calib", net.meta["x_calib"], net.in_features) if "x_calib" in net.meta else x[:256]
    return x, y, calib


def default_model_path() -> Path:
    return Path(__file__).parent / "models" / "digits_mlp.npz"
