/*
 * aimc_driver.h: portable C99 driver of an aimcgen accelerator, over a tiny bus HAL.
 *
 * Building for one design
 *   The driver takes every size and address from the design's generated register header
 *   (aimcgen.firmware.generate.write_firmware(spec, dir) writes <name>_regs.h). Select it at compile time:
 *
 *     gcc -std=c99 -Wall -Wextra -Werror -pedantic -I firmware -I <dir> \
 *         -DAIMC_REGS_HEADER='"<name>_regs.h"' -c firmware/aimc_driver.c
 *
 *   Without AIMC_REGS_HEADER the driver includes "aimc_regs.h" (copy or symlink the generated header to
 *   that name). One build of the driver serves one design; aimc_init() checks at run time that the
 *   hardware is that design (ID magic, SPEC_HASH and the parameter registers).
 *
 * Rules: no dynamic allocation, no stdio, no global state (everything lives in aimc_dev_t); every wait
 * polls at most dev->timeout_polls times and then returns AIMC_ERR_TIMEOUT. Every function returns an
 * aimc_status_t (0 = AIMC_OK, negative = error). Integers that hardware holds as narrower signed words
 * (weights, inputs, coefficients, outputs) are int32_t in the API.
 */
#ifndef AIMC_DRIVER_H
#define AIMC_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifndef AIMC_REGS_HEADER
#define AIMC_REGS_HEADER "aimc_regs.h"
#endif
#include AIMC_REGS_HEADER

#ifdef __cplusplus
extern "C" {
#endif

/* Bus access: byte offsets relative to the accelerator's base (the HAL adds the base address).
 * Return 0 on success, nonzero when the bus reported an error (Wishbone err). */
typedef struct {
    int (*read32)(void *ctx, uint32_t offset, uint32_t *value);
    int (*write32)(void *ctx, uint32_t offset, uint32_t value);
    void *ctx;
} aimc_hal_t;

typedef enum {
    AIMC_OK = 0,
    AIMC_ERR_BUS = -1,          /* the HAL reported a bus error */
    AIMC_ERR_MAGIC = -2,        /* ID is not 'AIMC' */
    AIMC_ERR_SPEC_HASH = -3,    /* the hardware was built from another spec than this driver's header */
    AIMC_ERR_PARAM = -4,        /* a parameter register disagrees with the header */
    AIMC_ERR_TIMEOUT = -5,      /* a poll loop ran out of dev->timeout_polls */
    AIMC_ERR_ARG = -6,          /* NULL pointer, size or index out of range */
    AIMC_ERR_RANGE = -7,        /* a value does not fit its hardware word format */
    AIMC_ERR_PROG_VERIFY = -8,  /* program-and-verify: weights missed tolerance (see aimc_prog_report_t) */
    AIMC_ERR_CALIBRATION = -9,  /* drift compensation: zero calibration read-out */
    AIMC_ERR_START_DROPPED = -10 /* an MVM's CTRL.start could not be queued (ERRORS.start_dropped) */
} aimc_status_t;

typedef struct {
    aimc_hal_t hal;
    uint32_t timeout_polls;     /* register reads per wait loop before AIMC_ERR_TIMEOUT */
    uint32_t version;           /* VERSION register, after aimc_init */
    uint32_t spec_hash;         /* SPEC_HASH register, after aimc_init */
    uint32_t polls;             /* polls spent by the last wait (diagnostics) */
} aimc_dev_t;

/* Result of aimc_program_weights. */
typedef struct {
    uint32_t written;           /* weights written */
    uint32_t failures;          /* weights that missed tolerance in this call (PROG_STATUS difference) */
    uint32_t fail_row;          /* logical address of the last failing weight (PROG_FAIL_ADDR) */
    uint32_t fail_col;
    uint32_t errors;            /* ERRORS after programming */
} aimc_prog_report_t;

/* One layer of the layer sequencer: logical output columns start..start+count-1 (count 0: to the end). */
typedef struct {
    uint16_t start;
    uint16_t count;
} aimc_layer_t;

/* ------------------------------------------------------------------------------------------ programs
 *
 * A whole network's chip program (aimcgen.contract.chip_program, `aimcgen deploy`'s program.aimc) as C
 * tables: aimcgen.firmware.program_c.program_c_sources(program, spec) writes <name>_program.h/.c holding one
 * `const aimc_program_t <name>_program`. Host steps and segment drivers are the codes below. */

/* Host steps (contract.chip_program): what the host does around a segment and after the last one. */
typedef enum {
    AIMC_STEP_NONE = 0,         /* ends a step list */
    AIMC_STEP_RELU = 1,         /* max(code, 0) */
    AIMC_STEP_CLAMP = 2,        /* clip to +-max_magnitude */
    AIMC_STEP_IM2COL = 3,       /* one patch per output position (before a host_per_position segment) */
    AIMC_STEP_FLATTEN = 4,      /* per-position outputs (positions, F) -> F x oh x ow (NCHW) */
    AIMC_STEP_ARGMAX = 5        /* the prediction: index of the largest code (first on ties) */
} aimc_host_step_t;

typedef enum {
    AIMC_SEGMENT_SEQUENCER = 0,         /* LAYER_COUNT / LAYER_i = the descriptors; the chip chains them */
    AIMC_SEGMENT_HOST_PER_POSITION = 1  /* one MVM per im2col patch, the single descriptor */
} aimc_segment_driver_t;

typedef enum {
    AIMC_LAYER_DENSE = 0,
    AIMC_LAYER_CONV = 1
} aimc_layer_kind_t;

/* Geometry of a convolution (NCHW, group 1); all zero for a dense layer. */
typedef struct {
    uint32_t channels;          /* C, H, W of its input */
    uint32_t height;
    uint32_t width;
    uint32_t filters;           /* F, kh, kw of its kernel */
    uint32_t kernel_h;
    uint32_t kernel_w;
    uint32_t pad_top;
    uint32_t pad_left;
    uint32_t pad_bottom;
    uint32_t pad_right;
    uint32_t stride_h;
    uint32_t stride_w;
    uint32_t dilation_h;
    uint32_t dilation_w;
    uint32_t out_h;             /* output positions: out_h x out_w, row major */
    uint32_t out_w;
} aimc_conv_t;

typedef struct {
    uint32_t kind;              /* aimc_layer_kind_t */
    uint32_t segment;
    uint32_t row_start;         /* its crossbar matrix: rows row_start..row_end-1, */
    uint32_t row_end;
    uint32_t col_start;         /* columns col_start..col_end-1 of the logical matrix */
    uint32_t col_end;
    uint32_t in_features;       /* as the host sees them (a conv: C*H*W and F*oh*ow) */
    uint32_t out_features;
    uint32_t positions;         /* MVMs per input vector */
    uint32_t host_relu;         /* 1: the host applies its relu */
    aimc_conv_t conv;
} aimc_program_layer_t;

typedef struct {
    uint32_t driver;            /* aimc_segment_driver_t */
    uint32_t first_layer;       /* its layers: first_layer..last_layer */
    uint32_t last_layer;
    const aimc_layer_t *descriptors;
    uint32_t n_descriptors;
    uint8_t host_before[4];     /* aimc_host_step_t codes, AIMC_STEP_NONE after the last */
    uint8_t host_after[4];
} aimc_program_segment_t;

typedef struct {
    const char *network;
    const char *spec_name;
    uint32_t spec_hash;         /* must equal the chip's SPEC_HASH (aimc_load_program: AIMC_ERR_SPEC_HASH) */
    uint32_t logical_rows;
    uint32_t logical_cols;
    /* Input quantization, done by the caller (the driver takes codes):
     * x_code = clip(round_half_even((x - x_zero) / x_scale), -max_magnitude, max_magnitude), flat input
     * (NCHW order for images). */
    uint32_t max_magnitude;
    double x_scale;
    double x_zero;
    const int16_t *weights;     /* logical_rows x logical_cols conductance codes, row major; 0 = unplaced */
    const int32_t *scale;       /* logical_cols post-processor scale codes */
    const int32_t *offset;      /* logical_cols offset codes */
    const aimc_program_layer_t *layers;
    uint32_t n_layers;
    const aimc_program_segment_t *segments;
    uint32_t n_segments;
    uint8_t host_final[4];      /* after the last segment (argmax) */
    uint32_t in_features;       /* codes per input vector (the first layer's in_features) */
    uint32_t out_features;      /* codes per output vector (the last layer's out_features) */
    uint32_t stride;            /* the widest code vector between segments: workspace words per inference */
    int32_t *workspace;         /* 2 x max_batch x stride words that aimc_run_network uses between segments */
    uint32_t max_batch;
} aimc_program_t;

const char *aimc_strerror(int status);

/* Discovery: reads ID, VERSION, SPEC_HASH and the parameter registers and checks them against the header;
 * then puts the accelerator in register mode (CONFIG.out_stream = 0, one whole-grid layer) and clears the
 * sticky errors. `timeout_polls` 0 selects 100000. */
int aimc_init(aimc_dev_t *dev, const aimc_hal_t *hal, uint32_t timeout_polls);

/* Sticky errors: AIMC_ERRORS_*_MASK bits. aimc_clear_errors writes 1s to clear the bits of `mask`. */
int aimc_read_errors(aimc_dev_t *dev, uint32_t *errors);
int aimc_clear_errors(aimc_dev_t *dev, uint32_t mask);
/* Decodes an ERRORS word into a static text naming the highest-priority flag ("" for none): bus_error,
 * prog_verify_fail, start_dropped, acc_overflow, output_saturated. */
const char *aimc_error_name(uint32_t errors);

/* Program-and-verify of the `rows` x `cols` block of the logical weight matrix at (0, 0); `w` is row major
 * with `ld` elements per row. `tolerance` is 0..255 (the PROG_CTRL field); the hardware saturates it at
 * 2^weight_bits - 1, so any value from there on accepts every read back. Sets PROG_CTRL (tolerance,
 * max_retries), clears ERRORS.prog_verify_fail,
 * writes the WEIGHTS window (each write is acknowledged when the engine accepts it), waits for
 * STATUS.prog_busy low, then reads ERRORS, PROG_STATUS and PROG_FAIL_ADDR into `report` (may be NULL).
 * Returns AIMC_ERR_PROG_VERIFY when a weight missed tolerance. */
int aimc_program_weights(aimc_dev_t *dev, const int32_t *w, uint32_t rows, uint32_t cols, uint32_t ld,
                         uint32_t tolerance, uint32_t max_retries, aimc_prog_report_t *report);

/* Per-column affine coefficients for logical columns first..first+count-1; either array may be NULL
 * (left unchanged). */
int aimc_load_coefficients(aimc_dev_t *dev, uint32_t first, uint32_t count, const int32_t *scale,
                           const int32_t *offset);
int aimc_read_coefficients(aimc_dev_t *dev, uint32_t first, uint32_t count, int32_t *scale, int32_t *offset);

/* Per-row-tile gain trims (aimcgen/contract/tile_gain.py; only chips built with accumulator.tile_gain_bits
 * > 0 and more than one row tile have the TILE_GAIN window, AIMC_TILE_GAIN_BASE in the register header).
 * Writes all (AIMC_CFG_ROW_TILES - 1) * AIMC_CFG_LOGICAL_COLS trims, gains[(r - 1) * AIMC_CFG_LOGICAL_COLS +
 * j] of row tile r >= 1 in logical column j, unsigned AIMC_TILE_GAIN_WIDTH bits (unity 1 << (width - 1)).
 * AIMC_ERR_RANGE (nothing written) when a trim is outside 0..2^width - 1; AIMC_ERR_ARG on a chip without
 * the window. */
int aimc_load_tile_gains(aimc_dev_t *dev, const int32_t *gains);

/* Layer sequencer: LAYER_COUNT = n and LAYER_0..n-1. aimc_single_layer restores one whole-grid layer. */
int aimc_set_layers(aimc_dev_t *dev, const aimc_layer_t *layers, uint32_t n);
int aimc_single_layer(aimc_dev_t *dev);

/* One MVM through the registers: writes x (AIMC_CFG_LOGICAL_ROWS inputs) to INPUT (each write waits on the
 * bus for the load buffer), CTRL.start, polls STATUS until busy = 0 (busy is 1 from the CTRL.start ack until
 * the outputs are in OUTPUT and OUT_COUNT) and OUT_COUNT has advanced, then reads `n_out` words of OUTPUT
 * into y (n_out <= AIMC_CFG_LOGICAL_COLS; with layers, OUTPUT holds the last layer's columns from index 0).
 * Returns AIMC_ERR_START_DROPPED when busy fell without OUT_COUNT advancing and ERRORS.start_dropped is set
 * (the start could not be queued, e.g. the input stream filled the load buffer); the flag stays set. */
int aimc_mvm(aimc_dev_t *dev, const int32_t *x, int32_t *y, uint32_t n_out);

/* A batch: `n` vectors xs (n x AIMC_CFG_LOGICAL_ROWS, row major) -> ys (n x n_out). */
int aimc_run_batch(aimc_dev_t *dev, const int32_t *xs, uint32_t n, int32_t *ys, uint32_t n_out);

/* A layer chain over a batch: sets the layers, runs the batch (n_out = the last layer's count), restores a
 * single whole-grid layer. */
int aimc_run_chain(aimc_dev_t *dev, const aimc_layer_t *layers, uint32_t n_layers, const int32_t *xs,
                   uint32_t n, int32_t *ys, uint32_t n_out);

/* Global drift compensation (GDC).
 *
 * Conductance drift multiplies every column's accumulator by a common factor a(t) < 1 (to first order:
 * PCM drift G(t) = G0 ((t + t0) / t0)^-nu with a narrow nu distribution). With outputs
 * y = round((acc * s + o) / 2^f), the read-out R = sum over a fixed calibration set of |y| (all vectors,
 * columns 0..AIMC_CFG_LOGICAL_COLS-1), measured with the base scales s and zero offsets, is proportional
 * to a(t) up to rounding. Right after programming, aimc_gdc_measure gives the reference R0; later it gives
 * Rt, and a(t) ~= Rt / R0. Loading s' = round(s * R0 / Rt) (clamped to AIMC_CFG_SCALE_MIN..MAX) makes
 * acc(t) * s' ~= acc(0) * s again; offsets are restored unchanged (they do not drift). The read-out uses
 * zero offsets so that offsets do not bias the ratio; outputs that saturate, and columns that drift
 * differently, are not compensated (this is a global correction). The integer math: 64-bit products, round
 * half away from zero. `gain_q16` (may be NULL) receives R0 / Rt in Q16.16.
 *
 * aimc_gdc_measure: loads `base_scale` and zero offsets for all logical columns, runs the `n` calibration
 * vectors and returns R in *readout. aimc_gdc_calibrate: measures Rt the same way, computes and loads
 * s' and `base_offset` (NULL: zero offsets), and writes s' to `new_scale` (may be NULL). */
int aimc_gdc_measure(aimc_dev_t *dev, const int32_t *cal_xs, uint32_t n, const int32_t *base_scale,
                     uint64_t *readout);
int aimc_gdc_calibrate(aimc_dev_t *dev, const int32_t *cal_xs, uint32_t n, uint64_t reference,
                       const int32_t *base_scale, const int32_t *base_offset, int32_t *new_scale,
                       uint32_t *gain_q16);
/* Per-column calibration against the programmed weights and per-column drift compensation (with this
 * global one as an option): aimc_calibrate.h. */
/* Loads compensated coefficients: `scale` for all logical columns with `base_offset` (NULL: zero offsets),
 * and copies `scale` to `new_scale` (may be NULL). The common last step of every drift compensation. */
int aimc_load_compensation(aimc_dev_t *dev, const int32_t *scale, const int32_t *base_offset,
                           int32_t *new_scale);
/* The rescaling alone (no bus access): s' = round(s * reference / readout), clamped. */
int aimc_gdc_rescale(const int32_t *base_scale, uint32_t count, uint64_t reference, uint64_t readout,
                     int32_t *new_scale);

/* Loads a chip program: checks p->spec_hash against the chip's SPEC_HASH register (AIMC_ERR_SPEC_HASH) and
 * the logical shape against the header (AIMC_ERR_PARAM); programs every NON-ZERO weight with
 * program-and-verify (devices start erased at code 0; a chip that held another program must be erased
 * first, e.g. with aimc_program_weights of zeros), reporting as aimc_program_weights does (`report` may be
 * NULL; AIMC_ERR_PROG_VERIFY when a weight missed tolerance, after the coefficients are loaded); loads
 * SCALE / OFFSET of every logical column and puts the chip in register mode (CONFIG.out_stream = 0). */
int aimc_load_program(aimc_dev_t *dev, const aimc_program_t *p, uint32_t tolerance, uint32_t max_retries,
                      aimc_prog_report_t *report);

/* Runs a loaded program on `batch` inferences: x_codes (batch x p->in_features, quantized by the caller,
 * see aimc_program_t) -> y_codes (batch x p->out_features, the last segment's codes after its host steps)
 * and, when the program ends with argmax and `predictions` is not NULL, predictions (batch). The host's
 * schedule of sim.deploy.run.execute: segments in order, each over the whole batch (the chip's read noise
 * advances per MVM, so the order is that of the golden model); a sequencer segment sets the descriptors
 * and runs one chain per inference; a host_per_position segment runs one MVM per im2col patch (positions
 * row major, patch order channel, kernel row, kernel column, padding 0) and flattens to NCHW; relu and
 * clamp between segments. Segment inputs are zero padded to the logical rows. Uses p->workspace:
 * AIMC_ERR_ARG when batch > p->max_batch. Restores one whole-grid layer at the end. */
int aimc_run_network(aimc_dev_t *dev, const aimc_program_t *p, const int32_t *x_codes, uint32_t batch,
                     int32_t *y_codes, uint32_t *predictions);

/* Reads the activity counters into counts[AIMC_ACTIVITY_COUNTERS], indexed by AIMC_ACTIVITY_*: free-running
 * 32-bit counts since reset that wrap; subtract two readings (unsigned arithmetic wraps the same way) to
 * count the work between them. sim.models.activity predicts them. */
#define AIMC_ACTIVITY_MVMS 0u            /* MVM_COUNT: MVMs of the tile grid (one per input vector and layer) */
#define AIMC_ACTIVITY_DRIVE_CYCLES 1u    /* DRIVE_CYCLES: INTEGRATE commands, added over the tiles */
#define AIMC_ACTIVITY_ROW_ACTIVATIONS 2u /* ROW_ACTIVATIONS: rows enabled in them */
#define AIMC_ACTIVITY_CONVERSIONS 3u     /* CONVERSIONS: ADC samples taken */
#define AIMC_ACTIVITY_SKIPPED 4u         /* CONVERSIONS_SKIPPED: ADC samples the [sparsity] options skipped */
#define AIMC_ACTIVITY_COUNTERS 5u
int aimc_read_activity(aimc_dev_t *dev, uint32_t *counts);

#ifdef __cplusplus
}
#endif

#endif /* AIMC_DRIVER_H */
