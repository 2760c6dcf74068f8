/*
 * aimc_calibrate.h: per-column calibration of the post-processor and per-column drift compensation, on top
 * of the portable C driver (aimc_driver.h). Built together with aimc_driver.c (same AIMC_REGS_HEADER).
 *
 * Why: each analog column has its own gain and offset (ADC gain/offset spread, drift of its devices). The
 * host knows the weight codes W it programmed, so it can drive known vectors x_k, read each column, fit the
 * column against the exact product and load SCALE/OFFSET that undo the column's error.
 *
 * The integer rules are those of aimcgen/contract/calibration.py (its module docstring is the contract;
 * the Python host driver computes the same register values bit for bit). In short, with f =
 * AIMC_CFG_SCALE_FRAC_BITS and s = AIMC_CFG_ADC_LSB_SHIFT:
 *   - measuring: SCALE = AIMC_CFG_SCALE_ONE and OFFSET = window.offset << f in every column, so the output
 *     is acc + window.offset; a sample counts when window.low < output < window.high (the clamp points of
 *     the activation and output width), and y = output - window.offset;
 *   - fitting: q = (x @ W)[j] exactly; ideal accumulator u = q / 2^s; least squares y = a u + b per column;
 *   - loading: s' = round(s_t / a), o' = o_t + round(mean(u) s_t - mean(y) s') (the fit's centroid maps
 *     onto the target), clamped to the register ranges; s_t, o_t are the target (intended) codes.
 * No floating point: 64-bit integers only (a small core without an FPU runs it as is).
 */
#ifndef AIMC_CALIBRATE_H
#define AIMC_CALIBRATE_H

#include "aimc_driver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-column outcome of the fit (contract.calibration's OK, FEW_SAMPLES, RANGE, NO_SPREAD, BAD_GAIN). */
typedef enum {
    AIMC_CAL_OK = 0,            /* calibrated */
    AIMC_CAL_FEW_SAMPLES = 1,   /* fewer than 2 samples inside the window: the column keeps its targets */
    AIMC_CAL_RANGE = 2,         /* n * max|q| or n * max|y| reached 2^31: use fewer or smaller vectors */
    AIMC_CAL_NO_SPREAD = 3,     /* every counted sample has the same ideal product */
    AIMC_CAL_BAD_GAIN = 4       /* the fitted gain is <= 0: a dead or inverted column */
} aimc_cal_status_t;

/* Drift compensation modes of aimc_drift_compensate. */
typedef enum {
    AIMC_DRIFT_GLOBAL = 0,      /* one factor for all columns (aimc_gdc_rescale of the summed read-outs) */
    AIMC_DRIFT_PER_COLUMN = 1   /* one factor per column (aihwkit's PerColumnDriftCompensation) */
} aimc_drift_mode_t;

/* The output codes in which output = acc + offset is linear (contract.calibration.measurement_window):
 * activation none: low = AIMC_CFG_OUTPUT_MIN, high = AIMC_CFG_OUTPUT_MAX; relu: low = 0, high =
 * AIMC_CFG_OUTPUT_MAX; clip: low = 0, high = the clip level; offset = (low + high + 1) >> 1. */
typedef struct {
    int32_t offset;
    int32_t low;
    int32_t high;
} aimc_cal_window_t;

/* The exact sums of one column's counted samples. */
typedef struct {
    uint32_t n;
    uint32_t range;             /* 1 once n * max|q| or n * max|y| reached 2^31 (accumulation stops) */
    int64_t sq;
    int64_t sy;
    int64_t sqq;
    int64_t sqy;
    int64_t max_q;
    int64_t max_y;
} aimc_cal_sums_t;

/* Adds one sample (ideal product q, output read y_out) to a column's sums when it is inside the window. */
void aimc_cal_add(aimc_cal_sums_t *sums, int64_t q, int32_t y_out, const aimc_cal_window_t *window);

/* The fit of one column (no bus access): writes the scale and offset codes and returns aimc_cal_status_t
 * (a column that is not AIMC_CAL_OK gets target_scale, target_offset). */
int aimc_cal_fit(const aimc_cal_sums_t *sums, int32_t target_scale, int32_t target_offset, int32_t *scale,
                 int32_t *offset);

/* The calibration routine: loads the measurement coefficients (SCALE = 1.0, OFFSET = window->offset) in
 * every logical column and one whole-grid layer, runs the n vectors xs (n x AIMC_CFG_LOGICAL_ROWS) as MVMs,
 * fits every column against the exact product with the weights w (AIMC_CFG_LOGICAL_ROWS x
 * AIMC_CFG_LOGICAL_COLS, row stride ld: the target codes the host programmed) and loads the calibrated
 * SCALE/OFFSET (targets: target_scale, target_offset, one per column). new_scale, new_offset and status
 * (one per column each) may be NULL. Returns AIMC_ERR_CALIBRATION when a column could not be calibrated
 * (it is loaded with its targets), AIMC_ERR_ARG / AIMC_ERR_RANGE for bad arguments (window outside the
 * output range or its offset outside OFFSET's range), or a bus/MVM error. */
int aimc_calibrate_columns(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                           const aimc_cal_window_t *window, const int32_t *target_scale,
                           const int32_t *target_offset, int32_t *new_scale, int32_t *new_offset,
                           uint8_t *status);

/* One column's read-outs of a centring pass (contract.calibration.CentringCounts): how many fell inside
 * (window->low, window->high), at or above high, at or below low, and the sum of (output - window->offset)
 * over those inside. Zero it before a pass. */
typedef struct {
    uint32_t n;
    uint32_t inside;
    uint32_t above;
    uint32_t below;
    int64_t sum_inside;
} aimc_cal_centring_t;

/* Adds one read-out (taken with OFFSET = (window->offset - trim) << f) to a column's centring counts. */
void aimc_cal_centring_add(aimc_cal_centring_t *counts, int32_t y_out, const aimc_cal_window_t *window);

/* The move of a column's trim after a pass (no bus access): floor((2 S + k_in) / (2 k_in)), the mean
 * read-out inside the window rounded half up, when at least half the samples are inside; otherwise half a
 * window, (high - low) >> 1, towards the side with more clamped samples (up on a tie). */
int32_t aimc_cal_centring_step(const aimc_cal_centring_t *counts, const aimc_cal_window_t *window);

/* aimc_calibrate_columns with each column first centred on the window (contract.calibration's centring
 * rule). Why: bit-serial inputs multiply an ADC's offset by 2^steps - 1, so 1 LSB of it can push a column's
 * read-outs out of the whole output window, and the plain routine fits a clamped cloud. Column j has a
 * trim c_j (start 0) and is measured with SCALE = AIMC_CFG_SCALE_ONE, OFFSET_j = (window->offset - c_j) << f.
 * Passes r = 0..rounds each run the n vectors; after a pass r < rounds every c_j moves by
 * aimc_cal_centring_step, clamped so OFFSET_j stays in range; the pass in which no trim moves, or pass
 * `rounds`, is the measurement: a sample counts when window->low < output < window->high, with the column's
 * accumulator output - window->offset + c_j, fitted by aimc_cal_fit. rounds = 0 is aimc_calibrate_columns.
 * trim (one per column, may be NULL) receives the c_j; the other arguments and the returns are those of
 * aimc_calibrate_columns. At most (rounds + 1) n MVMs. */
int aimc_calibrate_columns_centred(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                                   const aimc_cal_window_t *window, uint32_t rounds, const int32_t *target_scale,
                                   const int32_t *target_offset, int32_t *new_scale, int32_t *new_offset,
                                   uint8_t *status, int32_t *trim);

/* Per-row-tile gain trims (aimcgen/contract/tile_gain_calibration.py is the rule, bit for bit). Why: a
 * logical column spanning several row tiles is converted by a different ADC in each; the accumulator sums
 * them before SCALE, so one SCALE cannot undo unequal gains. The trim of row tile r >= 1 in column j makes
 * it convert with row tile 0's gain (contract.tile_gain). */

/* The trim of one column of row tile r >= 1 (no bus access) from the measurement sums of row tile 0
 * (reference) and of row tile r: g = round(2^(gain_bits-1) N_0 D_r / (D_0 N_r)) half up, each of N_0, D_r,
 * D_0, N_r first reduced to 23 significant bits, clamped to 0..2^gain_bits - 1. Returns aimc_cal_status_t
 * (tile 0's status when its fit fails, else tile r's; *gain = unity 2^(gain_bits-1) unless AIMC_CAL_OK),
 * AIMC_ERR_ARG for gain_bits outside 2..16 or a NULL pointer. */
int aimc_cal_tile_gain(const aimc_cal_sums_t *reference, const aimc_cal_sums_t *tile, uint32_t gain_bits,
                       int32_t *gain);

/* The row tiles' trims, then aimc_calibrate_columns_centred (chips with the TILE_GAIN window only; others
 * get AIMC_ERR_ARG). Every trim at unity (aimc_load_tile_gains); for r = 0..AIMC_CFG_ROW_TILES-1 the
 * centred measurement (aimc_calibrate_columns_centred's passes, `rounds`) of row tile r alone: its vectors
 * with every input outside rows r * AIMC_CFG_TILE_ROWS .. (r + 1) * AIMC_CFG_TILE_ROWS - 1 set to 0 (the
 * routine masks them: tile_xs NULL: the n vectors xs; else tile_xs holds AIMC_CFG_ROW_TILES blocks of
 * tile_n vectors, block r for row tile r); aimc_cal_tile_gain of every column of r >= 1 against r = 0; the
 * trims loaded; then aimc_calibrate_columns_centred with xs. gains and gain_status ((AIMC_CFG_ROW_TILES - 1)
 * x AIMC_CFG_LOGICAL_COLS, word (r - 1) * AIMC_CFG_LOGICAL_COLS + j) may be NULL, the other outputs are
 * aimc_calibrate_columns_centred's. Returns AIMC_ERR_CALIBRATION when a trim stayed unity or a column could
 * not be calibrated. At most (AIMC_CFG_ROW_TILES * tile_n + n) (rounds + 1) MVMs (tile_n = n without
 * tile_xs). */
int aimc_calibrate_tile_gains(aimc_dev_t *dev, const int32_t *w, uint32_t ld, const int32_t *xs, uint32_t n,
                              const int32_t *tile_xs, uint32_t tile_n, const aimc_cal_window_t *window,
                              uint32_t rounds, const int32_t *target_scale, const int32_t *target_offset,
                              int32_t *gains, uint8_t *gain_status, int32_t *new_scale, int32_t *new_offset,
                              uint8_t *status, int32_t *trim);

/* Per-column drift compensation (contract.calibration): readouts[j] = sum over the n vectors of |output j|
 * measured with base_scale and zero offsets (as aimc_gdc_measure, one sum per column). */
int aimc_pcdc_measure(aimc_dev_t *dev, const int32_t *cal_xs, uint32_t n, const int32_t *base_scale,
                      uint64_t *readouts);
/* s'_j = round(s_j * reference_j / max(readout_j, 1)), clamped; a column with reference 0 keeps s_j. */
int aimc_pcdc_rescale(const int32_t *base_scale, uint32_t count, const uint64_t *reference,
                      const uint64_t *readout, int32_t *new_scale);

/* Drift compensation as an option: measures the per-column read-outs now, rescales base_scale either by
 * one global factor (AIMC_DRIFT_GLOBAL: aimc_gdc_rescale with the sums over columns of reference and
 * read-out, which are exactly aimc_gdc_measure's numbers) or per column (AIMC_DRIFT_PER_COLUMN), and loads
 * the new scales and base_offset (NULL: zero offsets). reference: per-column read-outs of
 * aimc_pcdc_measure right after programming (or calibration). new_scale may be NULL. */
int aimc_drift_compensate(aimc_dev_t *dev, uint32_t mode, const int32_t *cal_xs, uint32_t n,
                          const uint64_t *reference, const int32_t *base_scale, const int32_t *base_offset,
                          int32_t *new_scale);

#ifdef __cplusplus
}
#endif

#endif /* AIMC_CALIBRATE_H */
