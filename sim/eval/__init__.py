"""Evaluation of a network on a design: mapping onto tiles, accuracy under device noise and drift,
latency, area and energy estimates, reports (`aimcgen evaluate`, `aimcgen sweep`).

- network:      dense and conv (im2col) layers; .npz import and export
- onnx_io:      ONNX import (Gemm/MatMul/Add/Relu/Conv/Flatten/Reshape) and export
- mapping:      layers onto tiles of a spec: weight codes, input/output scales, per-column affine codes
- quantize:     per-column weight scales and codes of least expected output error (device-aware)
- backends:     inference on the float reference, the physics model and the bit-exact golden model;
                noise attribution
- rtl_check:    a few inputs through the generated Verilog in cocotb, matched against the golden model
- estimates:    latency, area, energy from documented, cited constants (or the ASIC flow's area)
- report:       report.json / report.md / plots
- sweep:        spec fields x Monte-Carlo chips on Dask; sweep_report writes its table and plot
- train_digits: reproducible training of the shipped digits MLP
"""
