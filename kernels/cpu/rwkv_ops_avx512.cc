// RWKV ops compiled for the avx512 dispatch level (see rwkv_ops_impl.h).
#define RS_RWKV_LEVEL avx512
#include "kernels/cpu/rwkv_ops_impl.h"
