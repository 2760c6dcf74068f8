"""Evaluation of a network on a design: mapping onto tiles, accuracy under device noise and drift,
latency, area and energy estimates, reports (`aimcgen evaluate`).

- network:   dense-layer network description; .npz and ONNX importers
- mapping:   layers onto tiles of a spec: weight codes, input/output scales, per-column affine codes
- backends:  inference on the float reference, the physics model and the bit-exact golden model;
             noise attribution
- estimates: latency, area, energy from documented, cited constants
- report:    report.json / report.md / plots
"""
