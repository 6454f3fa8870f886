// GemmKMajor compiled for the avx2 dispatch level (see gemm_kmajor_impl.h).
#define RS_KMAJOR_LEVEL avx2
#include "kernels/cpu/gemm_kmajor_impl.h"
