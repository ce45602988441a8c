// Devices: choosing one, and the memory primitives tensors are built on.
//
// The CPU is always there. The CUDA device exists when ednn was built with CUDA (EDNN_WITH_CUDA)
// and a driver and a GPU are present; asking for it otherwise is an error that says why, never a
// silent fallback to the CPU.
#pragma once
#include <cstddef>
#include <string>

#include "engine/numerics.h"  // what the CUDA device computes with
#include "engine/tensor.h"

namespace ednn {

// "cpu", "cuda", "cuda:N" or "auto" (cuda when a GPU is usable, else cpu; never the slow emulated
// device of an EDNN_EMULATE_CUDA build, which "cuda" does select). "cuda:N" makes card N the
// process's device (cudaSetDevice) before anything is allocated on it; "cuda" is the current one,
// card 0 unless a job's launcher set it (CUDA_VISIBLE_DEVICES, or NCCL's rank-to-card choice).
// Throws on anything else, on N not below the number of cards (the emulation is one device,
// cuda:0), and on "cuda" when no usable GPU is present (the message says whether the build, the
// driver or the device is missing, and names a card too old or without a kernel image).
Device parse_device(const std::string& name);
// N when parse_device("cuda:N") chose card N, else -1 (the NCCL communicator, which gives each
// rank of a job its own card, refuses a card chosen by hand in a job of more than one rank).
int chosen_cuda_device();

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


}  // namespace ednn
