/* spruce.h — the C interface of the Spruce embedded runtime (SpruceRuntime, built as the
 * shared library libSpruceRuntimeC). Loads a .spruce artifact, reports its input and output
 * shapes, runs batches of float32 samples. It is not thread-safe per model: one spruce_model runs
 * one call at a time (create one model per calling thread); different models are independent.
 * Errors never abort the process: functions return NULL / -1 and spruce_last_error() says why. */
#ifndef SPRUCE_H
#define SPRUCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An artifact loaded and planned for inference. */
typedef struct spruce_model spruce_model;

/** Loads, validates and plans the artifact at `path`, with `threads` worker threads per
 *  inference (values below 1 mean 1). Returns NULL on failure (see spruce_last_error). */
spruce_model *spruce_load(const char *path, int threads);

/** As spruce_load, from `length` bytes already in memory (copied; the caller keeps `bytes`). */
spruce_model *spruce_load_bytes(const void *bytes, size_t length, int threads);

/** Releases a model; NULL is allowed. */
void spruce_free(spruce_model *model);

/** Number of graph inputs / outputs (-1 when `model` is NULL). */
int spruce_input_count(const spruce_model *model);
int spruce_output_count(const spruce_model *model);

/** Name of input / output `index` (owned by the model), or NULL when out of range. */
const char *spruce_input_name(const spruce_model *model, int index);
const char *spruce_output_name(const spruce_model *model, int index);

/** Shape of ONE sample of input / output `index`: writes min(rank, capacity) dimensions into
 *  `dims` (may be NULL when capacity is 0) and returns the rank, or -1 when out of range. The
 *  leading dimension is the batch and reads 1; see spruce_batch_dynamic. */
int spruce_input_shape(const spruce_model *model, int index, int64_t *dims, int capacity);
int spruce_output_shape(const spruce_model *model, int index, int64_t *dims, int capacity);

/** Floats in one sample of input / output `index` (the product of its shape), 0 when out of range. */
size_t spruce_input_size(const spruce_model *model, int index);
size_t spruce_output_size(const spruce_model *model, int index);

/** 1 when the model's batch dimension is dynamic (any batch N runs), 0 when only N = 1 runs,
 *  -1 when `model` is NULL. */
int spruce_batch_dynamic(const spruce_model *model);

/** Runs a model with one input and one output. The batch N is input_count / spruce_input_size(0);
 *  input_count must be a positive multiple of it and output_count must be exactly
 *  N * spruce_output_size(0). Data is row-major float32 (NCHW for images).
 *  Returns N on success, -1 on failure (output untouched is not guaranteed on failure). */
int spruce_run(spruce_model *model, const float *input, size_t input_count, float *output, size_t output_count);

/** Runs a model with any number of inputs and outputs on a batch of `batch` samples:
 *  inputs[i] holds batch * spruce_input_size(i) floats, outputs[j] room for
 *  batch * spruce_output_size(j) floats, in the order of the indices above.
 *  Returns 0 on success, -1 on failure. */
int spruce_run_batch(spruce_model *model, int batch, const float *const *inputs, float *const *outputs);

/** The message of the last failure on the calling thread ("" when none). Valid until the next
 *  Spruce call on the same thread. */
const char *spruce_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* SPRUCE_H */
