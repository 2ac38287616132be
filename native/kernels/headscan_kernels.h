/* headscan CPU kernels: see headscan_kernels.c. This header is the input of bindings/kernels.args. */
#ifndef HEADSCAN_KERNELS_H
#define HEADSCAN_KERNELS_H
#include <stdint.h>

int hs_reduce_rows(const float *s, int64_t rows, int64_t cols, int64_t ld, const int64_t *diag,
                   float *max_out, double *sumexp_out, int64_t *greater_out, int64_t *less_out);

int hs_reduce_block(const float *s, int64_t rows, int64_t cols, int64_t ld, const float *ref,
                    double *sumexp_io, int64_t *greater_io, int64_t *less_io);

int hs_bias_gelu_new(float *x, int64_t rows, int64_t cols, int64_t ld, const float *bias);

int hs_rows_affine(const float *x, int64_t ldx, const int64_t *index, int64_t rows, int64_t cols,
                   const float *pre_scale, const float *pre_bias, int32_t norm, const float *scale, const float *bias,
                   const float *add, int64_t ldadd, float *y, int64_t ldy);

int hs_gated(float *g, int64_t ldg, const float *u, int64_t ldu, int64_t rows, int64_t cols, int32_t act);

int hs_softcap(float *x, int64_t rows, int64_t cols, int64_t ld, float cap);

int hs_kernels_version(void);

#endif
