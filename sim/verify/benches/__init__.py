"""cocotb benches for the generated Verilog.

Each module here is a cocotb test module: the simulator's embedded Python imports it (run it with
aimcgen.sim.verify.cocotb_run.run_bench), and it reads its configuration from the environment (see cocotb_run).
"""
