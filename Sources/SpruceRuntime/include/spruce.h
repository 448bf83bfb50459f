/* spruce.h — the C interface of the Spruce embedded runtime (libspruce after `make install`;
 * pkg-config spruce or spruce-static). Loads a .spruce artifact, reports its input and output
 * shapes and metadata, runs batches of float32 samples.
 *
 * Threads: a spruce_model runs one call at a time (create one model per calling thread);
 * different models are independent, and the functions that take no model are safe anywhere.
 * Ownership: strings returned for a model belong to it and stay valid until spruce_free; the
 * caller owns every buffer it passes in, which Spruce only reads or writes during the call.
 * Errors never abort the process: NULL pointers, indices out of range and wrong sizes make the
 * function return NULL / -1 / 0 as documented, and spruce_last_error() says why. */
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

/** Number of metadata entries (how the artifact was made: source_file, packed_by, pruning,
 *  sparsity, values, and whatever its writer recorded), or -1 when `model` is NULL. */
int spruce_metadata_count(const spruce_model *model);

/** Key / value of metadata entry `index`, entries sorted by key (owned by the model), or NULL
 *  when out of range. */
const char *spruce_metadata_key(const spruce_model *model, int index);
const char *spruce_metadata_value(const spruce_model *model, int index);

/** The value of metadata `key` (owned by the model), or NULL when absent or an argument is NULL. */
const char *spruce_metadata(const spruce_model *model, const char *key);

/** Converts one image of interleaved 8-bit RGB (height x width x 3, row-major, already at the
 *  model's input size: nothing is resized) into the model's single image input: its layout
 *  (NCHW or NHWC) and the pixel scaling the artifact records (metadata input.scaling,
 *  input.mean, input.std; [0, 1] when it records none), as spruce run does. Writes exactly
 *  out_count = spruce_input_size(model, 0) floats. Returns 0, or -1 on NULL pointers, a size
 *  that does not match, or a model without one image input. */
int spruce_preprocess(const spruce_model *model, const uint8_t *rgb, int height, int width, float *out, size_t out_count);

/** This runtime's version, "major.minor.patch" (static storage). */
const char *spruce_version(void);

/** The artifact format: returns the newest major version this runtime reads (files of any
 *  minor version of it, and of every older major version, load) and stores in *minor, when
 *  `minor` is not NULL, the newest minor version of it that it knows. */
int spruce_format_version(int *minor);

/** The message of the last failure on the calling thread ("" when none). Valid until the next
 *  Spruce call on the same thread. */
const char *spruce_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* SPRUCE_H */
