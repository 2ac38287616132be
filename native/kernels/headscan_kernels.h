/* headscan CPU kernels: see headscan_kernels.c. This header is the input of bindings/kernels.args. */
#ifndef HEADSCAN_KERNELS_H
#define HEADSCAN_KERNELS_H
#include <stdint.h>

int hs_reduce_rows(const float *s, int64_t rows, int64_t cols, int64_t ld, const int64_t *diag,
                   float *max_out, double *sumexp_out, int64_t *greater_out, int64_t *less_out);

int hs_bias_gelu_new(float *x, int64_t rows, int64_t cols, int64_t ld, const float *bias);

int hs_kernels_version(void);

#endif
