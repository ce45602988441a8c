// The memory counters of the CPU emulation (kernels/simt_counters.h), library ednn_simt_counters.
//
// How the accesses are seen. The kernel sources stay as they are: a counted build compiles them
// (as the emulation's C++) with GCC's `-fsanitize=thread` at compile time only. The compiler then
// calls __tsan_read4(addr) before every 4-byte load, __tsan_write16(addr) before every 16-byte
// store (a float4), and so on, and this file defines those functions instead of linking the
// ThreadSanitizer runtime. (Explicit hooks in simt.h would have needed every load in every kernel
// rewritten; the emulation's loads are plain C++ expressions.) The return address of the hook is
// the address of the instrumented instruction, which stands for the SASS instruction: an unrolled
// loop has one per unrolled copy, as on the GPU. Functions the compiler also emits
// (__tsan_func_entry/exit, __tsan_init, the vptr and range hooks) are defined as no-ops or as
// accesses; a program that links an instrumented object needing one more (`nm -u` shows the
// list) fails to link, which is the signal to add it here.
//
// The width of an access is the width of the C++ access after optimisation, so the counted
// build turns off the two optimisations that change it (cmake/EdnnKernels.cmake: scalar
// replacement, which splits a float4 load into four float loads, and vectorisation, which merges
// float loads into wider ones); the counters' tests check a float4 load is one 16-byte request.
//
// Which memory. Only accesses made by a kernel's thread count (simt::detail::current_thread: the
// fiber running, its linear id). An address is
//   shared: in the block's dynamic shared memory (the launch's block), or in the program's static
//     data ([__data_start, _end): .data and .bss), where the emulation's static __shared__ arrays
//     live (`__shared__` is `static`), less the index variables threadIdx, blockIdx, blockDim and
//     gridDim; a kernel reads no other writable global (CUDA kernels have none but __device__
//     variables, which ednn does not use; constant tables are read-only data, not counted).
//     (A section attribute on __shared__ would be neater, but GCC drops it for the static locals
//     of templates, and most kernels are templates.)
//   global: in a block from simt::device_malloc (the emulation reports each allocation and free
//     through simt::detail::counter_hooks, installed when this file is linked in);
//   (simt::copy_async_16, cp.async, is a call into the emulation, not an instrumented access: the
//     emulation reports it through the same hooks, as a global load and a shared store);
//   anything else (the fiber's stack: locals, arguments; the closure; threadIdx): not counted,
//     as registers and local memory are not memory traffic here.
//
// Requests. The emulation runs the lanes of a warp one after another, so a request is rebuilt as
// (warp, instruction, how many times this lane executed it before): every lane keeps a count per
// instruction, and the k-th execution of an instruction by the lanes of one warp is one request.
// The requests are evaluated at each block barrier and at the block's end (all its lanes have then
// run them; a request never spans a barrier, on the GPU either, so the executions are counted per
// interval between barriers, which also keeps the bookkeeping small):
// global: the distinct 32-byte sectors its lanes' bytes fall in; shared: per phase (32 lanes for
// accesses of up to 4 bytes, 16 for 8 bytes, 8 for 16 bytes) the largest number of distinct
// 4-byte words in one bank (bank = word % 32), summed over the phases that have an active lane.
#include "kernels/simt_counters.h"

#include "kernels/simt.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <vector>

// Linker-made bounds of the program's writable static data (glibc's crt1 and the default script).
extern "C" char __data_start[] __attribute__((weak));
extern "C" char _end[] __attribute__((weak));

namespace simt::counters {
namespace {

enum Space : unsigned char { global_space, shared_space };

struct LaneAccess {
  int lane;
  std::uintptr_t address;
  unsigned bytes;
};

struct Request {
  Space space;
  bool store;
  std::vector<LaneAccess> lanes;
};

struct RequestKey {
  int warp;
  std::uintptr_t instruction;
  std::uint32_t occurrence;
  bool operator==(const RequestKey&) const = default;
};
struct RequestKeyHash {
  std::size_t operator()(const RequestKey& k) const {
    return std::hash<std::uintptr_t>()(k.instruction) ^ (std::size_t(k.occurrence) * 0x9e3779b97f4a7c15ull) ^
           (std::size_t(k.warp) << 48);
  }
};

struct State {
  bool active = false;
  bool sample = false;
  std::uint64_t weight = 1;  // blocks the running block stands for
  Counts counts;
  std::size_t kernel = 0;  // the launch in progress: counts.kernels[kernel]
  std::vector<std::unordered_set<std::uintptr_t>> kernel_sectors;  // per kernel
  std::vector<std::map<std::uintptr_t, std::size_t>> kernel_allocations;  // per kernel: start -> bytes
  std::map<std::uintptr_t, std::size_t> device_blocks;  // start -> bytes
  // The barrier interval being run: per thread, executions of each instruction so far; the
  // requests, as indices into a pool whose lane vectors keep their memory between intervals.
  std::vector<std::unordered_map<std::uintptr_t, std::uint32_t>> executions;
  std::unordered_map<RequestKey, std::size_t, RequestKeyHash> request_index;
  std::vector<Request> requests;  // the first `request_count` are this interval's
  std::size_t request_count = 0;
  std::vector<std::uintptr_t> scratch;  // one request's sectors
  std::vector<std::uintptr_t> words;    // one shared phase's (bank, word)s
  std::uintptr_t last_block = 1, last_block_end = 0;  // the device allocation last found (a cache)
};

State& state() {
  static State s;
  return s;
}

template <class T>
bool inside(std::uintptr_t a, const T& object) {
  const auto begin = reinterpret_cast<std::uintptr_t>(&object);
  return a >= begin && a < begin + sizeof object;
}

// Static __shared__ arrays: the static data, less what the emulation itself keeps there.
bool is_static_shared(std::uintptr_t a) {
  if (!__data_start || !_end) return false;
  if (a < reinterpret_cast<std::uintptr_t>(__data_start) || a >= reinterpret_cast<std::uintptr_t>(_end)) return false;
  return !inside(a, threadIdx) && !inside(a, blockIdx) && !inside(a, blockDim) && !inside(a, gridDim);
}

bool is_device(const State& s, std::uintptr_t a) {
  auto it = s.device_blocks.upper_bound(a);
  if (it == s.device_blocks.begin()) return false;
  --it;
  return a < it->first + it->second;
}

// The wavefronts of one shared-memory request. (Small sorted arrays, not hash sets: a block of a
// paper-size layer makes millions of requests.)
std::uint64_t wavefronts(const std::vector<LaneAccess>& lanes, std::vector<std::uintptr_t>& words) {
  unsigned widest = 0;
  for (const LaneAccess& l : lanes) widest = std::max(widest, l.bytes);
  const int lanes_per_phase = widest <= 4 ? 32 : widest <= 8 ? 16 : 8;
  std::uint64_t total = 0;
  // words: (bank, word) as bank << 58 | word, sorted, distinct
  for (int phase = 0; phase < 32 / lanes_per_phase; ++phase) {
    words.clear();
    for (const LaneAccess& l : lanes) {
      if (l.lane / lanes_per_phase != phase) continue;
      for (std::uintptr_t word = l.address / 4; word <= (l.address + l.bytes - 1) / 4; ++word)
        words.push_back((std::uintptr_t(word % 32) << 58) | (word & ((std::uintptr_t(1) << 58) - 1)));
    }
    if (words.empty()) continue;
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    std::size_t worst = 0, run = 0;
    for (std::size_t i = 0; i < words.size(); ++i) {
      run = (i > 0 && words[i] >> 58 == words[i - 1] >> 58) ? run + 1 : 1;
      worst = std::max(worst, run);
    }
    total += worst;
  }
  return total;
}

// The numbers an event adds to: the total and the kernel's.
std::array<Numbers*, 2> targets(State& s) { return {&s.counts, &s.counts.kernels[s.kernel].numbers}; }

// The requests of the interval that just ended (a barrier released, or the block's end): every
// lane has then run its part of them. A request does not span a barrier, on the GPU either.
void evaluate_requests() {
  State& s = state();
  for (std::size_t i = 0; i < s.request_count; ++i) {
    Request& r = s.requests[i];
    std::uint64_t bytes = 0;
    unsigned seen = 0;  // lanes as a bit set
    for (const LaneAccess& l : r.lanes) {
      bytes += l.bytes;
      seen |= 1u << l.lane;
    }
    const auto lanes = static_cast<std::uint64_t>(__builtin_popcount(seen));
    if (r.space == global_space) {
      std::vector<std::uintptr_t>& sectors = s.scratch;
      sectors.clear();
      for (const LaneAccess& l : r.lanes)
        for (std::uintptr_t sector = l.address / 32; sector <= (l.address + l.bytes - 1) / 32; ++sector)
          sectors.push_back(sector);
      std::sort(sectors.begin(), sectors.end());
      sectors.erase(std::unique(sectors.begin(), sectors.end()), sectors.end());
      s.kernel_sectors[s.kernel].insert(sectors.begin(), sectors.end());
      if (auto it = s.device_blocks.upper_bound(r.lanes.front().address); it != s.device_blocks.begin()) {
        --it;
        s.kernel_allocations[s.kernel].emplace(it->first, it->second);
      }
      for (Numbers* n : targets(s)) {
        GlobalRequests& g = r.store ? n->global_store : n->global_load;
        g.requests += s.weight;
        g.lanes += lanes * s.weight;
        g.bytes += bytes * s.weight;
        g.sectors += sectors.size() * s.weight;
      }
    } else {
      const std::uint64_t w = wavefronts(r.lanes, s.words);
      for (Numbers* n : targets(s)) {
        SharedRequests& sh = r.store ? n->shared_store : n->shared_load;
        sh.requests += s.weight;
        sh.lanes += lanes * s.weight;
        sh.bytes += bytes * s.weight;
        sh.wavefronts += w * s.weight;
      }
    }
    r.lanes.clear();  // keeps its memory for the next interval's request
  }
  s.request_count = 0;
  s.request_index.clear();
  for (auto& e : s.executions) e.clear();
}

// Sampling: the blocks a block stands for along one grid dimension of size g (0: not sampled).
std::uint64_t stratum(unsigned index, unsigned g) {
  if (index == 0 || index == g - 1) return 1;
  return index == g / 2 ? g - 2 : 0;
}

bool on_block_selected() {
  State& s = state();
  s.weight = 1;
  if (!s.active || !s.sample) return true;
  s.weight = stratum(blockIdx.x, gridDim.x) * stratum(blockIdx.y, gridDim.y) * stratum(blockIdx.z, gridDim.z);
  return s.weight > 0;
}

void on_block_end() {
  State& s = state();
  if (!s.active) return;
  evaluate_requests();
  for (Numbers* n : targets(s)) {
    n->blocks += s.weight;
    n->blocks_run += 1;
  }
}
void on_barrier() {
  State& s = state();
  if (!s.active) return;
  evaluate_requests();
  for (Numbers* n : targets(s)) n->barriers += s.weight;
}
void on_device_malloc(const void* ptr, std::size_t bytes) {
  state().device_blocks[reinterpret_cast<std::uintptr_t>(ptr)] = bytes;
}
void on_device_free(const void* ptr) {
  State& s = state();
  s.device_blocks.erase(reinterpret_cast<std::uintptr_t>(ptr));
  s.last_block = 1, s.last_block_end = 0;
}

void record(const void* address, unsigned bytes, bool store, const void* instruction);

// cp.async: one instruction that reads global and writes shared memory, so two requests (the
// store's identity is the instruction's address + 1, to keep the two apart).
void on_copy_async(void* shared_dst, const void* global_src, std::size_t bytes, const void* instruction) {
  State& s = state();
  const void* shared = nullptr;
  std::size_t shared_bytes = 0;
  if (!s.active || simt::detail::current_thread(&shared, &shared_bytes) < 0) return;
  for (Numbers* n : targets(s)) n->copy_async_bytes += bytes;
  record(global_src, static_cast<unsigned>(bytes), false, instruction);
  record(shared_dst, static_cast<unsigned>(bytes), true, static_cast<const char*>(instruction) + 1);
}

void on_launch_begin(const char* file, int line, const void* kernel, dim3 grid, dim3 block, std::size_t shared_bytes) {
  State& s = state();
  if (!s.active) return;
  const std::string site = std::string(file) + ":" + std::to_string(line);
  std::size_t k = 0;
  while (k < s.counts.kernels.size() && s.counts.kernels[k].launched_at != site) ++k;
  if (k == s.counts.kernels.size()) {
    s.counts.kernels.push_back(KernelCounts{site, nullptr, 0, {}, {}, {}, 0, 0});
    s.kernel_sectors.emplace_back();
    s.kernel_allocations.emplace_back();
  }
  KernelCounts& kc = s.counts.kernels[k];
  kc.launches += 1;
  kc.kernel = kernel;
  kc.grid = grid;
  kc.block = block;
  kc.dynamic_shared_bytes = shared_bytes;
  s.kernel = k;
}
void on_launch_end() { state().weight = 1; }

simt::detail::CounterHooks hooks{&on_block_selected, &on_block_end,  &on_barrier,      &on_device_malloc,
                                 &on_device_free,    &on_copy_async, &on_launch_begin, &on_launch_end};
// Installed before main, so allocations made before begin() are known too.
[[maybe_unused]] const bool installed = (simt::detail::counter_hooks = &hooks, true);

// One lane's access, from an instrumented instruction.
void record(const void* address, unsigned bytes, bool store, const void* instruction) {
  State& s = state();
  if (!s.active || bytes == 0) return;
  const void* dynamic_shared = nullptr;
  std::size_t dynamic_shared_bytes = 0;
  const int thread = simt::detail::current_thread(&dynamic_shared, &dynamic_shared_bytes);
  if (thread < 0) return;
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  const auto shared_begin = reinterpret_cast<std::uintptr_t>(dynamic_shared);
  Space space;
  if (a >= s.last_block && a < s.last_block_end) {
    space = global_space;
  } else if (is_device(s, a)) {
    auto it = --s.device_blocks.upper_bound(a);
    s.last_block = it->first, s.last_block_end = it->first + it->second;
    space = global_space;
  }
  else if ((a >= shared_begin && a < shared_begin + dynamic_shared_bytes) || is_static_shared(a))
    space = shared_space;
  else
    return;
  const auto pc = reinterpret_cast<std::uintptr_t>(instruction);
  if (s.executions.size() <= static_cast<std::size_t>(thread)) s.executions.resize(thread + 1);
  const std::uint32_t occurrence = s.executions[thread][pc]++;
  const auto [it, added] = s.request_index.try_emplace(RequestKey{thread / 32, pc, occurrence}, s.request_count);
  if (added) {
    if (s.request_count == s.requests.size()) s.requests.emplace_back();
    Request& r = s.requests[s.request_count++];
    r.space = space;
    r.store = store;
  }
  s.requests[it->second].lanes.push_back({thread % 32, a, bytes});
}

}  // namespace

void begin(bool sample) {
  State& s = state();
  s.sample = sample;
  s.weight = 1;
  s.kernel_allocations.clear();
  s.counts = Counts{};
  for (std::size_t i = 0; i < s.request_count; ++i) s.requests[i].lanes.clear();
  s.request_count = 0;
  s.request_index.clear();
  s.executions.clear();
  s.last_block = 1, s.last_block_end = 0;
  s.kernel_sectors.clear();
  s.kernel = 0;
  s.active = true;
}

Counts end() {
  State& s = state();
  s.active = false;
  // Sampled: scaled by the blocks the sample stands for (exactly 1 without sampling).
  const auto scaled = [](std::size_t sectors, const Numbers& n) {
    return n.blocks_run ? static_cast<std::uint64_t>(double(sectors) * double(n.blocks) / double(n.blocks_run) + 0.5)
                        : std::uint64_t(sectors);
  };
  std::unordered_set<std::uintptr_t> touched;  // every kernel's sectors, each once
  for (const auto& sectors : s.kernel_sectors) touched.insert(sectors.begin(), sectors.end());
  s.counts.unique_sectors = scaled(touched.size(), s.counts);
  for (std::size_t k = 0; k < s.counts.kernels.size(); ++k) {
    KernelCounts& kc = s.counts.kernels[k];
    kc.numbers.unique_sectors = scaled(s.kernel_sectors[k].size(), kc.numbers);
    for (const auto& [start, bytes] : s.kernel_allocations[k]) kc.footprint_bytes += bytes;
  }
  return s.counts;
}

std::string to_string(const Counts& c) {
  std::string out = to_string(static_cast<const Numbers&>(c));
  if (c.kernels.size() > 1)
    for (const KernelCounts& k : c.kernels)
      out += "  the " + std::to_string(k.launches) + " launch(es) at " + k.launched_at + ":\n" + to_string(k.numbers);
  return out;
}

std::string to_string(const Numbers& c) {
  char buf[1024];
  const auto g = [](const char* name, const GlobalRequests& r) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "  %-13s %10llu requests  %6.2f lanes/req  %6.2f sectors/req  %12llu bytes\n", name,
                  static_cast<unsigned long long>(r.requests), r.lanes_per_request(), r.sectors_per_request(),
                  static_cast<unsigned long long>(r.bytes));
    return std::string(line);
  };
  const auto sh = [](const char* name, const SharedRequests& r) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "  %-13s %10llu requests  %6.2f lanes/req  %6.2f wavefronts/req  %8llu bytes\n", name,
                  static_cast<unsigned long long>(r.requests), r.lanes_per_request(), r.wavefronts_per_request(),
                  static_cast<unsigned long long>(r.bytes));
    return std::string(line);
  };
  std::snprintf(buf, sizeof buf,
                "  blocks %llu, block barriers %llu, unique global sectors %llu (%llu bytes), cp.async %llu bytes\n",
                static_cast<unsigned long long>(c.blocks), static_cast<unsigned long long>(c.barriers),
                static_cast<unsigned long long>(c.unique_sectors),
                static_cast<unsigned long long>(c.unique_sectors * 32),
                static_cast<unsigned long long>(c.copy_async_bytes));
  return g("global load", c.global_load) + g("global store", c.global_store) + sh("shared load", c.shared_load) +
         sh("shared store", c.shared_store) + buf;
}

}  // namespace simt::counters

// ---- the hooks the compiler calls (-fsanitize=thread), in place of ThreadSanitizer's runtime ----
extern "C" {
#define SIMT_COUNTER_HOOKS_(N)                                                                             \
  __attribute__((noinline)) void __tsan_read##N(void* a) {                                                 \
    simt::counters::record(a, N, false, __builtin_return_address(0));                                      \
  }                                                                                                        \
  __attribute__((noinline)) void __tsan_write##N(void* a) {                                                \
    simt::counters::record(a, N, true, __builtin_return_address(0));                                       \
  }                                                                                                        \
  __attribute__((noinline)) void __tsan_unaligned_read##N(void* a) {                                       \
    simt::counters::record(a, N, false, __builtin_return_address(0));                                      \
  }                                                                                                        \
  __attribute__((noinline)) void __tsan_unaligned_write##N(void* a) {                                      \
    simt::counters::record(a, N, true, __builtin_return_address(0));                                       \
  }                                                                                                        \
  __attribute__((noinline)) void __tsan_volatile_read##N(void* a) {                                        \
    simt::counters::record(a, N, false, __builtin_return_address(0));                                      \
  }                                                                                                        \
  __attribute__((noinline)) void __tsan_volatile_write##N(void* a) {                                       \
    simt::counters::record(a, N, true, __builtin_return_address(0));                                       \
  }
SIMT_COUNTER_HOOKS_(1)
SIMT_COUNTER_HOOKS_(2)
SIMT_COUNTER_HOOKS_(4)
SIMT_COUNTER_HOOKS_(8)
SIMT_COUNTER_HOOKS_(16)
#undef SIMT_COUNTER_HOOKS_
__attribute__((noinline)) void __tsan_read_range(void* a, unsigned long size) {
  simt::counters::record(a, static_cast<unsigned>(size), false, __builtin_return_address(0));
}
__attribute__((noinline)) void __tsan_write_range(void* a, unsigned long size) {
  simt::counters::record(a, static_cast<unsigned>(size), true, __builtin_return_address(0));
}
// Atomic loads and stores (the guard of a function's static local, in code compiled for counting):
// done, not counted (kernels' atomics are atomicAdd & co, plain accesses in the emulation).
#define SIMT_COUNTER_ATOMICS_(BITS, T)                                                         \
  T __tsan_atomic##BITS##_load(const volatile T* a, int) { return __atomic_load_n(a, __ATOMIC_SEQ_CST); } \
  void __tsan_atomic##BITS##_store(volatile T* a, T v, int) { __atomic_store_n(a, v, __ATOMIC_SEQ_CST); }
SIMT_COUNTER_ATOMICS_(8, unsigned char)
SIMT_COUNTER_ATOMICS_(16, unsigned short)
SIMT_COUNTER_ATOMICS_(32, unsigned int)
SIMT_COUNTER_ATOMICS_(64, unsigned long long)
#undef SIMT_COUNTER_ATOMICS_
void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
}
