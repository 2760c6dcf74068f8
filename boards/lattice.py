"""The boards of the FPGA emulation flow: amaranth-boards platforms with clocking, reset, LEDs and a UART.

| board       | device              | board clock | UART                  | LEDs (busy, error)  | reset button |
|-------------|---------------------|-------------|-----------------------|---------------------|--------------|
| ulx3s       | ECP5 LFE5U-85F-6    | 25 MHz      | FTDI FT231X (USB)     | LED 0, LED 1        | PWR button   |
| icebreaker  | iCE40 UP5K-SG48     | 12 MHz      | FTDI FT2232H port B   | green, red          | user button  |
| ecp5_evn    | ECP5 LFE5UM5G-85F-8 | 12 MHz      | FTDI FT2232H port B * | LED 0, LED 1        | reset (G2)   |

(*) The ECP5-5G evaluation board routes its FTDI UART to the FPGA only after two resistor jumpers are
swapped (board user manual, section 6.2).
"""

from __future__ import annotations

from amaranth_boards.ecp5_5g_evn import ECP55GEVNPlatform
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from aimcgen.boards.base import ECP5_5G_85F, ECP5_85F, ICE40_UP5K, Board


class ULX3S(Board):
    name = "ulx3s"
    title = "Radiona ULX3S (ECP5 LFE5U-85F)"
    platform_class = ULX3S_85F_Platform
    capacity = ECP5_85F
    clock, clock_hz = "clk25", 25e6
    led_busy, led_error = ("led", 0), ("led", 1)
    reset = ("button_pwr", 0)
    dropped_tools = ("openFPGALoader",)


class ICEBreaker(Board):
    name = "icebreaker"
    title = "1BitSquared iCEBreaker (iCE40 UP5K)"
    platform_class = ICEBreakerPlatform
    capacity = ICE40_UP5K
    clock, clock_hz = "clk12", 12e6
    led_busy, led_error = ("led_g", 0), ("led_r", 0)
    reset = ("button", 0)
    dropped_tools = ("iceprog",)


class ECP5EVN(Board):
    name = "ecp5_evn"
    title = "Lattice ECP5-5G Evaluation Board (LFE5UM5G-85F)"
    platform_class = ECP55GEVNPlatform
    capacity = ECP5_5G_85F
    clock, clock_hz = "clk12", 12e6
    led_busy, led_error = ("led", 0), ("led", 1)
    reset = ("rst", 0)
    dropped_tools = ("openocd",)
