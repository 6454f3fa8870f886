// RWKV ops compiled for the avx2 dispatch level (see rwkv_ops_impl.h).
#define RS_RWKV_LEVEL avx2
#include "kernels/cpu/rwkv_ops_impl.h"
