// Devices: choosing one, and the memory primitives tensors are built on.
//
// The CPU is always there. The CUDA device exists when ednn was built with CUDA (EDNN_WITH_CUDA)
// and a driver and a GPU are present; asking for it otherwise is an error that says why, never a
// silent fallback to the CPU.
#pragma once
#include <cstddef>
#include <string>

#include "engine/tensor.h"

namespace ednn {

// "cpu", "cuda" or "auto" (cuda when a GPU is usable, else cpu; never the slow emulated device of
// an EDNN_EMULATE_CUDA build, which "cuda" does select). Throws on anything else, and on "cuda"
// when no usable GPU is present (the message says whether the build, the driver or the device is missing).
Device parse_device(const std::string& name);

// True when CUDA kernels can run here; otherwise `why` (if given) says what is missing.
bool cuda_available(std::string* why = nullptr);

void* device_alloc(Device device, std::size_t bytes);
void device_free(Device device, void* ptr, std::size_t bytes);
// Copies bytes between any two devices. Copies involving CUDA are synchronous with respect to
// the host: they are the explicit, visible points where data crosses the bus.
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);
void device_zero(void* ptr, Device device, std::size_t bytes);
// Waits for all queued work on the device (a no-op on the CPU).
void device_synchronize(Device device);

// Whether CUDA convolutions may run on the tensor cores with TF32 inputs (kernel version 4 of
// kernels/conv2d.h): several times faster on an H100/H200, each product rounded to 10 mantissa
// bits (relative error up to about 2^-11; sums stay float). Off unless turned on here or with
// EDNN_TF32=1 in the environment (PyTorch's torch.backends.cudnn.allow_tf32 makes the same
// choice, on by default there). The CPU backend always computes in float.
bool allow_tf32();
void set_allow_tf32(bool allow);

// Which convolution kernels the CUDA backend runs, by their number in kernels/conv2d.h: 0 (the
// default) means automatic, that is 4 when allow_tf32() and otherwise the float kernels' own
// choice; 2 or 3 a fixed float kernel; 4 TF32 tensor cores; 5 tensor cores with float accuracy
// (3xTF32); 6 and 7 Winograd (one or two blocks per SM). Also EDNN_CONV_VERSION in the
// environment. For benchmarks and experiments.
int conv_kernel_version();
void set_conv_kernel_version(int version);

}  // namespace ednn
