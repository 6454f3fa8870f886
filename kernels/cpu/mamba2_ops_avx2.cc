// Mamba-2 ops compiled for the avx2 dispatch level (see mamba2_ops_impl.h).
#define RS_MAMBA2_LEVEL avx2
#include "kernels/cpu/mamba2_ops_impl.h"
