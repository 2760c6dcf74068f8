"""Confidence intervals for Monte-Carlo evaluations: plain functions on arrays, JSON-ready dicts out.

Every function returns {"mean": m, "ci95": [lo, hi] or None, "n": n, "method": "..."} (plus a few extras,
e.g. "std", "significant"), so a figure and its interval travel together into report.json:

- `mean_ci(values)`: the mean over n independent chips with a two-sided 95 % Student t interval
  (mean +- t_{0.975, n-1} s / sqrt(n), s the sample standard deviation). It describes chip-to-chip
  variation on a fixed test set; the sampling of the test set itself is not in it.
- `paired_difference(a, b)`: the mean of a - b over the same chips (common random numbers: chip i of a and
  of b share their programming, drift and read-noise draws) with a paired t interval (the Student t interval
  of the per-chip differences). A configuration compared with itself gives exactly 0 with a [0, 0] interval.
- `welch_difference(a, b)`: mean(a) - mean(b) of two independent samples (chips that cannot be paired,
  e.g. two simulators' random generators) with a Welch t interval (Welch-Satterthwaite degrees of freedom).
- `proportion_ci(k, n)`: accuracy as a proportion of k correct out of n test samples on one chip or a
  deterministic model, with the Wilson score interval (binomial over test samples).
- `paired_proportion_difference(ca, cb)`: the difference of two accuracies on the same test samples of one
  chip, with a normal (Wald) interval of the per-sample differences (in {-1, 0, 1}); exact 0 when equal.
- `crossed_paired_difference(ca, cb)`: accuracy(a) - accuracy(b) from per-chip, per-sample correctness
  (chips x samples, the same chips and samples on both sides) with a two-way interval over chips AND test
  samples (crossed random effects: Var = (MS_chip + MS_sample - MS_residual) / (chips x samples), never
  below the chip-only or the sample-only variance; Satterthwaite t). A difference the paired t over chips
  calls certain, but that rests on a handful of test samples (e.g. a deterministic one-sample flip when no
  device noise is on), is then not significant: the claim is about the design, not this test set.
- `accuracy_stat(correct)` / `paired_accuracy_stat(ca, cb)`: from per-chip, per-sample correctness
  (chips x samples). accuracy_stat: the t interval over chip accuracies with 2 chips or more (the
  interval the chip count is chosen for), the Wilson interval over samples with one.
  paired_accuracy_stat: the crossed interval ("ci95") and the paired t over chips of this test set
  ("ci95_chips"); with one chip, the per-sample paired interval. "significant" follows "ci95".

No scipy: the t quantile comes from the regularized incomplete beta function (continued fraction) here.
"""

from __future__ import annotations

import math
import time
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
T_METHOD = "Student t 95 % interval over chips (n - 1 degrees of freedom)"
PAIRED_METHOD = "paired t 95 % interval of per-chip differences (same chips: common random numbers)"
WELCH_METHOD = "Welch t 95 % interval (independent, unpaired chips; Welch-Satterthwaite dof)"
WILSON_METHOD = "Wilson score 95 % interval of a proportion over test samples (one chip / deterministic model)"
PAIRED_SAMPLE_METHOD = ("normal 95 % interval of paired per-sample differences over test samples (one chip; "
                        "no chip-to-chip variation)")
ONE_CHIP = "one chip: no interval over chips"
CROSSED_METHOD = ("two-way 95 % interval over chips and test samples (crossed random effects, paired on the same "
                  "chips and samples; Satterthwaite t)")


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student t cumulative distribution function."""
    tail = 0.5 * betainc(0.5 * df, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p quantile of Student's t with df degrees of freedom (bisection on t_cdf, |error| < 1e-12)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile(p={p}, df={df}): need 0 < p < 1 and df > 0")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def _result(mean: float, lo, hi, n: int, method: str, **extra) -> dict:
    ci = None if lo is None else [float(lo), float(hi)]
    out = {"mean": float(mean), "ci95": ci, "n": int(n), "method": method}
    out.update(extra)
    return out


def half_width(stat: dict) -> float:
    """Half the width of a result's interval (inf without one)."""
    ci = stat.get("ci95")
    return math.inf if ci is None else 0.5 * (ci[1] - ci[0])


def significant(stat: dict) -> bool:
    """True when the interval excludes 0 (a difference that is not explained by chip-to-chip noise)."""
    ci = stat.get("ci95")
    return ci is not None and (ci[0] > 0.0 or ci[1] < 0.0)


def mean_ci(values, confidence: float = CONFIDENCE) -> dict:
    """Mean over chips with its Student t interval; one value gives no interval (ci95 None)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    n = len(v)
    if n == 0:
        raise ValueError("mean_ci: no values")
    mean = float(v.mean())
    extra = {"std": float(v.std(ddof=1)) if n > 1 else 0.0, "min": float(v.min()), "max": float(v.max())}
    if n < 2:
        return _result(mean, None, None, n, ONE_CHIP, **extra)
    h = t_quantile(0.5 + confidence / 2, n - 1) * extra["std"] / math.sqrt(n)
    return _result(mean, mean - h, mean + h, n, T_METHOD, **extra)


def paired_difference(a, b, confidence: float = CONFIDENCE) -> dict:
    """mean(a - b) over the same chips (a[i], b[i] measured on chip i) with its paired t interval, and
    "significant" (the interval excludes 0). Identical inputs give exactly 0 and [0, 0]."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: {a.shape} vs {b.shape}: pairs need the same chips")
    d = a - b
    r = mean_ci(d, confidence)
    if r["ci95"] is not None:
        r["method"] = PAIRED_METHOD
    r["significant"] = significant(r)
    return r


def welch_difference(a, b, confidence: float = CONFIDENCE) -> dict:
    """mean(a) - mean(b) of independent samples with the Welch t interval; needs 2 values on each side."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    na, nb = len(a), len(b)
    diff = float(a.mean() - b.mean())
    if na < 2 or nb < 2:
        return _result(diff, None, None, min(na, nb), "fewer than 2 chips on a side: no interval",
                       n_a=na, n_b=nb, significant=False)
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se2 = va + vb
    if se2 == 0.0:
        r = _result(diff, diff, diff, min(na, nb), WELCH_METHOD, n_a=na, n_b=nb, df=float("inf"))
    else:
        df = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
        h = t_quantile(0.5 + confidence / 2, df) * math.sqrt(se2)
        r = _result(diff, diff - h, diff + h, min(na, nb), WELCH_METHOD, n_a=na, n_b=nb, df=float(df))
    r["significant"] = significant(r)
    return r


def proportion_ci(k: int, n: int, confidence: float = CONFIDENCE) -> dict:
    """k successes of n trials (correct test samples) with the Wilson score interval."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"proportion_ci: k = {k}, n = {n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return _result(p, max(0.0, centre - h), min(1.0, centre + h), n, WILSON_METHOD, samples=int(n))


def paired_proportion_difference(correct_a, correct_b, confidence: float = CONFIDENCE) -> dict:
    """Accuracy(a) - accuracy(b) on the same test samples (boolean arrays) with a normal interval of the
    per-sample differences; "n" is the number of samples."""
    a = np.asarray(correct_a, dtype=np.float64).ravel()
    b = np.asarray(correct_b, dtype=np.float64).ravel()
    if a.shape != b.shape or not len(a):
        raise ValueError(f"paired_proportion_difference: {a.shape} vs {b.shape}")
    d = a - b
    n = len(d)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    mean = float(d.mean())
    h = z * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    r = _result(mean, mean - h, mean + h, 1, PAIRED_SAMPLE_METHOD, samples=int(n))
    r["significant"] = significant(r)
    return r


def crossed_paired_difference(correct_a, correct_b, confidence: float = CONFIDENCE) -> dict:
    """Mean of a - b over chips x samples (per-chip, per-sample values, e.g. correctness) with the two-way
    crossed interval (module docstring); needs 2 chips and 2 samples."""
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"crossed_paired_difference: {a.shape} vs {b.shape}: need (chips >= 2, samples >= 2)")
    d = a - b
    c, n = d.shape
    grand = float(d.mean())
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    ms_c = n * float(np.sum((rows - grand) ** 2)) / (c - 1)
    ms_s = c * float(np.sum((cols - grand) ** 2)) / (n - 1)
    resid = d - rows[:, None] - cols[None, :] + grand
    ms_e = float(np.sum(resid ** 2)) / ((c - 1) * (n - 1))
    combined = ms_c + ms_s - ms_e
    # Satterthwaite degrees of freedom of the combination; the floors keep the interval at least as wide
    # as the chip-only (paired t) and the sample-only ones.
    ms, dof_den = combined, ms_c ** 2 / (c - 1) + ms_s ** 2 / (n - 1) + ms_e ** 2 / ((c - 1) * (n - 1))
    for floor, den in ((ms_c, ms_c ** 2 / (c - 1)), (ms_s, ms_s ** 2 / (n - 1))):
        if floor > ms * (1 + 1e-9):
            ms, dof_den = floor, den
    if ms <= 0.0:
        r = _result(grand, grand, grand, c, CROSSED_METHOD, samples=int(n))
    else:
        df = ms ** 2 / dof_den
        h = t_quantile(0.5 + confidence / 2, df) * math.sqrt(ms / (c * n))
        r = _result(grand, grand - h, grand + h, c, CROSSED_METHOD, samples=int(n), df=float(df))
    r["significant"] = significant(r)
    return r


def accuracy_stat(correct) -> dict:
    """Accuracy from per-chip, per-sample correctness (chips x samples): the t interval over chip
    accuracies with 2 chips or more; with one chip, the Wilson interval over its test samples."""
    c = np.atleast_2d(np.asarray(correct, dtype=bool))
    if len(c) >= 2:
        return {**mean_ci(c.mean(axis=1)), "samples": int(c.shape[1])}
    r = proportion_ci(int(c.sum()), c.size)
    r.update(n=1, std=0.0, min=r["mean"], max=r["mean"])
    return r


def paired_accuracy_stat(correct_a, correct_b) -> dict:
    """Accuracy(a) - accuracy(b) on the same chips and samples (chips x samples each): the crossed interval
    ("ci95", "significant") and the paired t over chips ("ci95_chips") with 2 chips or more; the per-sample
    paired interval with one."""
    a = np.atleast_2d(np.asarray(correct_a, dtype=bool))
    b = np.atleast_2d(np.asarray(correct_b, dtype=bool))
    if a.shape != b.shape:
        raise ValueError(f"paired_accuracy_stat: {a.shape} vs {b.shape}")
    if len(a) >= 2 and a.shape[1] >= 2:
        chips = paired_difference(a.mean(axis=1), b.mean(axis=1))
        r = crossed_paired_difference(a, b)
        r.update(ci95_chips=chips["ci95"], ci95_chips_method=chips["method"])
        return r
    return paired_proportion_difference(a, b)


def describe(stat: dict, scale: float = 100.0, digits: int = 2) -> str:
    """'m [lo, hi]' (scaled, e.g. to percent), or 'm (one chip)' without an interval."""
    m = f"{scale * stat['mean']:.{digits}f}"
    ci = stat.get("ci95")
    if ci is None:
        return f"{m} (no interval)"
    return f"{m} [{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def chips_for_target(measure, *, target: float, max_chips: int, batch: int = 10, time_budget_s: float | None = None,
                     cost_per_chip: float = 1.0, clock=time.monotonic) -> tuple[np.ndarray, dict]:
    """Add chips in batches until the t interval of their mean reaches half-width <= target, or max_chips,
    or the time budget: measure(seeds) returns one value per chip seed (chips 0, 1, ... in order).

    time_budget_s bounds the projected time of the whole job: the measured seconds per chip of `measure`
    times cost_per_chip (how many such measurements per chip the job makes) times the chips, checked before
    each further batch. Returns (values, decision) with decision a JSON-ready dict saying how many chips
    and why."""
    if target <= 0 or max_chips < 2 or batch < 1:
        raise ValueError(f"chips_for_target: target = {target}, max_chips = {max_chips}, batch = {batch}")
    values = np.zeros(0)
    spent = 0.0
    reason = ""
    while True:
        k = min(max(batch, 2 if not len(values) else 1), max_chips - len(values))
        start = clock()
        new = np.asarray(measure(range(len(values), len(values) + k)), dtype=np.float64).ravel()
        spent += clock() - start
        values = np.concatenate([values, new])
        stat = mean_ci(values)
        h = half_width(stat)
        n = len(values)
        if h <= target:
            reason = f"target reached: half-width {h:.4g} <= {target:.4g}"
            break
        if n >= max_chips:
            reason = f"maximum of {max_chips} chips reached (half-width {h:.4g} > target {target:.4g})"
            break
        per_chip = spent / n * cost_per_chip
        if time_budget_s is not None and per_chip * (n + min(batch, max_chips - n)) > time_budget_s:
            reason = (f"time budget reached: {n + min(batch, max_chips - n)} chips would take about "
                      f"{per_chip * (n + min(batch, max_chips - n)):.0f} s > {time_budget_s:g} s "
                      f"(half-width {h:.4g} > target {target:.4g})")
            break
    return values, {"mode": "auto", "chips": int(len(values)), "target_half_width": float(target),
                    "half_width": float(half_width(stat)), "max_chips": int(max_chips), "batch": int(batch),
                    "time_budget_s": time_budget_s, "reason": reason}
