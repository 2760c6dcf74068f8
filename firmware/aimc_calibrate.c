/*
 * aimc_calibrate.c: per-column calibration and per-column drift compensation (see aimc_calibrate.h).
 * The rules are those of aimcgen/contract/calibration.py, in 64-bit integers; every shift of a signed value
 * goes through floor_shift / floor_div because C leaves `>>` of a negative number to the implementation.
 */
#include "aimc_calibrate.h"

#define CHECK(expr)               \
    do {                          \
        int aimc_rc_ = (expr);    \
        if (aimc_rc_ != AIMC_OK)  \
            return aimc_rc_;      \
    } while (0)

#define SUM_LIMIT ((int64_t)1 << 31)    /* contract.calibration.SUM_LIMIT */
#define RATIO_BITS 31                   /* RATIO_BITS */
#define SHIFT_LIMIT 62                  /* SHIFT_LIMIT */
#define READOUT_LIMIT ((uint64_t)1 << 38)
#define GAIN_RATIO_BITS 23              /* contract.tile_gain_calibration.GAIN_RATIO_BITS */
#define ALL_ROWS AIMC_CFG_ROW_TILES     /* centring_pass: no row tile selected, every row driven */

static int bitlen(uint64_t v)
{
    int n = 0;
    while (v) {
        v >>= 1;
        n++;
    }
    return n;
}

/* floor(a / 2^s) for any sign of a. */
static int64_t floor_shift(int64_t a, int s)
{
    return a >= 0 ? a >> s : -(((-a) - 1) >> s) - 1;
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static int32_t clamp32(int64_t v, int64_t lo, int64_t hi)
{
    return (int32_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* sign * mag clamped to the scale range (mag may exceed every int64). */
static int32_t signed_scale(int negative, uint64_t mag)
{
    if (!negative)
        return mag > (uint64_t)AIMC_CFG_SCALE_MAX ? AIMC_CFG_SCALE_MAX : (int32_t)mag;
    return mag > (uint64_t)(-(int64_t)AIMC_CFG_SCALE_MIN) ? AIMC_CFG_SCALE_MIN : (int32_t)(-(int64_t)mag);
}

void aimc_cal_add(aimc_cal_sums_t *c, int64_t q, int32_t y_out, const aimc_cal_window_t *window)
{
    int64_t y;
    if (y_out <= window->low || y_out >= window->high)
        return;
    y = (int64_t)y_out - window->offset;
    c->n++;
    if (c->range)
        return;
    if (abs64(q) > c->max_q)
        c->max_q = abs64(q);
    if (abs64(y) > c->max_y)
        c->max_y = abs64(y);
    /* max_q < 2^31 keeps n * max_q below 2^63 */
    if (c->max_q >= SUM_LIMIT || c->max_y >= SUM_LIMIT || (int64_t)c->n * c->max_q >= SUM_LIMIT ||
        (int64_t)c->n * c->max_y >= SUM_LIMIT) {
        c->range = 1;
        return;
    }
    c->sq += q;
    c->sy += y;
    c->sqq += q * q;
    c->sqy += q * y;
}

/* Status, D and N of a column's fit (contract.calibration.fit_moments). */
static int fit_moments(const aimc_cal_sums_t *c, int64_t *d, int64_t *bn)
{
    int64_t n;
    *d = *bn = 0;
    if (c->n < 2u)
        return AIMC_CAL_FEW_SAMPLES;
    if (c->range)
        return AIMC_CAL_RANGE;
    n = (int64_t)c->n;
    *d = n * c->sqq - c->sq * c->sq;
    *bn = n * c->sqy - c->sq * c->sy;
    if (*d == 0)
        return AIMC_CAL_NO_SPREAD;
    if (*bn <= 0)
        return AIMC_CAL_BAD_GAIN;
    return AIMC_CAL_OK;
}

/* The shift e that leaves `bits` significant bits of v (contract.calibration.significant). */
static int excess_bits(uint64_t v, int bits)
{
    return bitlen(v) > bits ? bitlen(v) - bits : 0;
}

/* round(num 2^k / den) half up (contract.calibration.rounded_ratio); UINT64_MAX for "huge". */
static uint64_t rounded_ratio(uint64_t num, uint64_t den, int k)
{
    if (num == 0u)
        return 0u;
    if (k >= 0 && bitlen(num) + k > SHIFT_LIMIT)
        return UINT64_MAX;
    if (k < 0 && bitlen(den) - k > SHIFT_LIMIT)
        return 0u;
    if (k >= 0)
        num <<= k;
    else
        den <<= -k;
    return (2u * num + den) / (2u * den);
}

int aimc_cal_fit(const aimc_cal_sums_t *c, int32_t target_scale, int32_t target_offset, int32_t *scale,
                 int32_t *offset)
{
    const int s = AIMC_CFG_ADC_LSB_SHIFT;
    int64_t n, d, bn, a, m;
    uint64_t mag;
    int e_d, e_n, rc;
    int32_t sc;
    *scale = target_scale;
    *offset = target_offset;
    rc = fit_moments(c, &d, &bn);
    if (rc != AIMC_CAL_OK)
        return rc;
    n = (int64_t)c->n;
    e_d = excess_bits((uint64_t)d, RATIO_BITS);
    e_n = excess_bits((uint64_t)bn, RATIO_BITS);
    mag = rounded_ratio((uint64_t)abs64(target_scale) * ((uint64_t)d >> e_d), (uint64_t)bn >> e_n, e_d - e_n - s);
    sc = signed_scale(target_scale < 0, mag);           /* UINT64_MAX: beyond the scale range, clamps */
    a = (int64_t)target_scale * c->sq;
    m = floor_shift(a, s) - (int64_t)sc * c->sy;
    a = s ? (int64_t)(((uint64_t)a >> (s - 1)) & 1u) : 0;  /* bit s-1 of A: the half of its fraction */
    *scale = sc;
    *offset = clamp32((int64_t)target_offset + floor_div(2 * m + n + a, 2 * n), AIMC_CFG_OFFSET_MIN,
                      AIMC_CFG_OFFSET_MAX);
    return AIMC_CAL_OK;
}

int aimc_cal_tile_gain(const aimc_cal_sums_t *reference, const aimc_cal_sums_t *tile, uint32_t gain_bits,
                       int32_t *gain)
{
    int64_t d0, n0, dr, nr;
    uint64_t mag, top;
    int e_n0, e_dr, e_d0, e_nr, rc;
    if (reference == NULL || tile == NULL || gain == NULL || gain_bits < 2u || gain_bits > 16u)
        return AIMC_ERR_ARG;
    *gain = (int32_t)(1u << (gain_bits - 1u));
    rc = fit_moments(reference, &d0, &n0);
    if (rc != AIMC_CAL_OK)
        return rc;
    rc = fit_moments(tile, &dr, &nr);
    if (rc != AIMC_CAL_OK)
        return rc;
    e_n0 = excess_bits((uint64_t)n0, GAIN_RATIO_BITS);
    e_dr = excess_bits((uint64_t)dr, GAIN_RATIO_BITS);
    e_d0 = excess_bits((uint64_t)d0, GAIN_RATIO_BITS);
    e_nr = excess_bits((uint64_t)nr, GAIN_RATIO_BITS);
    mag = rounded_ratio(((uint64_t)1 << (gain_bits - 1u)) * ((uint64_t)n0 >> e_n0) * ((uint64_t)dr >> e_dr),
                        ((uint64_t)d0 >> e_d0) * ((uint64_t)nr >> e_nr), e_n0 + e_dr - e_d0 - e_nr);
    top = ((uint64_t)1 << gain_bits) - 1u;
    *gain = (int32_t)(mag > top ? top : mag);
    return AIMC_CAL_OK;
}

void aimc_cal_centring_add(aimc_cal_centring_t *c, int32_t y_out, const aimc_cal_window_t *window)
{
    c->n++;
    if (y_out >= window->high) {
        c->above++;
    } else if (y_out <= window->low) {
        c->below++;
    } else {
        c->inside++;
        c->sum_inside += (int64_t)y_out - window->offset;
    }
}

int32_t aimc_cal_centring_step(const aimc_cal_centring_t *c, const aimc_cal_window_t *window)
{
    int32_t half = (int32_t)(((int64_t)window->high - window->low) / 2);
    if (c->inside > 0u && 2u * (uint64_t)c->inside >= (uint64_t)c->n)
        return (int32_t)floor_div(2 * c->sum_inside + (int64_t)c->inside, 2 * (int64_t)c->inside);
    return c->above >= c->below ? half : -half;
}

/* One pass: OFFSET_j = (window->offset - trim_j) << f, the n vectors as MVMs (tile < ALL_ROWS: masked to
 * that row tile's rows), every read-out into the column's centring counts and (inside the window, with
 * its trim) into its fit sums. */
static int centring_pass(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                         const aimc_cal_window_t *window, const int32_t *trim, uint32_t tile,
                         aimc_cal_centring_t *counts, aimc_cal_sums_t *sums)
{
    int32_t y[AIMC_CFG_LOGICAL_COLS], scale[AIMC_CFG_LOGICAL_COLS], offset[AIMC_CFG_LOGICAL_COLS];
    int32_t masked[AIMC_CFG_LOGICAL_ROWS];
    aimc_cal_window_t trimmed[AIMC_CFG_LOGICAL_COLS];
    const int32_t *x;
    uint32_t k, i, j;
    int64_t q;
    for (j = 0; j < AIMC_CFG_LOGICAL_COLS; j++) {
        scale[j] = AIMC_CFG_SCALE_ONE;
        offset[j] = (int32_t)(((int64_t)window->offset - trim[j]) * ((int64_t)1 << AIMC_CFG_SCALE_FRAC_BITS));
        trimmed[j] = *window;
        trimmed[j].offset = window->offset - trim[j];   /* y = output - offset + trim */
        counts[j].n = counts[j].inside = counts[j].above = counts[j].below = 0u;
        counts[j].sum_inside = 0;
        sums[j].n = sums[j].range = 0u;
        sums[j].sq = sums[j].sy = sums[j].sqq = sums[j].sqy = sums[j].max_q = sums[j].max_y = 0;
    }
    CHECK(aimc_load_coefficients(dev, 0u, AIMC_CFG_LOGICAL_COLS, scale, offset));
    for (k = 0; k < n; k++) {
        x = xs + (size_t)k * AIMC_CFG_LOGICAL_ROWS;
        if (tile != ALL_ROWS) {                         /* only row tile `tile`'s rows driven */
            for (i = 0; i < AIMC_CFG_LOGICAL_ROWS; i++)
                masked[i] = i / AIMC_CFG_TILE_ROWS == tile ? x[i] : 0;
            x = masked;
        }
        CHECK(aimc_mvm(dev, x, y, AIMC_CFG_LOGICAL_COLS));
        for (j = 0; j < AIMC_CFG_LOGICAL_COLS; j++) {
            for (i = 0, q = 0; i < AIMC_CFG_LOGICAL_ROWS; i++)
                q += (int64_t)x[i] * w[(size_t)i * ld + j];
            aimc_cal_centring_add(&counts[j], y[j], window);
            aimc_cal_add(&sums[j], q, y[j], &trimmed[j]);
        }
    }
    return AIMC_OK;
}

/* The argument checks of the calibration routines. */
static int check_calibration(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs,
                             const aimc_cal_window_t *window, const int32_t *target_scale,
                             const int32_t *target_offset)
{
    int64_t measure_offset;
    uint32_t j;
    if (dev == NULL || w == NULL || xs == NULL || window == NULL || target_scale == NULL ||
        target_offset == NULL || ld < AIMC_CFG_LOGICAL_COLS)
        return AIMC_ERR_ARG;
    measure_offset = (int64_t)window->offset * ((int64_t)1 << AIMC_CFG_SCALE_FRAC_BITS);
    if (window->low < AIMC_CFG_OUTPUT_MIN || window->high > AIMC_CFG_OUTPUT_MAX || window->low >= window->high ||
        measure_offset < AIMC_CFG_OFFSET_MIN || measure_offset > AIMC_CFG_OFFSET_MAX)
        return AIMC_ERR_RANGE;
    for (j = 0; j < AIMC_CFG_LOGICAL_COLS; j++)
        if (target_scale[j] < AIMC_CFG_SCALE_MIN || target_scale[j] > AIMC_CFG_SCALE_MAX ||
            target_offset[j] < AIMC_CFG_OFFSET_MIN || target_offset[j] > AIMC_CFG_OFFSET_MAX)
            return AIMC_ERR_RANGE;
    return AIMC_OK;
}

/* The centred measurement (contract.calibration's centring rule): the trims c (start 0) and the sums of the
 * measurement pass, with the n vectors xs (tile < ALL_ROWS: masked to that row tile's rows). */
static int measure_centred(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                           const aimc_cal_window_t *window, uint32_t rounds, uint32_t tile, int32_t *c,
                           aimc_cal_sums_t *sums)
{
    aimc_cal_centring_t counts[AIMC_CFG_LOGICAL_COLS];
    uint32_t r, j, moved;
    int64_t trim_min, trim_max, next;
    /* OFFSET = (window->offset - c) << f within [OFFSET_MIN, OFFSET_MAX] */
    trim_min = (int64_t)window->offset - floor_shift(AIMC_CFG_OFFSET_MAX, AIMC_CFG_SCALE_FRAC_BITS);
    trim_max = (int64_t)window->offset + floor_shift(-(int64_t)AIMC_CFG_OFFSET_MIN, AIMC_CFG_SCALE_FRAC_BITS);
    for (j = 0; j < AIMC_CFG_LOGICAL_COLS; j++)
        c[j] = 0;
    CHECK(aimc_single_layer(dev));
    for (r = 0;; r++) {
        CHECK(centring_pass(dev, w, ld, xs, n, window, c, tile, counts, sums));
        if (r == rounds)
            break;
        for (j = 0, moved = 0; j < AIMC_CFG_LOGICAL_COLS; j++) {
            next = (int64_t)c[j] + aimc_cal_centring_step(&counts[j], window);
            next = next < trim_min ? trim_min : (next > trim_max ? trim_max : next);
            moved += next != c[j];
            c[j] = (int32_t)next;
        }
        if (!moved)
            break;
    }
    return AIMC_OK;
}

int aimc_calibrate_columns_centred(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                                   const aimc_cal_window_t *window, uint32_t rounds, const int32_t *target_scale,
                                   const int32_t *target_offset, int32_t *new_scale, int32_t *new_offset,
                                   uint8_t *status, int32_t *trim)
{
    aimc_cal_sums_t sums[AIMC_CFG_LOGICAL_COLS];
    int32_t c[AIMC_CFG_LOGICAL_COLS], scale[AIMC_CFG_LOGICAL_COLS], offset[AIMC_CFG_LOGICAL_COLS];
    uint32_t j, failed = 0;
    int rc;
    CHECK(check_calibration(dev, w, ld, xs, window, target_scale, target_offset));
    CHECK(measure_centred(dev, w, ld, xs, n, window, rounds, ALL_ROWS, c, sums));
    for (j = 0; j < AIMC_CFG_LOGICAL_COLS; j++) {
        rc = aimc_cal_fit(&sums[j], target_scale[j], target_offset[j], &scale[j], &offset[j]);
        failed += rc != AIMC_CAL_OK;
        if (status)
            status[j] = (uint8_t)rc;
        if (new_scale)
            new_scale[j] = scale[j];
        if (new_offset)
            new_offset[j] = offset[j];
        if (trim)
            trim[j] = c[j];
    }
    CHECK(aimc_load_coefficients(dev, 0u, AIMC_CFG_LOGICAL_COLS, scale, offset));
    return failed ? AIMC_ERR_CALIBRATION : AIMC_OK;
}

int aimc_calibrate_columns(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                           const aimc_cal_window_t *window, const int32_t *target_scale,
                           const int32_t *target_offset, int32_t *new_scale, int32_t *new_offset,
                           uint8_t *status)
{
    return aimc_calibrate_columns_centred(dev, w, ld, xs, n, window, 0u, target_scale, target_offset, new_scale,
                                          new_offset, status, NULL);
}

/* ------------------------------------------------------------------------------------------ row tiles */

int aimc_calibrate_tile_gains(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                              const int32_t *tile_xs, uint32_t tile_n, const aimc_cal_window_t *window,
                              uint32_t rounds, const int32_t *target_scale, const int32_t *target_offset,
                              int32_t *gains, uint8_t *gain_status, int32_t *new_scale, int32_t *new_offset,
                              uint8_t *status, int32_t *trim)
{
#ifdef AIMC_TILE_GAIN_BASE
    aimc_cal_sums_t reference[AIMC_CFG_LOGICAL_COLS], sums[AIMC_CFG_LOGICAL_COLS];
    int32_t c[AIMC_CFG_LOGICAL_COLS], g[AIMC_TILE_GAIN_DEPTH];
    const int32_t *vectors;
    uint32_t r, j, count, failed = 0;
    int rc;
    CHECK(check_calibration(dev, w, ld, xs, window, target_scale, target_offset));
    for (j = 0; j < AIMC_TILE_GAIN_DEPTH; j++)
        g[j] = (int32_t)(1u << (AIMC_TILE_GAIN_WIDTH - 1u));
    CHECK(aimc_load_tile_gains(dev, g));
    for (r = 0; r < AIMC_CFG_ROW_TILES; r++) {
        vectors = tile_xs ? tile_xs + (size_t)r * tile_n * AIMC_CFG_LOGICAL_ROWS : xs;
        count = tile_xs ? tile_n : n;
        CHECK(measure_centred(dev, w, ld, vectors, count, window, rounds, r, c, r ? sums : reference));
        for (j = 0; r && j < AIMC_CFG_LOGICAL_COLS; j++) {
            rc = aimc_cal_tile_gain(&reference[j], &sums[j], AIMC_TILE_GAIN_WIDTH,
                                    &g[(r - 1u) * AIMC_CFG_LOGICAL_COLS + j]);
            failed += rc != AIMC_CAL_OK;
            if (gain_status)
                gain_status[(r - 1u) * AIMC_CFG_LOGICAL_COLS + j] = (uint8_t)rc;
        }
    }
    CHECK(aimc_load_tile_gains(dev, g));
    if (gains)
        for (j = 0; j < AIMC_TILE_GAIN_DEPTH; j++)
            gains[j] = g[j];
    rc = aimc_calibrate_columns_centred(dev, w, ld, xs, n, window, rounds, target_scale, target_offset, new_scale,
                                        new_offset, status, trim);
    return rc == AIMC_OK && failed ? AIMC_ERR_CALIBRATION : rc;
#else
    (void)dev; (void)w; (void)ld; (void)xs; (void)n; (void)tile_xs; (void)tile_n; (void)window; (void)rounds;
    (void)target_scale; (void)target_offset; (void)gains; (void)gain_status; (void)new_scale; (void)new_offset;
    (void)status; (void)trim;
    return AIMC_ERR_ARG;                /* built without trims */
#endif
}

/* ------------------------------------------------------------------------------------------ drift */

int aimc_pcdc_measure(aimc_dev_t *dev, const int32_t *cal_xs, uint32_t n, const int32_t *base_scale,
                      uint64_t *readouts)
{
    static const int32_t zero[1] = {0};
    int32_t y[AIMC_CFG_LOGICAL_COLS];
    uint32_t k, c;
    if (dev == NULL || cal_xs == NULL || base_scale == NULL || readouts == NULL || n == 0u)
        return AIMC_ERR_ARG;
    CHECK(aimc_single_layer(dev));
    CHECK(aimc_load_coefficients(dev, 0u, AIMC_CFG_LOGICAL_COLS, base_scale, NULL));
    for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++) {
        CHECK(aimc_load_coefficients(dev, c, 1u, NULL, zero));
        readouts[c] = 0u;
    }
    for (k = 0; k < n; k++) {
        CHECK(aimc_mvm(dev, cal_xs + (size_t)k * AIMC_CFG_LOGICAL_ROWS, y, AIMC_CFG_LOGICAL_COLS));
        for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++)
            readouts[c] += (uint64_t)abs64(y[c]);
    }
    return AIMC_OK;
}

int aimc_pcdc_rescale(const int32_t *base_scale, uint32_t count, const uint64_t *reference,
                      const uint64_t *readout, int32_t *new_scale)
{
    uint32_t i;
    uint64_t r0, rt;
    if (base_scale == NULL || reference == NULL || readout == NULL || new_scale == NULL)
        return AIMC_ERR_ARG;
    for (i = 0; i < count; i++) {
        r0 = reference[i];
        rt = readout[i] ? readout[i] : 1u;      /* aihwkit clamps its read-out at a small minimum */
        if (r0 == 0u) {
            new_scale[i] = base_scale[i];
            continue;
        }
        while (r0 >= READOUT_LIMIT || rt >= READOUT_LIMIT) {
            r0 >>= 1;
            rt >>= 1;
        }
        if (rt == 0u)
            rt = 1u;
        new_scale[i] = signed_scale(base_scale[i] < 0,
                                    (2u * (uint64_t)abs64(base_scale[i]) * r0 + rt) / (2u * rt));
    }
    return AIMC_OK;
}

int aimc_drift_compensate(aimc_dev_t *dev, uint32_t mode, const int32_t *cal_xs, uint32_t n,
                          const uint64_t *reference, const int32_t *base_scale, const int32_t *base_offset,
                          int32_t *new_scale)
{
    uint64_t now[AIMC_CFG_LOGICAL_COLS], r0 = 0u, rt = 0u;
    int32_t scale[AIMC_CFG_LOGICAL_COLS];
    uint32_t c;
    if (reference == NULL || (mode != AIMC_DRIFT_GLOBAL && mode != AIMC_DRIFT_PER_COLUMN))
        return AIMC_ERR_ARG;
    CHECK(aimc_pcdc_measure(dev, cal_xs, n, base_scale, now));
    if (mode == AIMC_DRIFT_GLOBAL) {
        for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++) {
            r0 += reference[c];
            rt += now[c];
        }
        CHECK(aimc_gdc_rescale(base_scale, AIMC_CFG_LOGICAL_COLS, r0, rt, scale));
    } else {
        CHECK(aimc_pcdc_rescale(base_scale, AIMC_CFG_LOGICAL_COLS, reference, now, scale));
    }
    return aimc_load_compensation(dev, scale, base_offset, new_scale);
}
