// GemmKMajor compiled for the avx512 dispatch level (see gemm_kmajor_impl.h).
#define RS_KMAJOR_LEVEL avx512
#include "kernels/cpu/gemm_kmajor_impl.h"
