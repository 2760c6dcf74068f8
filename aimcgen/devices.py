"""Published device statistics: the presets behind `[device] model = "pcm" | "rram" | "ideal"`.

Every constant names its source. Each preset is a plain mapping of `[device]` field values: the spec's
DeviceSpec takes its defaults from PCM and `spec.device_preset(model)` builds a DeviceSpec from any preset, so
every constant is written here once. The physics model (sim.models.physics) reads only the DeviceSpec fields,
so a user may override any single statistic in TOML and keep the rest of the preset.

Stuck devices (stuck_set_fraction, stuck_reset_fraction; 0 in every preset) are faults whose conductance
no programming moves, so it holds g_max or 0 at every time: they neither drift nor relax (the drift and
relaxation statistics describe programmed states, not faults). They are read with the read noise of any
device of that conductance (PCM: 1/f noise with Q(1) = 0.0088 at g_max, none at 0; RRAM: the additive
white noise below).
"""

from __future__ import annotations

from types import MappingProxyType

# PCM: IBM aihwkit's PCM-like inference noise model (src/aihwkit/inference/noise/pcm.py), fitted by
# Nandakumar et al., "Phase-change memory models for deep learning training and inference", ICECS 2019,
# on a 1-million-device PCM array; see also Joshi et al., Nature Communications 11, 2473 (2020).
PCM = MappingProxyType(dict(
    model="pcm",
    g_max_us=25.0,                              # aihwkit PCMLikeNoiseModel default g_max
    prog_noise_us=(0.26348, 1.9650, -1.1731),   # aihwkit prog_coeff, in uS at g_max = 25 uS
    drift_mu=(-0.0155, 0.0244, 0.049, 0.1),     # aihwkit generate_drift_coefficients: mu_drift
    drift_sigma=(-0.0125, -0.0059, 0.008, 0.045),  # aihwkit: sig_drift
    drift_t0_s=20.0,                            # aihwkit t_0
    read_noise_q=(0.0088, 0.65, 0.2),           # aihwkit read noise: Q_s = min(0.0088 / g^0.65, 0.2),
                                                # one draw per time point in aihwkit (drift_analog_weights);
                                                # the physics model splits it at FLICKER_WINDOW_S
    t_read_s=250e-9,                            # aihwkit t_read
    read_noise_rel=0.0,                         # PCM read noise is the 1/f term above
    relax_us=(0.0,),
    relax_time_s=86400.0,
))

# RRAM: Wan et al., "A compute-in-memory chip based on resistive random-access memory", Nature 608,
# 504 (2022), as fitted in IBM aihwkit's ReRamWan2022NoiseModel (src/aihwkit/inference/noise/reram.py):
# 4th-order polynomials of the deviation from target in uS at g_max = 40 uS, at 1 s and 1 day.
# RRAM shows no power-law drift; its conductance relaxes. relax_us is the extra spread at 1 day,
# sqrt(sigma_1day^2 - sigma_1s^2), refitted here as a 4th-order polynomial (max fit error 0.01 uS).
# Short-term read noise: Wan 2022's fitted data hold none apart ("No separate data is available for read
# noise (1/f)", aihwkit ReRamWan2022NoiseModel), and aihwkit advises adding it as forward.w_noise = 0.01 with
# w_noise_type = WeightNoiseType.ADDITIVE_CONSTANT: a fresh N(0, 0.01) per MVM on each weight, in units of
# the weight range that maps to g_max, whatever the weight's conductance. We follow that: read_noise_rel is
# sigma / g_max of one weight (the G+ - G- pair), additive, per read; each device carries 1/sqrt(2) of it
# (sim.models.physics). Not 1 % of |G|: that would be noise relative to the conductance, which neither
# source describes, and would make near-zero weights read noiselessly.
RRAM = MappingProxyType(dict(
    model="rram",
    g_max_us=40.0,
    prog_noise_us=(0.348, 16.030, -43.853, 45.393, -16.815),
    drift_mu=(0.0, 0.0, 0.0, 0.0),
    drift_sigma=(0.0, 0.0, 0.0, 0.0),
    drift_t0_s=1.0,                             # Wan 2022: first read-out 1 s after programming
    read_noise_q=(0.0, 0.0, 0.0),
    t_read_s=250e-9,
    read_noise_rel=0.01,                        # aihwkit's advice: w_noise = 0.01, ADDITIVE_CONSTANT (above)
    relax_us=(0.608, 15.687, -30.867, 24.759, -7.767),
    relax_time_s=86400.0,
))

# An ideal device: exact conductances forever; used for functional checks against a float reference.
IDEAL = MappingProxyType(dict(
    model="ideal",
    g_max_us=25.0,
    prog_noise_us=(0.0,),
    drift_mu=(0.0, 0.0, 0.0, 0.0),
    drift_sigma=(0.0, 0.0, 0.0, 0.0),
    drift_t0_s=20.0,
    read_noise_q=(0.0, 0.0, 0.0),
    t_read_s=250e-9,
    read_noise_rel=0.0,
    relax_us=(0.0,),
    relax_time_s=86400.0,
))

DEVICE_PRESETS = {"pcm": PCM, "rram": RRAM, "ideal": IDEAL}


def spread_polynomial(coeffs, g: float) -> float:
    """A device statistics polynomial c0 + c1 g + c2 g^2 + ... (uS) at the normalized conductance g, by Horner's
    rule in Python floats (p = 0.0; for c in reversed(coeffs): p = p * g + c): the exact order of operations
    the digital twin's contracts specify, so tables built from it are reproducible bit for bit."""
    p = 0.0
    for c in reversed(coeffs):
        p = p * g + c
    return p
