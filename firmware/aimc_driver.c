/*
 * aimc_driver.c: portable C99 driver of an aimcgen accelerator (see aimc_driver.h).
 * No dynamic allocation, no stdio; every poll loop is bounded by dev->timeout_polls.
 */
#include "aimc_driver.h"

#define AIMC_DEFAULT_TIMEOUT 100000u

/* The header must be a generated aimcgen register header. */
#if !defined(AIMC_SPEC_HASH_VALUE) || !defined(AIMC_WEIGHTS_COL_STRIDE) || !defined(AIMC_LAYER_ADDR)
#error "AIMC_REGS_HEADER is not an aimcgen register header (aimcgen.firmware.generate.write_firmware)"
#endif

#define CHECK(expr)               \
    do {                          \
        int aimc_rc_ = (expr);    \
        if (aimc_rc_ != AIMC_OK)  \
            return aimc_rc_;      \
    } while (0)

static int rd(aimc_dev_t *dev, uint32_t offset, uint32_t *value)
{
    return dev->hal.read32(dev->hal.ctx, offset, value) ? AIMC_ERR_BUS : AIMC_OK;
}

static int wr(aimc_dev_t *dev, uint32_t offset, uint32_t value)
{
    return dev->hal.write32(dev->hal.ctx, offset, value) ? AIMC_ERR_BUS : AIMC_OK;
}

static uint32_t field(uint32_t word, uint32_t mask, uint32_t shift)
{
    return (word & mask) >> shift;
}

/* Two's complement sign extension of the low `bits` bits. */
static int32_t sext(uint32_t word, uint32_t bits)
{
    uint32_t m, sign;
    if (bits >= 32u)
        return (int32_t)word;
    m = (1u << bits) - 1u;
    sign = 1u << (bits - 1u);
    word &= m;
    return (word & sign) ? -(int32_t)((~word & m) + 1u) : (int32_t)word;
}

static int in_range(int32_t v, int32_t lo, int32_t hi)
{
    return v >= lo && v <= hi;
}

const char *aimc_strerror(int status)
{
    switch (status) {
    case AIMC_OK: return "ok";
    case AIMC_ERR_BUS: return "bus error";
    case AIMC_ERR_MAGIC: return "ID magic is not 'AIMC'";
    case AIMC_ERR_SPEC_HASH: return "SPEC_HASH differs from the driver's register header";
    case AIMC_ERR_PARAM: return "a parameter register differs from the driver's register header";
    case AIMC_ERR_TIMEOUT: return "timeout";
    case AIMC_ERR_ARG: return "invalid argument";
    case AIMC_ERR_RANGE: return "value out of range";
    case AIMC_ERR_PROG_VERIFY: return "program-and-verify failure";
    case AIMC_ERR_CALIBRATION: return "calibration failed";
    case AIMC_ERR_START_DROPPED: return "CTRL.start dropped (ERRORS.start_dropped)";
    default: return "unknown error";
    }
}

const char *aimc_error_name(uint32_t errors)
{
    if (errors & AIMC_ERRORS_BUS_ERROR_MASK) return "bus_error";
    if (errors & AIMC_ERRORS_PROG_VERIFY_FAIL_MASK) return "prog_verify_fail";
    if (errors & AIMC_ERRORS_START_DROPPED_MASK) return "start_dropped";
    if (errors & AIMC_ERRORS_ACC_OVERFLOW_MASK) return "acc_overflow";
    if (errors & AIMC_ERRORS_OUTPUT_SATURATED_MASK) return "output_saturated";
    return "";
}

/* ------------------------------------------------------------------------------------------ discovery */

static const struct {
    uint32_t addr;
    uint32_t value;
} expected_params[] = {
    {AIMC_TILE_ADDR, AIMC_TILE_ROWS_VALUE << AIMC_TILE_ROWS_SHIFT | AIMC_TILE_COLS_VALUE << AIMC_TILE_COLS_SHIFT |
                         AIMC_TILE_WEIGHT_BITS_VALUE << AIMC_TILE_WEIGHT_BITS_SHIFT},
    {AIMC_ARRAY_ADDR, AIMC_ARRAY_ROW_TILES_VALUE << AIMC_ARRAY_ROW_TILES_SHIFT |
                          AIMC_ARRAY_COL_TILES_VALUE << AIMC_ARRAY_COL_TILES_SHIFT},
    {AIMC_INPUT_FORMAT_ADDR, AIMC_INPUT_FORMAT_BITS_VALUE << AIMC_INPUT_FORMAT_BITS_SHIFT |
                                 AIMC_INPUT_FORMAT_ENCODING_VALUE << AIMC_INPUT_FORMAT_ENCODING_SHIFT},
    {AIMC_ADC_ADDR, AIMC_ADC_KIND_VALUE << AIMC_ADC_KIND_SHIFT | AIMC_ADC_BITS_VALUE << AIMC_ADC_BITS_SHIFT |
                        AIMC_ADC_COUNT_VALUE << AIMC_ADC_COUNT_SHIFT |
                        AIMC_ADC_LSB_SHIFT_VALUE << AIMC_ADC_LSB_SHIFT_SHIFT},
    {AIMC_DATAPATH_ADDR, AIMC_DATAPATH_ACC_BITS_VALUE << AIMC_DATAPATH_ACC_BITS_SHIFT |
                             AIMC_DATAPATH_OUTPUT_BITS_VALUE << AIMC_DATAPATH_OUTPUT_BITS_SHIFT |
                             AIMC_DATAPATH_SCALE_BITS_VALUE << AIMC_DATAPATH_SCALE_BITS_SHIFT |
                             AIMC_DATAPATH_SCALE_FRAC_BITS_VALUE << AIMC_DATAPATH_SCALE_FRAC_BITS_SHIFT |
                             AIMC_DATAPATH_OFFSET_BITS_VALUE << AIMC_DATAPATH_OFFSET_BITS_SHIFT},
};

int aimc_init(aimc_dev_t *dev, const aimc_hal_t *hal, uint32_t timeout_polls)
{
    uint32_t v;
    size_t i;
    if (dev == NULL || hal == NULL || hal->read32 == NULL || hal->write32 == NULL)
        return AIMC_ERR_ARG;
    dev->hal = *hal;
    dev->timeout_polls = timeout_polls ? timeout_polls : AIMC_DEFAULT_TIMEOUT;
    dev->version = 0;
    dev->spec_hash = 0;
    dev->polls = 0;
    CHECK(rd(dev, AIMC_ID_ADDR, &v));
    if (v != AIMC_MAGIC_VALUE)
        return AIMC_ERR_MAGIC;
    CHECK(rd(dev, AIMC_VERSION_ADDR, &dev->version));
    CHECK(rd(dev, AIMC_SPEC_HASH_ADDR, &dev->spec_hash));
    if (dev->spec_hash != AIMC_SPEC_HASH_VALUE)
        return AIMC_ERR_SPEC_HASH;
    for (i = 0; i < sizeof expected_params / sizeof expected_params[0]; i++) {
        CHECK(rd(dev, expected_params[i].addr, &v));
        if (v != expected_params[i].value)
            return AIMC_ERR_PARAM;
    }
    CHECK(wr(dev, AIMC_CONFIG_ADDR, 0u));          /* outputs to the OUTPUT window only */
    CHECK(aimc_single_layer(dev));
    return aimc_clear_errors(dev, 0xFFFFFFFFu);
}

/* ------------------------------------------------------------------------------------------ errors */

int aimc_read_errors(aimc_dev_t *dev, uint32_t *errors)
{
    if (dev == NULL || errors == NULL)
        return AIMC_ERR_ARG;
    return rd(dev, AIMC_ERRORS_ADDR, errors);
}

int aimc_clear_errors(aimc_dev_t *dev, uint32_t mask)
{
    const uint32_t all = AIMC_ERRORS_ACC_OVERFLOW_MASK | AIMC_ERRORS_OUTPUT_SATURATED_MASK |
                         AIMC_ERRORS_PROG_VERIFY_FAIL_MASK | AIMC_ERRORS_BUS_ERROR_MASK |
                         AIMC_ERRORS_START_DROPPED_MASK;
    if (dev == NULL)
        return AIMC_ERR_ARG;
    return wr(dev, AIMC_ERRORS_ADDR, mask & all);
}

/* ------------------------------------------------------------------------------------------ weights */

static int wait_prog_idle(aimc_dev_t *dev)
{
    uint32_t status, n;
    for (n = 0; n < dev->timeout_polls; n++) {
        CHECK(rd(dev, AIMC_STATUS_ADDR, &status));
        if (!(status & AIMC_STATUS_PROG_BUSY_MASK)) {
            dev->polls = n + 1u;
            return AIMC_OK;
        }
    }
    dev->polls = n;
    return AIMC_ERR_TIMEOUT;
}

/* Program-and-verify, first half: PROG_CTRL, the failure flag cleared, PROG_STATUS before the writes. */
static int prog_begin(aimc_dev_t *dev, uint32_t tolerance, uint32_t max_retries, aimc_prog_report_t *rep,
                      uint32_t *before)
{
    if (tolerance > (AIMC_PROG_CTRL_TOLERANCE_MASK >> AIMC_PROG_CTRL_TOLERANCE_SHIFT) ||
        max_retries > (AIMC_PROG_CTRL_MAX_RETRIES_MASK >> AIMC_PROG_CTRL_MAX_RETRIES_SHIFT))
        return AIMC_ERR_RANGE;
    rep->written = 0;
    rep->failures = 0;
    rep->fail_row = 0;
    rep->fail_col = 0;
    rep->errors = 0;
    CHECK(wait_prog_idle(dev));
    CHECK(wr(dev, AIMC_PROG_CTRL_ADDR, tolerance << AIMC_PROG_CTRL_TOLERANCE_SHIFT |
                                           max_retries << AIMC_PROG_CTRL_MAX_RETRIES_SHIFT));
    CHECK(aimc_clear_errors(dev, AIMC_ERRORS_PROG_VERIFY_FAIL_MASK));
    return rd(dev, AIMC_PROG_STATUS_ADDR, before);
}

static int prog_write(aimc_dev_t *dev, uint32_t r, uint32_t c, int32_t w, aimc_prog_report_t *rep)
{
    CHECK(wr(dev, AIMC_WEIGHTS_BASE + 4u * (r * AIMC_WEIGHTS_COL_STRIDE + c), (uint32_t)w));
    rep->written++;
    return AIMC_OK;
}

/* Second half: wait for the engine, then ERRORS, the PROG_STATUS difference and PROG_FAIL_ADDR. */
static int prog_end(aimc_dev_t *dev, aimc_prog_report_t *rep, uint32_t before)
{
    uint32_t after, addr, errors;
    CHECK(wait_prog_idle(dev));
    CHECK(rd(dev, AIMC_ERRORS_ADDR, &errors));
    CHECK(rd(dev, AIMC_PROG_STATUS_ADDR, &after));
    rep->errors = errors;
    before = field(before, AIMC_PROG_STATUS_FAILURES_MASK, AIMC_PROG_STATUS_FAILURES_SHIFT);
    after = field(after, AIMC_PROG_STATUS_FAILURES_MASK, AIMC_PROG_STATUS_FAILURES_SHIFT);
    rep->failures = after - before;                /* the counter saturates: then a lower bound */
    if (rep->failures == 0 && (errors & AIMC_ERRORS_PROG_VERIFY_FAIL_MASK))
        rep->failures = 1;
    if (rep->failures) {
        CHECK(rd(dev, AIMC_PROG_FAIL_ADDR_ADDR, &addr));
        rep->fail_row = field(addr, AIMC_PROG_FAIL_ADDR_ROW_MASK, AIMC_PROG_FAIL_ADDR_ROW_SHIFT);
        rep->fail_col = field(addr, AIMC_PROG_FAIL_ADDR_COL_MASK, AIMC_PROG_FAIL_ADDR_COL_SHIFT);
        return AIMC_ERR_PROG_VERIFY;
    }
    return AIMC_OK;
}

int aimc_program_weights(aimc_dev_t *dev, const int32_t *w, uint32_t rows, uint32_t cols, uint32_t ld,
                         uint32_t tolerance, uint32_t max_retries, aimc_prog_report_t *report)
{
    uint32_t r, c, before;
    aimc_prog_report_t local;
    aimc_prog_report_t *rep = report ? report : &local;
    if (dev == NULL || w == NULL || rows > AIMC_CFG_LOGICAL_ROWS || cols > AIMC_CFG_LOGICAL_COLS || ld < cols)
        return AIMC_ERR_ARG;
    if (tolerance > (AIMC_PROG_CTRL_TOLERANCE_MASK >> AIMC_PROG_CTRL_TOLERANCE_SHIFT) ||
        max_retries > (AIMC_PROG_CTRL_MAX_RETRIES_MASK >> AIMC_PROG_CTRL_MAX_RETRIES_SHIFT))
        return AIMC_ERR_RANGE;
    for (r = 0; r < rows; r++)
        for (c = 0; c < cols; c++)
            if (!in_range(w[r * ld + c], -AIMC_CFG_WEIGHT_MAX, AIMC_CFG_WEIGHT_MAX))
                return AIMC_ERR_RANGE;
    CHECK(prog_begin(dev, tolerance, max_retries, rep, &before));
    for (r = 0; r < rows; r++)
        for (c = 0; c < cols; c++)
            CHECK(prog_write(dev, r, c, w[r * ld + c], rep));
    return prog_end(dev, rep, before);
}

/* ------------------------------------------------------------------------------------------ coefficients */

int aimc_load_coefficients(aimc_dev_t *dev, uint32_t first, uint32_t count, const int32_t *scale,
                           const int32_t *offset)
{
    uint32_t i;
    if (dev == NULL || first > AIMC_CFG_LOGICAL_COLS || count > AIMC_CFG_LOGICAL_COLS - first)
        return AIMC_ERR_ARG;
    for (i = 0; i < count; i++) {
        if (scale && !in_range(scale[i], AIMC_CFG_SCALE_MIN, AIMC_CFG_SCALE_MAX))
            return AIMC_ERR_RANGE;
        if (offset && !in_range(offset[i], AIMC_CFG_OFFSET_MIN, AIMC_CFG_OFFSET_MAX))
            return AIMC_ERR_RANGE;
    }
    for (i = 0; i < count; i++) {
        if (scale)
            CHECK(wr(dev, AIMC_SCALE_BASE + 4u * (first + i), (uint32_t)scale[i]));
        if (offset)
            CHECK(wr(dev, AIMC_OFFSET_BASE + 4u * (first + i), (uint32_t)offset[i]));
    }
    return AIMC_OK;
}

int aimc_load_tile_gains(aimc_dev_t *dev, const int32_t *gains)
{
#ifdef AIMC_TILE_GAIN_BASE
    uint32_t i;
    if (dev == NULL || gains == NULL)
        return AIMC_ERR_ARG;
    for (i = 0; i < AIMC_TILE_GAIN_DEPTH; i++)
        if (!in_range(gains[i], 0, (int32_t)((1u << AIMC_TILE_GAIN_WIDTH) - 1u)))
            return AIMC_ERR_RANGE;
    for (i = 0; i < AIMC_TILE_GAIN_DEPTH; i++)
        CHECK(wr(dev, AIMC_TILE_GAIN_BASE + 4u * i, (uint32_t)gains[i]));
    return AIMC_OK;
#else
    (void)dev;
    (void)gains;
    return AIMC_ERR_ARG;                /* built without trims */
#endif
}

int aimc_read_coefficients(aimc_dev_t *dev, uint32_t first, uint32_t count, int32_t *scale, int32_t *offset)
{
    uint32_t i, v;
    if (dev == NULL || first > AIMC_CFG_LOGICAL_COLS || count > AIMC_CFG_LOGICAL_COLS - first)
        return AIMC_ERR_ARG;
    for (i = 0; i < count; i++) {
        if (scale) {
            CHECK(rd(dev, AIMC_SCALE_BASE + 4u * (first + i), &v));
            scale[i] = sext(v, AIMC_SCALE_WIDTH);
        }
        if (offset) {
            CHECK(rd(dev, AIMC_OFFSET_BASE + 4u * (first + i), &v));
            offset[i] = sext(v, AIMC_OFFSET_WIDTH);
        }
    }
    return AIMC_OK;
}

/* ------------------------------------------------------------------------------------------ layers */

int aimc_set_layers(aimc_dev_t *dev, const aimc_layer_t *layers, uint32_t n)
{
    uint32_t i, end;
    if (dev == NULL || layers == NULL || n < 1u || n > AIMC_CFG_MAX_LAYERS)
        return AIMC_ERR_ARG;
    for (i = 0; i < n; i++) {
        end = (uint32_t)layers[i].start + (layers[i].count ? layers[i].count : 1u);
        if (end > AIMC_CFG_LOGICAL_COLS)
            return AIMC_ERR_ARG;
    }
    for (i = 0; i < n; i++)
        CHECK(wr(dev, AIMC_LAYER_ADDR(i), (uint32_t)layers[i].start << AIMC_LAYER_0_START_SHIFT |
                                              (uint32_t)layers[i].count << AIMC_LAYER_0_COUNT_SHIFT));
    return wr(dev, AIMC_LAYER_COUNT_ADDR, n << AIMC_LAYER_COUNT_COUNT_SHIFT);
}

int aimc_single_layer(aimc_dev_t *dev)
{
    const aimc_layer_t whole = {0u, 0u};
    return aimc_set_layers(dev, &whole, 1u);
}

/* ------------------------------------------------------------------------------------------ MVMs */

/* Waits for the MVM started by the CTRL.start just written. STATUS.busy is 1 from the cycle that write is
 * acknowledged until the outputs are in OUTPUT and OUT_COUNT (the register map's rule), so busy = 0 with
 * OUT_COUNT advanced means OUTPUT holds this MVM's outputs (and no later one is running that could change
 * it while it is read). busy = 0 with OUT_COUNT not advanced means the start was dropped when
 * ERRORS.start_dropped is set; otherwise polling goes on (OUT_COUNT also advances without busy on register
 * models that do not model busy). */
static int wait_mvm(aimc_dev_t *dev, uint32_t before)
{
    uint32_t n, status, count, errors;
    for (n = 0; n < dev->timeout_polls; n++) {
        CHECK(rd(dev, AIMC_STATUS_ADDR, &status));
        if (status & AIMC_STATUS_BUSY_MASK)
            continue;
        CHECK(rd(dev, AIMC_OUT_COUNT_ADDR, &count));
        if (count != before) {
            dev->polls = n + 1u;
            return AIMC_OK;
        }
        CHECK(rd(dev, AIMC_ERRORS_ADDR, &errors));
        if (errors & AIMC_ERRORS_START_DROPPED_MASK) {
            dev->polls = n + 1u;
            return AIMC_ERR_START_DROPPED;
        }
    }
    dev->polls = n;
    return AIMC_ERR_TIMEOUT;
}

int aimc_mvm(aimc_dev_t *dev, const int32_t *x, int32_t *y, uint32_t n_out)
{
    uint32_t i, before, v;
    if (dev == NULL || x == NULL || (y == NULL && n_out) || n_out > AIMC_CFG_LOGICAL_COLS)
        return AIMC_ERR_ARG;
    for (i = 0; i < AIMC_CFG_LOGICAL_ROWS; i++)
        if (!in_range(x[i], -AIMC_CFG_INPUT_MAX, AIMC_CFG_INPUT_MAX))
            return AIMC_ERR_RANGE;
    CHECK(rd(dev, AIMC_OUT_COUNT_ADDR, &before));
    for (i = 0; i < AIMC_CFG_LOGICAL_ROWS; i++)
        CHECK(wr(dev, AIMC_INPUT_BASE + 4u * i, (uint32_t)x[i]));   /* acked when the buffer is free */
    CHECK(wr(dev, AIMC_CTRL_ADDR, AIMC_CTRL_START_MASK));
    CHECK(wait_mvm(dev, before));
    for (i = 0; i < n_out; i++) {
        CHECK(rd(dev, AIMC_OUTPUT_BASE + 4u * i, &v));
        y[i] = sext(v, AIMC_OUTPUT_WIDTH);
    }
    return AIMC_OK;
}

int aimc_run_batch(aimc_dev_t *dev, const int32_t *xs, uint32_t n, int32_t *ys, uint32_t n_out)
{
    uint32_t k;
    if (dev == NULL || (n && (xs == NULL || (ys == NULL && n_out))))
        return AIMC_ERR_ARG;
    for (k = 0; k < n; k++)
        CHECK(aimc_mvm(dev, xs + (size_t)k * AIMC_CFG_LOGICAL_ROWS, ys ? ys + (size_t)k * n_out : NULL, n_out));
    return AIMC_OK;
}

int aimc_run_chain(aimc_dev_t *dev, const aimc_layer_t *layers, uint32_t n_layers, const int32_t *xs,
                   uint32_t n, int32_t *ys, uint32_t n_out)
{
    int rc;
    CHECK(aimc_set_layers(dev, layers, n_layers));
    rc = aimc_run_batch(dev, xs, n, ys, n_out);
    if (rc != AIMC_OK)
        return rc;
    return aimc_single_layer(dev);
}

/* ------------------------------------------------------------------------------------------ drift */

int aimc_gdc_rescale(const int32_t *base_scale, uint32_t count, uint64_t reference, uint64_t readout,
                     int32_t *new_scale)
{
    uint32_t i;
    uint64_t mag, q;
    int64_t s;
    if (base_scale == NULL || new_scale == NULL)
        return AIMC_ERR_ARG;
    /* Keep reference * |scale| (< 2^38 * 2^24) and 2 * that within 64 bits. */
    while (reference >= (1ull << 38) || readout >= (1ull << 38)) {
        reference >>= 1;
        readout >>= 1;
    }
    if (readout == 0u || reference == 0u)
        return AIMC_ERR_CALIBRATION;
    for (i = 0; i < count; i++) {
        s = base_scale[i];
        mag = (uint64_t)(s < 0 ? -s : s) * reference;
        q = (2u * mag + readout) / (2u * readout);            /* round half away from zero */
        s = s < 0 ? -(int64_t)q : (int64_t)q;
        if (s > AIMC_CFG_SCALE_MAX) s = AIMC_CFG_SCALE_MAX;
        if (s < AIMC_CFG_SCALE_MIN) s = AIMC_CFG_SCALE_MIN;
        new_scale[i] = (int32_t)s;
    }
    return AIMC_OK;
}

int aimc_gdc_measure(aimc_dev_t *dev, const int32_t *cal_xs, uint32_t n, const int32_t *base_scale,
                     uint64_t *readout)
{
    static const int32_t zero[1] = {0};
    int32_t y[AIMC_CFG_LOGICAL_COLS];
    uint64_t sum = 0;
    uint32_t k, c;
    if (dev == NULL || cal_xs == NULL || base_scale == NULL || readout == NULL || n == 0u)
        return AIMC_ERR_ARG;
    CHECK(aimc_load_coefficients(dev, 0u, AIMC_CFG_LOGICAL_COLS, base_scale, NULL));
    for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++)
        CHECK(aimc_load_coefficients(dev, c, 1u, NULL, zero));
    for (k = 0; k < n; k++) {
        CHECK(aimc_mvm(dev, cal_xs + (size_t)k * AIMC_CFG_LOGICAL_ROWS, y, AIMC_CFG_LOGICAL_COLS));
        for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++)
            sum += (uint64_t)(y[c] < 0 ? -(int64_t)y[c] : (int64_t)y[c]);
    }
    *readout = sum;
    return AIMC_OK;
}

int aimc_load_compensation(aimc_dev_t *dev, const int32_t *scale, const int32_t *base_offset,
                           int32_t *new_scale)
{
    static const int32_t zero[1] = {0};
    uint32_t c;
    CHECK(aimc_load_coefficients(dev, 0u, AIMC_CFG_LOGICAL_COLS, scale, base_offset));
    if (base_offset == NULL)
        for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++)
            CHECK(aimc_load_coefficients(dev, c, 1u, NULL, zero));
    if (new_scale)
        for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++)
            new_scale[c] = scale[c];
    return AIMC_OK;
}

int aimc_gdc_calibrate(aimc_dev_t *dev, const int32_t *cal_xs, uint32_t n, uint64_t reference,
                       const int32_t *base_scale, const int32_t *base_offset, int32_t *new_scale,
                       uint32_t *gain_q16)
{
    int32_t scale[AIMC_CFG_LOGICAL_COLS];
    uint64_t readout, ref = reference, now;
    CHECK(aimc_gdc_measure(dev, cal_xs, n, base_scale, &readout));
    CHECK(aimc_gdc_rescale(base_scale, AIMC_CFG_LOGICAL_COLS, reference, readout, scale));
    CHECK(aimc_load_compensation(dev, scale, base_offset, new_scale));
    if (gain_q16) {
        now = readout;
        while (ref >= (1ull << 40) || now >= (1ull << 40)) {
            ref >>= 1;
            now >>= 1;
        }
        ref = now ? ((ref << 16) + now / 2u) / now : 0xFFFFFFFFu;
        *gain_q16 = ref > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)ref;
    }
    return AIMC_OK;
}

/* ------------------------------------------------------------------------------------------ programs */

static int step_in(const uint8_t steps[4], uint32_t step)
{
    uint32_t i;
    for (i = 0; i < 4u && steps[i] != AIMC_STEP_NONE; i++)
        if (steps[i] == step)
            return 1;
    return 0;
}

int aimc_load_program(aimc_dev_t *dev, const aimc_program_t *p, uint32_t tolerance, uint32_t max_retries,
                      aimc_prog_report_t *report)
{
    uint32_t r, c, hash, before;
    int rc;
    int16_t w;
    aimc_prog_report_t local;
    aimc_prog_report_t *rep = report ? report : &local;
    if (dev == NULL || p == NULL || p->weights == NULL || p->scale == NULL || p->offset == NULL)
        return AIMC_ERR_ARG;
    CHECK(rd(dev, AIMC_SPEC_HASH_ADDR, &hash));
    if (hash != p->spec_hash || p->spec_hash != AIMC_SPEC_HASH_VALUE)
        return AIMC_ERR_SPEC_HASH;
    if (p->logical_rows != AIMC_CFG_LOGICAL_ROWS || p->logical_cols != AIMC_CFG_LOGICAL_COLS)
        return AIMC_ERR_PARAM;
    for (r = 0; r < AIMC_CFG_LOGICAL_ROWS; r++)
        for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++)
            if (!in_range(p->weights[r * AIMC_CFG_LOGICAL_COLS + c], -AIMC_CFG_WEIGHT_MAX, AIMC_CFG_WEIGHT_MAX))
                return AIMC_ERR_RANGE;
    CHECK(prog_begin(dev, tolerance, max_retries, rep, &before));
    for (r = 0; r < AIMC_CFG_LOGICAL_ROWS; r++) {
        for (c = 0; c < AIMC_CFG_LOGICAL_COLS; c++) {
            w = p->weights[r * AIMC_CFG_LOGICAL_COLS + c];
            if (w != 0)
                CHECK(prog_write(dev, r, c, w, rep));
        }
    }
    rc = prog_end(dev, rep, before);
    if (rc != AIMC_OK && rc != AIMC_ERR_PROG_VERIFY)
        return rc;
    CHECK(aimc_load_coefficients(dev, 0u, AIMC_CFG_LOGICAL_COLS, p->scale, p->offset));
    CHECK(wr(dev, AIMC_CONFIG_ADDR, 0u));          /* outputs to the OUTPUT window only */
    return rc;
}

/* Checks the tables aimc_run_network relies on. */
static int check_program(const aimc_program_t *p)
{
    uint32_t s, i, width = p->in_features, count;
    const aimc_program_segment_t *seg;
    const aimc_program_layer_t *first, *last;
    const aimc_conv_t *g;
    if (p->layers == NULL || p->segments == NULL || p->n_segments == 0u || p->stride < p->in_features ||
        p->stride < p->out_features)
        return AIMC_ERR_ARG;
    for (s = 0; s < p->n_segments; s++) {
        seg = &p->segments[s];
        if (seg->descriptors == NULL || seg->n_descriptors == 0u || seg->first_layer > seg->last_layer ||
            seg->last_layer >= p->n_layers)
            return AIMC_ERR_ARG;
        first = &p->layers[seg->first_layer];
        last = &p->layers[seg->last_layer];
        count = seg->descriptors[seg->n_descriptors - 1u].count;
        if (first->in_features != width || last->out_features > p->stride || count == 0u ||
            count > AIMC_CFG_LOGICAL_COLS)
            return AIMC_ERR_ARG;
        if (seg->driver == AIMC_SEGMENT_SEQUENCER) {
            if (step_in(seg->host_before, AIMC_STEP_IM2COL) || width > AIMC_CFG_LOGICAL_ROWS ||
                count != last->out_features)
                return AIMC_ERR_ARG;
        } else if (seg->driver == AIMC_SEGMENT_HOST_PER_POSITION) {
            g = &first->conv;
            if (seg->first_layer != seg->last_layer || seg->n_descriptors != 1u || first->kind != AIMC_LAYER_CONV ||
                !step_in(seg->host_before, AIMC_STEP_IM2COL) || g->filters != count ||
                g->channels * g->kernel_h * g->kernel_w > AIMC_CFG_LOGICAL_ROWS ||
                g->channels * g->height * g->width != width || g->out_h * g->out_w != first->positions ||
                g->filters * first->positions != first->out_features || g->stride_h == 0u || g->stride_w == 0u)
                return AIMC_ERR_ARG;
        } else {
            return AIMC_ERR_ARG;
        }
        for (i = 0; i < 4u && seg->host_after[i] != AIMC_STEP_NONE; i++)
            if (seg->host_after[i] != AIMC_STEP_RELU && seg->host_after[i] != AIMC_STEP_CLAMP &&
                seg->host_after[i] != AIMC_STEP_FLATTEN)
                return AIMC_ERR_ARG;
        width = last->out_features;
    }
    return width == p->out_features ? AIMC_OK : AIMC_ERR_ARG;
}

/* The im2col patch of output position (oy, ox) from one input vector (C*H*W codes, NCHW), zero padded to the
 * logical rows: element (channel, kernel row, kernel column) in that order; padding reads 0. */
static void im2col_patch(const aimc_conv_t *g, const int32_t *in, uint32_t oy, uint32_t ox, int32_t *patch)
{
    uint32_t ch, ky, kx, k = 0;
    long y, x;
    for (ch = 0; ch < AIMC_CFG_LOGICAL_ROWS; ch++)
        patch[ch] = 0;
    for (ch = 0; ch < g->channels; ch++) {
        for (ky = 0; ky < g->kernel_h; ky++) {
            for (kx = 0; kx < g->kernel_w; kx++, k++) {
                y = (long)(oy * g->stride_h + ky * g->dilation_h) - (long)g->pad_top;
                x = (long)(ox * g->stride_w + kx * g->dilation_w) - (long)g->pad_left;
                if (y >= 0 && x >= 0 && y < (long)g->height && x < (long)g->width)
                    patch[k] = in[((size_t)ch * g->height + (size_t)y) * g->width + (size_t)x];
            }
        }
    }
}

static void elementwise_steps(const uint8_t steps[4], int32_t *v, uint32_t n, int32_t m)
{
    uint32_t i, k;
    for (i = 0; i < 4u && steps[i] != AIMC_STEP_NONE; i++) {
        for (k = 0; k < n; k++) {
            if (steps[i] == AIMC_STEP_RELU && v[k] < 0)
                v[k] = 0;
            else if (steps[i] == AIMC_STEP_CLAMP)
                v[k] = v[k] > m ? m : (v[k] < -m ? -m : v[k]);
        }
    }
}

static int run_segment(aimc_dev_t *dev, const aimc_program_t *p, const aimc_program_segment_t *seg,
                       const int32_t *in, int32_t *out, uint32_t batch)
{
    int32_t x[AIMC_CFG_LOGICAL_ROWS];
    int32_t y[AIMC_CFG_LOGICAL_COLS];
    const aimc_program_layer_t *first = &p->layers[seg->first_layer];
    const aimc_program_layer_t *last = &p->layers[seg->last_layer];
    const aimc_conv_t *g = &first->conv;
    uint32_t count = seg->descriptors[seg->n_descriptors - 1u].count;
    uint32_t k, i, f, oy, ox, pos, flatten = step_in(seg->host_after, AIMC_STEP_FLATTEN);
    const int32_t *src;
    int32_t *dst;
    CHECK(aimc_set_layers(dev, seg->descriptors, seg->n_descriptors));
    for (k = 0; k < batch; k++) {
        src = in + (size_t)k * p->stride;
        dst = out + (size_t)k * p->stride;
        if (seg->driver == AIMC_SEGMENT_SEQUENCER) {
            for (i = 0; i < AIMC_CFG_LOGICAL_ROWS; i++)
                x[i] = i < first->in_features ? src[i] : 0;
            CHECK(aimc_mvm(dev, x, dst, count));
        } else {
            for (oy = 0, pos = 0; oy < g->out_h; oy++) {
                for (ox = 0; ox < g->out_w; ox++, pos++) {
                    im2col_patch(g, src, oy, ox, x);
                    CHECK(aimc_mvm(dev, x, y, count));
                    for (f = 0; f < count; f++)          /* flatten: NCHW; else (positions, F) */
                        dst[flatten ? (size_t)f * first->positions + pos : (size_t)pos * count + f] = y[f];
                }
            }
        }
        elementwise_steps(seg->host_after, dst, last->out_features, (int32_t)p->max_magnitude);
    }
    return AIMC_OK;
}

int aimc_run_network(aimc_dev_t *dev, const aimc_program_t *p, const int32_t *x_codes, uint32_t batch,
                     int32_t *y_codes, uint32_t *predictions)
{
    int32_t *a, *b, *t;
    uint32_t s, k, i, best;
    if (dev == NULL || p == NULL || (batch && (x_codes == NULL || y_codes == NULL)))
        return AIMC_ERR_ARG;
    if (batch == 0u)
        return AIMC_OK;
    if (batch > p->max_batch || p->workspace == NULL)
        return AIMC_ERR_ARG;
    CHECK(check_program(p));
    a = p->workspace;
    b = p->workspace + (size_t)p->max_batch * p->stride;
    for (k = 0; k < batch; k++)
        for (i = 0; i < p->in_features; i++)
            a[(size_t)k * p->stride + i] = x_codes[(size_t)k * p->in_features + i];
    for (s = 0; s < p->n_segments; s++) {
        CHECK(run_segment(dev, p, &p->segments[s], a, b, batch));
        t = a;
        a = b;
        b = t;
    }
    for (k = 0; k < batch; k++) {
        best = 0;
        for (i = 0; i < p->out_features; i++) {
            y_codes[(size_t)k * p->out_features + i] = a[(size_t)k * p->stride + i];
            if (a[(size_t)k * p->stride + i] > a[(size_t)k * p->stride + best])
                best = i;
        }
        if (predictions && step_in(p->host_final, AIMC_STEP_ARGMAX))
            predictions[k] = best;
    }
    return aimc_single_layer(dev);
}

int aimc_read_activity(aimc_dev_t *dev, uint32_t *counts)
{
    static const uint32_t addresses[AIMC_ACTIVITY_COUNTERS] = {
        AIMC_MVM_COUNT_ADDR, AIMC_DRIVE_CYCLES_ADDR, AIMC_ROW_ACTIVATIONS_ADDR, AIMC_CONVERSIONS_ADDR,
        AIMC_CONVERSIONS_SKIPPED_ADDR,
    };
    if (!counts)
        return AIMC_ERR_ARG;
    for (uint32_t i = 0; i < AIMC_ACTIVITY_COUNTERS; i++)
        CHECK(rd(dev, addresses[i], &counts[i]));
    return AIMC_OK;
}
