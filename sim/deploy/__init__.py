"""Deployment of a whole network onto one generated chip (`aimcgen deploy`).

Every layer gets its own column range of the chip's one logical matrix, quantized for the chip's grid, and
runs through the layer sequencer (or the host, per im2col position) without reprogramming.

- placement:    layers onto column ranges and rows 0..in-1 of the grid; sequencer segments; PlacementError
                naming the short resource and the smallest array change that fits
- compile:      placement + on-chip quantization (sim.eval.mapping with the chip's grid) -> a ChipProgram
- ir_drop_chain: device.ir_drop_order = "on" on a chip: one order per hidden vector of chained dense layers
- physics_chip: the program's weight matrix in devices (sim.models.physics), one Monte-Carlo chip
- run:          the program on the golden model (one GoldenAccelerator, sequencer order) and the physics
                chip with the host's steps; cycles per inference of the model
- rtl_check:    the program on one generated Verilog top in cocotb, code for code against the golden model
- report:       build/<design>/deploy/: program.aimc, report.json, report.md, placement.png (staged)

The chip program itself (ChipProgram, program.aimc, schema aimcgen-chip-program/1) is a contract between
this compiler and every loader (host driver, C driver, benches): aimcgen.contract.chip_program.
"""
