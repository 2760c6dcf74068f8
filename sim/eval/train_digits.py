"""Train the shipped example network: an MLP 64-32-10 (ReLU) on scikit-learn's bundled 8x8 digits.

Reproducible: fixed split and seeds. Writes sim/eval/models/digits_mlp.npz (weights, the test split, a
calibration subset of the training split and the float test accuracy; the first layer takes raw pixel
values 0..16, the 1/16 input scaling is folded into its weights) and, when onnx is installed, the same
model as digits_mlp.onnx.

    .venv/bin/python -m aimcgen.sim.eval.train_digits [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from aimcgen.sim.eval.network import DenseLayer, Network, export_onnx, save_npz

SEED = 0
HIDDEN = 32
CALIB = 256


def train(seed: int = SEED, hidden: int = HIDDEN) -> tuple[Network, dict]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    digits = load_digits()
    x, y = digits.data.astype(np.float64), digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", alpha=1e-3, max_iter=1000,
                        random_state=seed, tol=1e-6)
    clf.fit(x_train / 16.0, y_train)
    w0, w1 = clf.coefs_
    b0, b1 = clf.intercepts_
    net = Network([DenseLayer((w0 / 16.0).astype(np.float32), b0.astype(np.float32), "relu"),
                   DenseLayer(w1.astype(np.float32), b1.astype(np.float32), "none")], name="digits_mlp")
    acc = float(np.mean(net.predict(x_test) == y_test))        # of the stored float32 weights
    rng = np.random.default_rng(seed)
    calib = rng.choice(len(x_train), CALIB, replace=False)
    meta = {"float_test_accuracy": acc, "x_test": x_test.astype(np.uint8), "y_test": y_test.astype(np.uint8),
            "x_calib": x_train[calib].astype(np.uint8), "seed": seed,
            "dataset": "sklearn.datasets.load_digits (8x8, 1797 samples), 80/20 stratified split"}
    net.meta.update(meta)
    return net, meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "models")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    net, meta = train()
    save_npz(net, args.out / "digits_mlp.npz")
    print(f"digits MLP {net.describe()}: float test accuracy {meta['float_test_accuracy']:.4f} "
          f"on {len(meta['y_test'])} test samples -> {args.out / 'digits_mlp.npz'}")
    try:
        export_onnx(net, args.out / "digits_mlp.onnx")
        print(f"ONNX: {args.out / 'digits_mlp.onnx'}")
    except ImportError:
        print("onnx not installed: no ONNX export")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
