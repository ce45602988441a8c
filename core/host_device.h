// EDNN_HOST_DEVICE: a function that nvcc compiles for both the host and the device (the pointwise
// maths shared by the CPU loops of cpu/ and the CUDA kernels of kernels/); plain C++ elsewhere.
#pragma once

#if defined(__CUDACC__)
#define EDNN_HOST_DEVICE __host__ __device__
#else
#define EDNN_HOST_DEVICE
#endif
