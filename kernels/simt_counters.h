// simt_counters.h: what Nsight Compute would count about memory, counted by the CPU emulation.
//
// The emulation runs every thread of a kernel; in a counted build (below) it also sees every load
// and store the kernel makes, and groups them as the GPU issues them: the lanes of one warp that
// execute the same load or store instruction for the k-th time form one warp-level *request*.
// For each request it counts what the memory system does with it:
//   global memory: 32-byte sectors touched by the request (a coalesced float load of 32 lanes: 4;
//     one lane per 128-byte line: 32), bytes the lanes asked for, and, over the whole counted
//     interval, the distinct sectors touched (the DRAM traffic if everything stayed in L2);
//   shared memory: wavefronts (32 banks of 4 bytes; per phase, the largest number of distinct
//     4-byte words one bank must serve, so a broadcast costs 1; 8-byte accesses run in 2 phases of
//     16 lanes, 16-byte accesses in 4 phases of 8 lanes, as on the hardware);
//   both: requests and the lanes active in them (a full warp: 32 per request);
//   block barriers (__syncthreads and its counting forms), once per block that passes one.
//
// Use (CPU emulation only; nothing here exists for nvcc builds):
//   simt::counters::begin();
//   my_launcher(...);                      // any launches
//   simt::counters::Counts c = simt::counters::end();
//   c.global_load.sectors_per_request()    // 4 for a coalesced float load
// Counting needs two things from the build: the kernel sources compiled as C++ with
// `-fsanitize=thread` at compile time only (cmake/EdnnKernels.cmake,
// ednn_counted_emulation_sources: the compiler then calls a hook before every load and store, and
// kernels/simt_counters.cpp defines those hooks instead of the ThreadSanitizer runtime), and the
// program linked with ednn_simt_counters. Kernels from ordinary (uninstrumented) objects run as
// usual and are simply not counted; the ordinary builds are not touched.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/simt.h"

namespace simt::counters {

struct GlobalRequests {
  std::uint64_t requests = 0;  // warp-level instructions
  std::uint64_t lanes = 0;     // active lanes, summed over the requests
  std::uint64_t bytes = 0;     // bytes the lanes asked for
  std::uint64_t sectors = 0;   // 32-byte sectors, each counted once per request that touches it
  double sectors_per_request() const { return requests ? double(sectors) / double(requests) : 0.0; }
  double lanes_per_request() const { return requests ? double(lanes) / double(requests) : 0.0; }
};

struct SharedRequests {
  std::uint64_t requests = 0;
  std::uint64_t lanes = 0;
  std::uint64_t bytes = 0;
  std::uint64_t wavefronts = 0;  // passes through the 32 banks; 1 per phase without conflicts
  double wavefronts_per_request() const { return requests ? double(wavefronts) / double(requests) : 0.0; }
  double lanes_per_request() const { return requests ? double(lanes) / double(requests) : 0.0; }
};

// What one kernel, or all of them, did.
struct Numbers {
  GlobalRequests global_load, global_store;
  SharedRequests shared_load, shared_store;
  std::uint64_t unique_sectors = 0;  // distinct global sectors touched: DRAM bytes / 32 with all in L2
                                     // (the sum of the requests' sectors is the figure with no reuse)
  std::uint64_t barriers = 0;        // block barriers passed, once per block and barrier
  std::uint64_t copy_async_bytes = 0;  // bytes of simt::copy_async_16 (cp.async), also counted as a
                                       // global load and a shared store request
  std::uint64_t blocks = 0;          // blocks of the grids (with sampling: those the sample stands for)
  std::uint64_t blocks_run = 0;      // blocks run and counted (all of them without sampling)
};

// One load or store instruction of a kernel and what its requests did: per source line, in
// effect (addr2line -e PROGRAM names the line of `instruction`, the address just after the
// access's hook call; bench_counters --lines prints them). A cp.async is two: its global load at
// the instruction, its shared store at the instruction + 1.
struct InstructionCounts {
  const void* instruction = nullptr;
  bool shared = false;  // shared memory; else global
  bool store = false;
  std::uint64_t requests = 0, lanes = 0, bytes = 0;
  std::uint64_t sectors = 0;     // global: 32-byte sectors, once per request
  std::uint64_t wavefronts = 0;  // shared
};

// The numbers of the launches made at one simt::launch call (one kernel, in ednn's launchers).
struct KernelCounts {
  std::string launched_at;  // file:line of the simt::launch call
  const void* kernel = nullptr;  // the kernel function of the last launch there (its symbol names it)
  std::uint64_t launches = 0;
  Numbers numbers;          // unique_sectors: those of this kernel's launches
  // The last launch's configuration: grid, block and dynamic shared memory (for occupancy).
  dim3 grid, block;
  std::size_t dynamic_shared_bytes = 0;
  // Bytes of the device allocations the kernel touched, each counted once: what it moves from DRAM
  // at least once if none of it is in L2 at the start (a bound for unique_sectors with sampling).
  std::uint64_t footprint_bytes = 0;
  std::vector<InstructionCounts> instructions;  // its loads and stores, in the order first executed
};

// All the launches counted (the Numbers), and each kernel's share, in the order first launched.
struct Counts : Numbers {
  std::vector<KernelCounts> kernels;
};

// Starts counting (clears the counts). Launches between begin() and end() are counted; one at a
// time, from the launching thread, as the emulation runs them.
// With sample = true, each launch runs only a stratified sample of its blocks, which is what makes a
// paper-size layer countable in seconds: along each grid dimension of size g the first block, the
// last (the edges: partial tiles, padding) and the middle one standing for the g - 2 interior ones;
// a sampled block's numbers count as many times as the blocks it stands for (up to 27 blocks per
// launch). Exact when the blocks of a stratum do the same accesses (the tiled kernels' interior);
// the blocks not run leave their outputs unwritten, so a sampled launch computes nothing useful.
// Distinct sectors cannot be scaled exactly (reuse between blocks): with sampling unique_sectors is
// the sample's, times blocks / blocks_run, an estimate of the traffic without reuse between blocks.
void begin(bool sample = false);
// Stops counting and returns what was counted since begin().
Counts end();
// The numbers as a few aligned lines, for programs that print them; for Counts, the total and
// then each kernel's.
std::string to_string(const Numbers& numbers);
std::string to_string(const Counts& counts);

}  // namespace simt::counters

// ---- between the emulation (simt_emulation.cpp) and the counters (simt_counters.cpp) ----------
namespace simt::detail {

// Installed by simt_counters.cpp when it is linked in; null otherwise (the emulation then pays one
// pointer test per block, barrier and allocation).
struct CounterHooks {
  bool (*block_selected)();               // before each block (blockIdx set): run it? (sampling)
  void (*block_end)();                    // after every block of a launch that ran
  void (*barrier)();                      // when a block barrier is released
  void (*device_malloc)(const void* ptr, std::size_t bytes);
  void (*device_free)(const void* ptr);
  // a cp.async of a kernel's thread: `instruction` is the address of its call in the kernel
  void (*copy_async)(void* shared_dst, const void* global_src, std::size_t bytes, const void* instruction);
  // the simt::launch call, before the first block, and after the last
  void (*launch_begin)(const char* file, int line, const void* kernel, dim3 grid, dim3 block,
                       std::size_t shared_bytes);
  void (*launch_end)();
};
extern CounterHooks* counter_hooks;

// The fiber that calls it: its linear thread id (x + y bx + z bx by), or -1 outside a kernel;
// the block's dynamic shared memory; the fiber's stack (where the kernel's locals live).
struct CurrentThread {
  int linear = -1;
  const void* dynamic_shared = nullptr;
  std::size_t dynamic_shared_bytes = 0;
  const char* stack = nullptr;
  std::size_t stack_bytes = 0;
};
CurrentThread current_thread();

}  // namespace simt::detail
