/* classify.c — example C program embedding the Spruce runtime through spruce.h: loads a .spruce
 * binary classifier (one input, one output value per sample, a sigmoid probability), reads the
 * input from a float32 .npy file of the model's input shape (batch N allowed), and prints
 * each sample's score and decision. Built and run by Tests/SpruceRuntimeTests/CAPITests.swift.
 *   cc classify.c -I Sources/SpruceRuntime/include -L <lib dir> -lSpruceRuntimeC -o classify
 *   ./classify model.spruce image.npy [threads]
 * Not a general tool: only little-endian float32, C-order .npy files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spruce.h"

/* Reads a float32 .npy file: returns the data (malloc'd) and its element count, or NULL. */
static float *read_npy(const char *path, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "classify: cannot open %s\n", path); return NULL; }
    unsigned char magic[10];
    if (fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "classify: %s is not a .npy file\n", path); fclose(f); return NULL;
    }
    size_t header_len;
    if (magic[6] == 1) {
        header_len = magic[8] | (magic[9] << 8);
    } else {
        unsigned char more[2];
        if (fread(more, 1, 2, f) != 2) { fclose(f); return NULL; }
        header_len = magic[8] | (magic[9] << 8) | ((size_t)more[0] << 16) | ((size_t)more[1] << 24);
    }
    char *header = malloc(header_len + 1);
    if (!header || fread(header, 1, header_len, f) != header_len) {
        fprintf(stderr, "classify: %s: truncated header\n", path); free(header); fclose(f); return NULL;
    }
    header[header_len] = 0;
    if (!strstr(header, "'<f4'") || strstr(header, "'fortran_order': True")) {
        fprintf(stderr, "classify: %s: need little-endian float32 in C order\n", path);
        free(header); fclose(f); return NULL;
    }
    const char *shape = strstr(header, "'shape': (");
    size_t n = 1;
    if (shape) {
        const char *p = shape + 10;
        while (*p && *p != ')') {
            char *end;
            long d = strtol(p, &end, 10);
            if (end == p) { p++; continue; }
            n *= (size_t)d;
            p = end;
        }
    }
    free(header);
    float *data = malloc(n * sizeof(float) + 1);
    if (!data || fread(data, sizeof(float), n, f) != n) {
        fprintf(stderr, "classify: %s: truncated data\n", path); free(data); fclose(f); return NULL;
    }
    fclose(f);
    *count = n;
    return data;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: classify MODEL.spruce INPUT.npy [threads]\n");
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    spruce_model *model = spruce_load(argv[1], threads);
    if (!model) {
        fprintf(stderr, "classify: %s\n", spruce_last_error());
        return 1;
    }
    int64_t dims[8];
    int rank = spruce_input_shape(model, 0, dims, 8);
    printf("input %s: [", spruce_input_name(model, 0));
    for (int i = 0; i < rank && i < 8; i++) printf(i ? ", %lld" : "%lld", (long long)dims[i]);
    printf("]\n");

    size_t count = 0;
    float *input = read_npy(argv[2], &count);
    if (!input) { spruce_free(model); return 1; }
    size_t per_sample = spruce_input_size(model, 0), out_per_sample = spruce_output_size(model, 0);
    size_t batch = per_sample ? count / per_sample : 0;
    float *output = malloc((batch * out_per_sample + 1) * sizeof(float));
    int status = 0;
    if (spruce_run(model, input, count, output, batch * out_per_sample) < 0) {
        fprintf(stderr, "classify: %s\n", spruce_last_error());
        status = 1;
    } else {
        for (size_t s = 0; s < batch; s++) {
            float score = output[s * out_per_sample];
            printf("sample %zu: score %.9g decision %s\n", s, score, score >= 0.5f ? "malignant" : "benign");
        }
    }
    free(output);
    free(input);
    spruce_free(model);
    return status;
}
