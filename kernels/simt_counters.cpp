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
// (warp, instruction, how many times this lane executed it before): the k-th execution of an
// instruction by the lanes of one warp is one request. Each thread's accesses are kept in order
// and matched at each block barrier and at the block's end (all its lanes have then run them; a
// request never spans a barrier, on the GPU either, which also keeps the bookkeeping small). When
// the lanes of a warp made the same sequence of instructions (no divergence, nearly always), the
// k-th access of each is the k-th request, a walk with no lookups; otherwise they are matched by
// (instruction, occurrence). Each request counts
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

// One access of one thread, as the hook saw it.
struct Access {
  std::uintptr_t instruction;
  std::uintptr_t address;
  unsigned bytes;
  bool store;
  Space space;
};

// The k-th execution of an instruction by a lane.
struct Occurrence {
  std::uintptr_t instruction;
  std::uint32_t k;
  bool operator==(const Occurrence&) const = default;
};
struct OccurrenceHash {
  std::size_t operator()(const Occurrence& o) const {
    return std::hash<std::uintptr_t>()(o.instruction) ^ (std::size_t(o.k) * 0x9e3779b97f4a7c15ull);
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
  // per kernel: instruction -> its place in counts.kernels[k].instructions
  std::vector<std::unordered_map<std::uintptr_t, std::size_t>> kernel_instructions;
  std::map<std::uintptr_t, std::size_t> device_blocks;  // start -> bytes
  // The barrier interval being run: per thread of the block, its accesses in order (the vectors
  // keep their memory between intervals).
  std::vector<std::vector<Access>> accesses;
  std::size_t threads_seen = 0;  // accesses[0, threads_seen) may be non-empty
  std::vector<LaneAccess> request;      // one request's lanes
  // A divergent warp's requests, matched by (instruction, occurrence) (evaluate_warp; kept, with
  // their memory, from warp to warp).
  struct Divergent {
    std::uintptr_t instruction;
    Space space;
    bool store;
    std::vector<LaneAccess> lanes;
  };
  std::vector<Divergent> divergent;
  std::unordered_map<Occurrence, std::size_t, OccurrenceHash> request_of;
  std::unordered_map<std::uintptr_t, std::uint32_t> executions;  // one lane's, per instruction
  std::vector<std::uintptr_t> scratch;  // one request's sectors
  std::vector<std::uintptr_t> words;    // one shared phase's (bank, word)s
  // The device allocations last found, [begin, end) (a cache: a kernel reads and writes a few
  // buffers, in turn), and the one last added to kernel_allocations[kernel].
  std::array<std::pair<std::uintptr_t, std::uintptr_t>, 4> recent_blocks{};
  unsigned recent_next = 0;
  // The gap between allocations where the last address that was none of them fell (the fiber's
  // stack, nearly always: the kernels' locals and arguments), [begin, end).
  std::pair<std::uintptr_t, std::uintptr_t> recent_gap{0, 0};
  std::uintptr_t last_counted_allocation = 0;
  // The fiber last seen by record, and its stack [stack_begin, stack_end): while record's own
  // frame is on that stack, the same fiber is running (a cache, cleared before each block).
  simt::detail::CurrentThread thread;
  std::uintptr_t stack_begin = 0, stack_end = 0;
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

// The device allocation that holds address a, as [begin, end); {0, 0} if none.
std::pair<std::uintptr_t, std::uintptr_t> device_block(State& s, std::uintptr_t a) {
  for (const auto& block : s.recent_blocks)
    if (a >= block.first && a < block.second) return block;
  if (a >= s.recent_gap.first && a < s.recent_gap.second) return {0, 0};
  auto it = s.device_blocks.upper_bound(a);
  const std::uintptr_t gap_end = it == s.device_blocks.end() ? UINTPTR_MAX : it->first;
  if (it == s.device_blocks.begin()) {
    s.recent_gap = {0, gap_end};
    return {0, 0};
  }
  --it;
  if (a >= it->first + it->second) {
    s.recent_gap = {it->first + it->second, gap_end};
    return {0, 0};
  }
  auto& slot = s.recent_blocks[s.recent_next++ % s.recent_blocks.size()];
  slot = {it->first, it->first + it->second};
  return slot;
}

void forget_recent_blocks(State& s) {
  s.recent_blocks.fill({0, 0});
  s.recent_gap = {0, 0};
  s.last_counted_allocation = 0;
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

// One request: `lanes` of one warp executing one instruction together.
void evaluate_request(State& s, std::uintptr_t instruction, Space space, bool store,
                      const std::vector<LaneAccess>& lanes_of_request) {
  KernelCounts& kernel = s.counts.kernels[s.kernel];
  const auto [place, added] = s.kernel_instructions[s.kernel].try_emplace(instruction, kernel.instructions.size());
  if (added) {
    InstructionCounts first;
    first.instruction = reinterpret_cast<const void*>(instruction);
    first.shared = space == shared_space;
    first.store = store;
    kernel.instructions.push_back(first);
  }
  InstructionCounts& at = kernel.instructions[place->second];
  std::uint64_t bytes = 0;
  unsigned seen = 0;  // lanes as a bit set
  for (const LaneAccess& l : lanes_of_request) {
    bytes += l.bytes;
    seen |= 1u << l.lane;
  }
  const auto lanes = static_cast<std::uint64_t>(__builtin_popcount(seen));
  if (space == global_space) {
    std::vector<std::uintptr_t>& sectors = s.scratch;
    sectors.clear();
    for (const LaneAccess& l : lanes_of_request)
      for (std::uintptr_t sector = l.address / 32; sector <= (l.address + l.bytes - 1) / 32; ++sector)
        sectors.push_back(sector);
    std::sort(sectors.begin(), sectors.end());
    sectors.erase(std::unique(sectors.begin(), sectors.end()), sectors.end());
    s.kernel_sectors[s.kernel].insert(sectors.begin(), sectors.end());
    if (const auto [begin, end] = device_block(s, lanes_of_request.front().address);
        end != 0 && begin != s.last_counted_allocation) {
      s.kernel_allocations[s.kernel].emplace(begin, end - begin);
      s.last_counted_allocation = begin;
    }
    for (Numbers* n : targets(s)) {
      GlobalRequests& g = store ? n->global_store : n->global_load;
      g.requests += s.weight;
      g.lanes += lanes * s.weight;
      g.bytes += bytes * s.weight;
      g.sectors += sectors.size() * s.weight;
    }
    at.sectors += sectors.size() * s.weight;
  } else {
    const std::uint64_t w = wavefronts(lanes_of_request, s.words);
    for (Numbers* n : targets(s)) {
      SharedRequests& sh = store ? n->shared_store : n->shared_load;
      sh.requests += s.weight;
      sh.lanes += lanes * s.weight;
      sh.bytes += bytes * s.weight;
      sh.wavefronts += w * s.weight;
    }
    at.wavefronts += w * s.weight;
  }
  at.requests += s.weight;
  at.lanes += lanes * s.weight;
  at.bytes += bytes * s.weight;
}

// The requests of one warp's interval. The k-th execution of an instruction by the warp's lanes
// is one request. Almost always every lane that made an access made the same sequence of them
// (no divergence), and the k-th access of each lane is the request's; otherwise the lanes'
// accesses are matched by (instruction, how many times this lane executed it before).
void evaluate_warp(State& s, std::size_t first_thread, std::size_t end_thread) {
  const std::vector<Access>* leader = nullptr;
  bool uniform = true;
  for (std::size_t t = first_thread; t < end_thread && uniform; ++t) {
    const std::vector<Access>& log = s.accesses[t];
    if (log.empty()) continue;
    if (!leader) {
      leader = &log;
      continue;
    }
    if (log.size() != leader->size()) uniform = false;
    for (std::size_t j = 0; uniform && j < log.size(); ++j) uniform = log[j].instruction == (*leader)[j].instruction;
  }
  if (!leader) return;
  std::vector<LaneAccess>& request = s.request;
  if (uniform) {
    for (std::size_t j = 0; j < leader->size(); ++j) {
      request.clear();
      for (std::size_t t = first_thread; t < end_thread; ++t)
        if (const std::vector<Access>& log = s.accesses[t]; !log.empty())
          request.push_back({int(t - first_thread), log[j].address, log[j].bytes});
      evaluate_request(s, (*leader)[j].instruction, (*leader)[j].space, (*leader)[j].store, request);
    }
    return;
  }
  // Divergent: the requests in the order their first lane made them.
  std::size_t count = 0;
  s.request_of.clear();
  for (std::size_t t = first_thread; t < end_thread; ++t) {
    s.executions.clear();
    for (const Access& a : s.accesses[t]) {
      const std::uint32_t occurrence = s.executions[a.instruction]++;
      const auto [it, added] = s.request_of.try_emplace({a.instruction, occurrence}, count);
      if (added) {
        if (count == s.divergent.size()) s.divergent.emplace_back();
        s.divergent[count].instruction = a.instruction;
        s.divergent[count].space = a.space, s.divergent[count].store = a.store;
        s.divergent[count++].lanes.clear();
      }
      s.divergent[it->second].lanes.push_back({int(t - first_thread), a.address, a.bytes});
    }
  }
  for (std::size_t i = 0; i < count; ++i)
    evaluate_request(s, s.divergent[i].instruction, s.divergent[i].space, s.divergent[i].store, s.divergent[i].lanes);
}

// The requests of the interval that just ended (a barrier released, or the block's end): every
// lane has then run its part of them. A request does not span a barrier, on the GPU either.
void evaluate_requests() {
  State& s = state();
  for (std::size_t w = 0; w < s.threads_seen; w += 32) evaluate_warp(s, w, std::min(w + 32, s.threads_seen));
  for (std::size_t t = 0; t < s.threads_seen; ++t) s.accesses[t].clear();
  s.threads_seen = 0;
}

// Sampling: the blocks a block stands for along one grid dimension of size g (0: not sampled).
std::uint64_t stratum(unsigned index, unsigned g) {
  if (index == 0 || index == g - 1) return 1;
  return index == g / 2 ? g - 2 : 0;
}

bool on_block_selected() {
  State& s = state();
  s.thread = {}, s.stack_begin = s.stack_end = 0;
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
  State& s = state();
  s.device_blocks[reinterpret_cast<std::uintptr_t>(ptr)] = bytes;
  forget_recent_blocks(s);  // the new block may lie in the gap
}
void on_device_free(const void* ptr) {
  State& s = state();
  s.device_blocks.erase(reinterpret_cast<std::uintptr_t>(ptr));
  forget_recent_blocks(s);
}

void record(const void* address, unsigned bytes, bool store, const void* instruction);

// cp.async: one instruction that reads global and writes shared memory, so two requests (the
// store's identity is the instruction's address + 1, to keep the two apart).
void on_copy_async(void* shared_dst, const void* global_src, std::size_t bytes, const void* instruction) {
  State& s = state();
  if (!s.active || simt::detail::current_thread().linear < 0) return;
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
    s.counts.kernels.push_back(KernelCounts{site, nullptr, 0, {}, {}, {}, 0, 0, {}});
    s.kernel_sectors.emplace_back();
    s.kernel_allocations.emplace_back();
    s.kernel_instructions.emplace_back();
  }
  KernelCounts& kc = s.counts.kernels[k];
  kc.launches += 1;
  kc.kernel = kernel;
  kc.grid = grid;
  kc.block = block;
  kc.dynamic_shared_bytes = shared_bytes;
  s.kernel = k;
  s.last_counted_allocation = 0;
}
void on_launch_end() { state().weight = 1; }

simt::detail::CounterHooks hooks{&on_block_selected, &on_block_end,  &on_barrier,      &on_device_malloc,
                                 &on_device_free,    &on_copy_async, &on_launch_begin, &on_launch_end};
// Installed before main, so allocations made before begin() are known too.
[[maybe_unused]] const bool installed = (simt::detail::counter_hooks = &hooks, true);

// One lane's access, from an instrumented instruction: kept in its thread's sequence until the
// interval ends (evaluate_requests). The space is decided first by the cheap tests: the block's
// dynamic and static shared memory, then the device allocations last found.
void record(const void* address, unsigned bytes, bool store, const void* instruction) {
  State& s = state();
  if (!s.active || bytes == 0) return;
  if (const auto frame = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
      frame < s.stack_begin || frame >= s.stack_end) {
    s.thread = simt::detail::current_thread();
    s.stack_begin = reinterpret_cast<std::uintptr_t>(s.thread.stack);
    s.stack_end = s.stack_begin + s.thread.stack_bytes;
  }
  if (s.thread.linear < 0) return;
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  if (a >= s.stack_begin && a < s.stack_end) return;  // the kernel's locals: registers on the GPU
  const int thread = s.thread.linear;
  const auto shared_begin = reinterpret_cast<std::uintptr_t>(s.thread.dynamic_shared);
  Space space;
  if (a >= shared_begin && a < shared_begin + s.thread.dynamic_shared_bytes) {
    space = shared_space;
  } else if (is_static_shared(a)) {
    space = shared_space;
  } else if (device_block(s, a).second != 0) {
    space = global_space;
  } else {
    return;
  }
  const auto t = static_cast<std::size_t>(thread);
  if (s.accesses.size() <= t) s.accesses.resize(t + 1);
  s.threads_seen = std::max(s.threads_seen, t + 1);
  s.accesses[t].push_back({reinterpret_cast<std::uintptr_t>(instruction), a, bytes, store, space});
}

}  // namespace

void begin(bool sample) {
  State& s = state();
  s.sample = sample;
  s.weight = 1;
  s.kernel_allocations.clear();
  s.kernel_instructions.clear();
  s.counts = Counts{};
  for (auto& log : s.accesses) log.clear();
  s.threads_seen = 0;
  forget_recent_blocks(s);
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
