// The runtime behind kernels/simt.h and kernels/simt_host.h on the CPU (ednn_simt_emu, C++): the
// fiber scheduler that runs every CUDA thread of a kernel, and host memory, streams and graphs
// standing in for the device's. Its twin for a GPU, with the same host functions, is
// kernels/simt_cuda.cu.
//
// The emulation, in one paragraph (the long version is in kernels/README.md). A launch runs its
// blocks one after another. The threads of a block are fibers: each has its own stack and a
// saved context (ucontext), and the scheduler switches into one at a time. A fiber runs until it
// reaches a barrier (__syncthreads and friends), a warp operation (a shuffle, a vote,
// __syncwarp) or the end of the kernel; then it records where it waits and switches back. When
// every thread of the block has stopped, the scheduler first completes the warp operations whose
// lanes have all arrived (computing each lane's result from the others' values), and only when
// none is left, the block barrier, which every thread must have reached at the same line. Then
// it runs the released threads again, in the order of the schedule. Anything that cannot be
// released is a bug in the kernel (on a GPU a hang or undefined behaviour): report and abort.
// The emulation switches between fibers with _setjmp/_longjmp from one stack to another, which
// the fortified longjmp (it only allows jumping up the current stack) would reject.
#undef _FORTIFY_SOURCE
#include "kernels/simt.h"
#include "kernels/simt_counters.h"

#if defined(__CUDACC__)
#error "kernels/simt_emulation.cpp is the CPU emulation: compile it as C++ (nvcc builds kernels/simt_cuda.cu)"
#endif

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMT_ASAN 1
#endif
#endif
#if defined(SIMT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace simt {
namespace detail {
namespace {

// The schedule (simt::set_schedule, EDNN_SIMT_ORDER) and the fibers' stack size (EDNN_SIMT_STACK_KIB).
struct ScheduleState {
  Schedule schedule = Schedule::forward;
  std::uint64_t seed = 1;
  std::uint64_t rng = 1;
  std::size_t stack_bytes = 64 * 1024;

  ScheduleState() {
    if (const char* order = std::getenv("EDNN_SIMT_ORDER"); order && *order) {
      std::string s = order;
      if (s == "forward") {
        schedule = Schedule::forward;
      } else if (s == "reverse") {
        schedule = Schedule::reverse;
      } else if (s.rfind("random", 0) == 0 && (s.size() == 6 || s[6] == ':')) {
        schedule = Schedule::random;
        if (s.size() > 7) seed = std::strtoull(s.c_str() + 7, nullptr, 10);
      } else {
        std::fprintf(stderr, "simt: EDNN_SIMT_ORDER=%s: expected forward, reverse or random[:seed]\n", order);
        std::abort();
      }
    }
    rng = seed;
    if (const char* kib = std::getenv("EDNN_SIMT_STACK_KIB"); kib && *kib) {
      stack_bytes = std::strtoull(kib, nullptr, 10) * 1024;
      if (stack_bytes < 16 * 1024) stack_bytes = 16 * 1024;
    }
  }
};

ScheduleState& schedule_state() {
  static ScheduleState state;
  return state;
}

constexpr std::size_t default_shared_limit = 48 * 1024;  // CUDA's default dynamic shared memory limit
// The opt-in limit of the smallest card ednn supports (sm_86 and sm_89: 99 KiB per block; sm_80
// has 163 KiB, sm_90 227 KiB), so a kernel that passes here fits on every one of them.
constexpr std::size_t max_shared_limit = 99 * 1024;

enum class Wait { runnable, block_barrier, warp, exited };

struct Fiber {
  ucontext_t context;      // made once per block: the entry into fiber_main on this stack
  std::jmp_buf resume;     // where the fiber continues after it last stopped
  bool started = false;
  char* stack = nullptr;
  uint3 index{};
  int linear = 0;
  Wait wait = Wait::runnable;
  // where it waits
  const char* what = nullptr;
  const char* file = nullptr;
  int line = 0;
  // a block barrier with a predicate (__syncthreads_count/and/or)
  int predicate = 0;
  int block_result = 0;
  // a warp operation: value and result live on the fiber's own (suspended) stack
  WarpOp op = WarpOp::sync;
  unsigned mask = 0;
  const void* value = nullptr;
  void* result = nullptr;
  std::size_t bytes = 0;
  int param = 0;
  int width = 32;
  void* fake_stack = nullptr;  // ASan's fake stack of this fiber while it is switched out
  // cp.async copies started and not yet waited for (simt::copy_async_16)
  struct AsyncCopy {
    void* dst;
    const void* src;
    std::size_t bytes;
  };
  std::vector<AsyncCopy> async_copies;
};

// Makes the copies a fiber started (at its wait, or when its block ends: they land on a GPU too).
void complete_async_copies(Fiber& f) {
  for (const Fiber::AsyncCopy& c : f.async_copies) std::memcpy(c.dst, c.src, c.bytes);
  f.async_copies.clear();
}

struct Launch {
  KernelBody body = nullptr;
  void* closure = nullptr;
  dim3 grid, block;
  const char* file = nullptr;
  int line = 0;
  std::vector<Fiber> fibers;
  Fiber* current = nullptr;
  unsigned char* shared = nullptr;
  std::size_t shared_bytes = 0;
  std::size_t stack_bytes = 0;
  bool finishing = false;  // set after the last block: fibers leave their loop and end
  std::jmp_buf scheduler;
  const void* scheduler_stack = nullptr;
  std::size_t scheduler_stack_bytes = 0;
  void* scheduler_fake_stack = nullptr;
};

std::mutex launch_mutex;      // one launch at a time: static __shared__ arrays are shared
Launch* running = nullptr;    // the launch in progress, while the mutex is held
std::unordered_map<const void*, std::size_t> shared_limits;  // set_max_dynamic_shared_bytes

// Fiber stacks: kept from launch to launch, each with a guard page below it.
struct StackPool {
  std::vector<char*> stacks;
  std::size_t bytes = 0;
  std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

  void release() {
    for (char* s : stacks) munmap(s - page, bytes + page);
    stacks.clear();
  }
  // At least n stacks of `size` bytes (rounded up to pages).
  void reserve(std::size_t n, std::size_t size) {
    size = (size + page - 1) / page * page;
    if (size != bytes) {
      release();
      bytes = size;
    }
    while (stacks.size() < n) {
      void* mem = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mem == MAP_FAILED) ednn::fail("simt: cannot map ", n, " fiber stacks of ", bytes, " bytes");
      mprotect(mem, page, PROT_NONE);  // a stack overflow faults here instead of corrupting memory
      stacks.push_back(static_cast<char*>(mem) + page);
    }
  }
};
StackPool stack_pool;

std::uint64_t next_random(std::uint64_t& state) {  // splitmix64
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Puts the ids in the schedule's order (they arrive ascending).
void order(std::vector<int>& ids) {
  ScheduleState& s = schedule_state();
  if (s.schedule == Schedule::reverse) {
    std::reverse(ids.begin(), ids.end());
  } else if (s.schedule == Schedule::random) {
    for (std::size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[next_random(s.rng) % i]);
  }
}

// ---- switching between the scheduler and a fiber, annotated for AddressSanitizer ----------
// A fiber's first activation is setcontext (makecontext put fiber_main on its stack); after that
// both directions are _setjmp/_longjmp, which unlike swapcontext save no signal mask and so make
// no system call: a block of 256 threads through a reduction switches thousands of times.
// (Under AddressSanitizer the intercepted longjmp still costs a sigaltstack call per switch.)

void enter(Launch& launch, Fiber& fiber) {
  launch.current = &fiber;
  threadIdx = fiber.index;
#if defined(SIMT_ASAN)
  __sanitizer_start_switch_fiber(&launch.scheduler_fake_stack, fiber.stack, launch.stack_bytes);
#endif
  if (_setjmp(launch.scheduler) == 0) {
    if (!fiber.started) {
      fiber.started = true;
      setcontext(&fiber.context);
    }
    _longjmp(fiber.resume, 1);
  }
#if defined(SIMT_ASAN)
  __sanitizer_finish_switch_fiber(launch.scheduler_fake_stack, nullptr, nullptr);
#endif
  launch.current = nullptr;
}

void leave(Launch& launch, Fiber& fiber, bool exiting) {
#if defined(SIMT_ASAN)
  __sanitizer_start_switch_fiber(exiting ? nullptr : &fiber.fake_stack, launch.scheduler_stack,
                                 launch.scheduler_stack_bytes);
#endif
  if (exiting) _longjmp(launch.scheduler, 1);
  if (_setjmp(fiber.resume) == 0) _longjmp(launch.scheduler, 1);
#if defined(SIMT_ASAN)
  __sanitizer_finish_switch_fiber(fiber.fake_stack, &launch.scheduler_stack, &launch.scheduler_stack_bytes);
#endif
}

void fiber_main() {
  Launch& launch = *running;
  Fiber& fiber = *launch.current;
#if defined(SIMT_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &launch.scheduler_stack, &launch.scheduler_stack_bytes);
#endif
  // One fiber serves this thread index in every block of the launch: after the kernel returns it
  // waits here, and the next block resumes it to run the kernel again on a fresh frame.
  while (!launch.finishing) {
    try {
      launch.body(launch.closure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "simt: kernel launched at %s:%d threw: %s\n", launch.file, launch.line, e.what());
      std::abort();
    } catch (...) {
      std::fprintf(stderr, "simt: kernel launched at %s:%d threw an exception\n", launch.file, launch.line);
      std::abort();
    }
    fiber.wait = Wait::exited;
    leave(launch, fiber, false);
  }
  leave(launch, fiber, true);  // never resumed
  std::abort();
}

// ---- the report when a barrier cannot be released ----------------------------------------

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::sync: return "__syncwarp";
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::gather: return "simt::mma_m16n8k8_tf32";
  }
  return "?";
}

std::string state_of(const Fiber& f) {
  char buf[512];
  switch (f.wait) {
    case Wait::exited: return "returned from the kernel";
    case Wait::runnable: return "running";
    case Wait::block_barrier:
      std::snprintf(buf, sizeof buf, "waiting at %s, %s:%d", f.what, f.file, f.line);
      return buf;
    case Wait::warp:
      std::snprintf(buf, sizeof buf, "waiting at %s(mask 0x%08x), %s:%d", op_name(f.op), f.mask, f.file, f.line);
      return buf;
  }
  return "?";
}

[[noreturn]] void report(const Launch& launch, const std::string& headline) {
  std::string out = "simt: " + headline + "\n";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "  in block (%u,%u,%u) of the kernel launched at %s:%d with grid (%u,%u,%u), block (%u,%u,%u), "
                "schedule %s\n  thread states (thread = linear id x + y*blockDim.x + z*blockDim.x*blockDim.y, "
                "warp = id / 32):\n",
                blockIdx.x, blockIdx.y, blockIdx.z, launch.file, launch.line, launch.grid.x, launch.grid.y,
                launch.grid.z, launch.block.x, launch.block.y, launch.block.z, schedule_name(schedule()));
  out += buf;
  const auto& fibers = launch.fibers;
  for (std::size_t begin = 0; begin < fibers.size();) {
    std::string state = state_of(fibers[begin]);
    std::size_t end = begin + 1;
    while (end < fibers.size() && state_of(fibers[end]) == state) ++end;
    const uint3 a = fibers[begin].index;
    if (end - begin == 1)
      std::snprintf(buf, sizeof buf, "    thread %zu (%u,%u,%u), warp %zu lane %zu: ", begin, a.x, a.y, a.z, begin / 32,
                    begin % 32);
    else
      std::snprintf(buf, sizeof buf, "    threads %zu-%zu (warps %zu-%zu): ", begin, end - 1, begin / 32,
                    (end - 1) / 32);
    out += buf + state + "\n";
    begin = end;
  }
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
  std::abort();
}

// ---- releasing warp operations -----------------------------------------------------------

bool valid_width(int width) { return width >= 1 && width <= 32 && (width & (width - 1)) == 0; }

// The lane a shuffle reads, following PTX shfl.sync; -1 means "its own value".
int source_lane(const Fiber& f, int lane) {
  const int segment = lane & ~(f.width - 1);  // first lane of this lane's width-segment
  const int last = segment + f.width - 1;
  int j = lane;
  switch (f.op) {
    case WarpOp::shfl_idx: j = segment + (f.param & (f.width - 1)); break;
    case WarpOp::shfl_up: j = lane - f.param; if (j < segment) j = lane; break;
    case WarpOp::shfl_down: j = lane + f.param; if (j > last) j = lane; break;
    case WarpOp::shfl_xor: j = lane ^ f.param; if (j > last) j = lane; break;
    default: break;
  }
  return j;
}

// Completes every warp operation whose mask's live lanes have all arrived at it; appends the
// released threads to `released`.
void release_warps(Launch& launch, std::vector<int>& released) {
  auto& fibers = launch.fibers;
  const int n = static_cast<int>(fibers.size());
  for (int base = 0; base < n; base += 32) {
    const int lanes = std::min(32, n - base);
    for (int l = 0; l < lanes; ++l) {
      Fiber& leader = fibers[base + l];
      if (leader.wait != Wait::warp) continue;
      if (!(leader.mask & (1u << l)))
        report(launch, ednn::detail::concat(op_name(leader.op), " at ", leader.file, ":", leader.line,
                                            ": thread ", base + l, " (lane ", l, ") is not in its own mask 0x",
                                            std::hex, leader.mask));
      if (leader.op != WarpOp::sync && !valid_width(leader.width))
        report(launch, ednn::detail::concat(op_name(leader.op), " at ", leader.file, ":", leader.line,
                                            ": width ", leader.width, " is not a power of two in 1..32"));
      // The group: lanes waiting at the same operation, line and mask.
      auto same = [&](const Fiber& f) {
        return f.wait == Wait::warp && f.op == leader.op && f.line == leader.line && f.mask == leader.mask &&
               std::strcmp(f.file, leader.file) == 0;
      };
      bool complete = true;
      for (int j = 0; j < lanes && complete; ++j)
        if ((leader.mask & (1u << j)) && fibers[base + j].wait != Wait::exited && !same(fibers[base + j]))
          complete = false;
      if (!complete) continue;
      // Participants: the lanes of the group (lanes of the mask that returned, or that the block
      // does not have, read as poison: 0xFF bytes, NaN as a float).
      unsigned arrived = 0;
      for (int j = 0; j < lanes; ++j)
        if ((leader.mask & (1u << j)) && same(fibers[base + j])) arrived |= 1u << j;
      const bool vote = leader.op == WarpOp::ballot || leader.op == WarpOp::any || leader.op == WarpOp::all;
      unsigned votes = 0;
      for (int j = 0; vote && j < lanes; ++j)
        if ((arrived & (1u << j)) && *static_cast<const int*>(fibers[base + j].value)) votes |= 1u << j;
      for (int j = 0; j < lanes; ++j) {
        if (!(arrived & (1u << j))) continue;
        Fiber& f = fibers[base + j];
        switch (f.op) {
          case WarpOp::sync: break;
          case WarpOp::ballot: *static_cast<unsigned*>(f.result) = votes; break;
          case WarpOp::any: *static_cast<unsigned*>(f.result) = votes != 0; break;
          case WarpOp::all: *static_cast<unsigned*>(f.result) = votes == arrived; break;
          case WarpOp::gather:  // every lane receives all 32 lanes' values, lane order
            for (int src = 0; src < 32; ++src) {
              unsigned char* slot = static_cast<unsigned char*>(f.result) + src * f.bytes;
              if (src < lanes && (arrived & (1u << src)))
                std::memcpy(slot, fibers[base + src].value, f.bytes);
              else
                std::memset(slot, 0xFF, f.bytes);
            }
            break;
          default: {
            const int src = source_lane(f, j);
            if (src >= 0 && src < lanes && (arrived & (1u << src)))
              std::memcpy(f.result, fibers[base + src].value, f.bytes);
            else
              std::memset(f.result, 0xFF, f.bytes);
          }
        }
        f.wait = Wait::runnable;
        released.push_back(base + j);
      }
    }
  }
}

// When no warp operation can proceed: releases the block barrier if every thread waits at it,
// at the same line; returns false when every thread has returned (the block is done).
bool release_block(Launch& launch, std::vector<int>& released) {
  auto& fibers = launch.fibers;
  int exited = 0, at_barrier = 0, at_warp = 0;
  const Fiber* first = nullptr;
  for (const Fiber& f : fibers) {
    if (f.wait == Wait::exited) ++exited;
    if (f.wait == Wait::warp) ++at_warp;
    if (f.wait == Wait::block_barrier) {
      ++at_barrier;
      if (!first) first = &f;
    }
  }
  const int n = static_cast<int>(fibers.size());
  if (exited == n) return false;
  if (at_warp > 0)
    report(launch, "deadlock: a warp operation that not every live lane of its mask reaches (divergent "
                   "threads of one warp at different shuffles, votes or __syncwarp, or some at __syncthreads)");
  for (const Fiber& f : fibers)
    if (f.wait == Wait::block_barrier &&
        (f.line != first->line || std::strcmp(f.file, first->file) != 0 || std::strcmp(f.what, first->what) != 0))
      report(launch, ednn::detail::concat("barrier divergence: threads wait at ", first->what, " on different lines (",
                                          first->file, ":", first->line, " and ", f.file, ":", f.line, ")"));
  if (exited > 0)
    report(launch, ednn::detail::concat("barrier divergence: ", first->what, " at ", first->file, ":", first->line,
                                        " reached by ", at_barrier, " of ", n, " threads; the other ", exited,
                                        " returned (undefined behaviour in CUDA)"));
  if (counter_hooks) counter_hooks->barrier();
  int count = 0;
  for (const Fiber& f : fibers) count += f.predicate;
  for (int i = 0; i < n; ++i) {
    fibers[i].block_result = count;
    fibers[i].wait = Wait::runnable;
    released.push_back(i);
  }
  return true;
}

void run_block(Launch& launch) {
  auto& fibers = launch.fibers;
  const int n = static_cast<int>(fibers.size());
  for (Fiber& f : fibers) f.wait = Wait::runnable;
  if (launch.shared_bytes) std::memset(launch.shared, 0xFF, launch.shared_bytes);  // uninitialised on a GPU
  std::vector<int> runnable(n);
  for (int i = 0; i < n; ++i) runnable[i] = i;
  for (;;) {
    order(runnable);
    for (int i : runnable) enter(launch, fibers[i]);
    runnable.clear();
    release_warps(launch, runnable);
    if (!runnable.empty()) continue;
    if (!release_block(launch, runnable)) break;
  }
  for (Fiber& f : fibers) complete_async_copies(f);
}

Fiber& current_fiber(const char* what) {
  if (!running || !running->current) {
    std::fprintf(stderr, "simt: %s called outside a kernel\n", what);
    std::abort();
  }
  return *running->current;
}

[[noreturn]] void launch_error(const char* file, int line, const std::string& what) {
  ednn::fail(file, ":", line, ": kernel launch: ", what);
}

}  // namespace

CounterHooks* counter_hooks = nullptr;

CurrentThread current_thread() {
  if (!running || !running->current) return {};
  return {running->current->linear, running->shared, running->shared_bytes, running->current->stack,
          running->stack_bytes};
}

void* dynamic_shared_memory() {
  current_fiber("SIMT_DYNAMIC_SHARED");
  return running->shared;
}

void sync_block(const char* what, const char* file, int line) { sync_block_count(0, what, file, line); }

int sync_block_count(int predicate, const char* what, const char* file, int line) {
  Fiber& f = current_fiber(what);
  f.wait = Wait::block_barrier;
  f.what = what;
  f.file = file;
  f.line = line;
  f.predicate = predicate != 0;
  leave(*running, f, false);
  f.predicate = 0;
  return f.block_result;
}

void warp_op(WarpOp op, unsigned mask, const void* value, void* result, std::size_t bytes, int param, int width,
             const char* file, int line) {
  Fiber& f = current_fiber(op_name(op));
  f.wait = Wait::warp;
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.result = result;
  f.bytes = bytes;
  f.param = param;
  f.width = width;
  f.what = op_name(op);
  f.file = file;
  f.line = line;
  leave(*running, f, false);
}

void copy_async(void* shared_dst, const void* global_src, std::size_t bytes, const char* file, int line) {
  Fiber& f = current_fiber("simt::copy_async_16");
  // A GPU faults on a misaligned cp.async (an error the launch reports); a kernel's fiber cannot
  // throw, so the emulation aborts with the place, as for a divergent barrier.
  const auto misaligned = [bytes](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % bytes != 0; };
  if (misaligned(shared_dst) || misaligned(global_src)) {
    std::fprintf(stderr,
                 "simt: %s:%d: simt::copy_async_16 in thread (%u,%u,%u) of block (%u,%u,%u): "
                 "addresses %p and %p must be %zu-byte aligned\n",
                 file, line, threadIdx.x, threadIdx.y, threadIdx.z, blockIdx.x, blockIdx.y, blockIdx.z, shared_dst,
                 global_src, bytes);
    std::abort();
  }
  if (counter_hooks) counter_hooks->copy_async(shared_dst, global_src, bytes, __builtin_return_address(0));
  std::memset(shared_dst, 0xFF, bytes);  // undefined until the wait: NaN here
  f.async_copies.push_back({shared_dst, global_src, bytes});
}

void copy_async_wait_all() { complete_async_copies(current_fiber("simt::copy_async_wait_all")); }

void set_max_dynamic_shared_bytes(const void* kernel_id, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(launch_mutex);
  if (bytes > max_shared_limit)
    ednn::fail("simt::set_max_dynamic_shared_bytes: ", bytes, " bytes asked, sm_86 and sm_89 allow at most ",
               max_shared_limit, " per block (kernels/README.md)");
  shared_limits[kernel_id] = bytes;
}

void run_grid(KernelBody body, void* closure, const void* kernel_id, dim3 grid, dim3 block, std::size_t shared_bytes,
              const char* file, int line) {
  if (running && running->current) {
    std::fprintf(stderr, "simt: %s:%d: kernel launch from inside a kernel (not supported)\n", file, line);
    std::abort();
  }
  std::lock_guard<std::mutex> lock(launch_mutex);
  // The launch configurations CUDA refuses, refused here too.
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    launch_error(file, line, ednn::detail::concat("block (", block.x, ",", block.y, ",", block.z,
                                                  ") is invalid: 1 to 1024 threads, x and y <= 1024, z <= 64"));
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    launch_error(file, line, ednn::detail::concat("grid (", grid.x, ",", grid.y, ",", grid.z,
                                                  ") is invalid: x in 1..2^31-1, y and z in 1..65535"));
  std::size_t limit = default_shared_limit;
  if (auto it = shared_limits.find(kernel_id); it != shared_limits.end()) limit = it->second;
  if (shared_bytes > limit)
    launch_error(file, line, ednn::detail::concat(shared_bytes, " bytes of dynamic shared memory asked, the limit is ",
                                                  limit, " (raise it with simt::set_max_dynamic_shared_bytes)"));

  Launch launch;
  launch.body = body;
  launch.closure = closure;
  launch.grid = grid;
  launch.block = block;
  launch.file = file;
  launch.line = line;
  launch.fibers.resize(threads);
  launch.stack_bytes = schedule_state().stack_bytes;
  stack_pool.reserve(threads, launch.stack_bytes);
  launch.stack_bytes = stack_pool.bytes;
  for (unsigned z = 0, i = 0; z < block.z; ++z)
    for (unsigned y = 0; y < block.y; ++y)
      for (unsigned x = 0; x < block.x; ++x, ++i) {
        launch.fibers[i].index = uint3{x, y, z};
        launch.fibers[i].linear = static_cast<int>(i);
        launch.fibers[i].stack = stack_pool.stacks[i];
      }
  for (Fiber& f : launch.fibers) {
#if defined(SIMT_ASAN)
    __asan_unpoison_memory_region(f.stack, launch.stack_bytes);  // frames left by an earlier launch
#endif
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack;
    f.context.uc_stack.ss_size = launch.stack_bytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_main, 0);
  }
  launch.shared_bytes = shared_bytes;
  launch.shared = static_cast<unsigned char*>(std::malloc(shared_bytes));  // exactly the size: ASan sees overflows

  const dim3 saved_grid = gridDim, saved_block = blockDim;
  gridDim = grid;
  blockDim = block;
  running = &launch;
  if (counter_hooks) counter_hooks->launch_begin(file, line, kernel_id, grid, block, shared_bytes);
  const unsigned long long blocks = 1ull * grid.x * grid.y * grid.z;
  std::vector<long long> block_order;
  block_order.reserve(blocks);
  // Blocks run in the schedule's order too: a block that reads another block's output shows it.
  if (blocks <= (1ull << 24)) {
    std::vector<int> ids(blocks);
    for (unsigned long long b = 0; b < blocks; ++b) ids[b] = static_cast<int>(b);
    order(ids);
    for (int b : ids) block_order.push_back(b);
  }
  auto run = [&](unsigned long long b) {
    blockIdx = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                     static_cast<unsigned>(b / grid.x / grid.y)};
    if (counter_hooks && !counter_hooks->block_selected()) return;  // a counted sample skips it
    run_block(launch);
    if (counter_hooks) counter_hooks->block_end();
  };
  if (!block_order.empty())
    for (long long b : block_order) run(static_cast<unsigned long long>(b));
  else
    for (unsigned long long b = 0; b < blocks; ++b) run(b);
  if (counter_hooks) counter_hooks->launch_end();
  launch.finishing = true;  // let every fiber end, so AddressSanitizer releases its fake stack
  for (Fiber& f : launch.fibers)
    if (f.started) enter(launch, f);
  running = nullptr;
  gridDim = saved_grid;
  blockDim = saved_block;
  std::free(launch.shared);
}

}  // namespace detail

Schedule schedule() { return detail::schedule_state().schedule; }

void set_schedule(Schedule s, std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(detail::launch_mutex);
  detail::ScheduleState& state = detail::schedule_state();
  state.schedule = s;
  state.seed = seed;
  state.rng = seed;
}

void set_fiber_stack_size(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(detail::launch_mutex);
  detail::schedule_state().stack_bytes = std::max<std::size_t>(bytes, 16 * 1024);
}

void* device_malloc(std::size_t bytes) {
  // 256-byte aligned, as cudaMalloc's memory is (the memory counters' sectors depend on it).
  void* ptr = nullptr;
  if (bytes && posix_memalign(&ptr, 256, bytes) != 0)
    ednn::fail("simt::device_malloc: out of memory allocating ", bytes, " bytes");
  if (ptr) std::memset(ptr, 0xFF, bytes);  // cudaMalloc memory is uninitialised: make reading it visible
  if (ptr && detail::counter_hooks) detail::counter_hooks->device_malloc(ptr, bytes);
  return ptr;
}
void device_free(void* ptr) noexcept {
  if (ptr && detail::counter_hooks) detail::counter_hooks->device_free(ptr);
  std::free(ptr);
}

// ---- graph capture: the work queued on the capturing stream, kept as closures ----
namespace detail {
namespace {

struct CaptureState {
  bool open = false;
  Stream stream = nullptr;
  std::vector<std::function<void()>> work;
};
CaptureState& capture_state() {
  static CaptureState state;
  return state;
}

// The synchronous calls would wait for recorded work that has not run; CUDA refuses them.
void refuse_during_capture(const char* call) {
  if (capture_state().open)
    ednn::fail("simt::", call, " while a graph capture is open: it would wait for work that is recorded, not run "
               "(on a GPU, cudaErrorStreamCaptureImplicit); queue it on the capturing stream or move it out of the "
               "captured step");
}

}  // namespace

void run_or_record(Stream stream, const char* file, int line, std::function<void()> work) {
  CaptureState& capture = capture_state();
  if (capture.open && stream == capture.stream) {
    capture.work.push_back(std::move(work));
    return;
  }
  if (capture.open && stream == nullptr)
    ednn::fail(file, line ? ":" : "", line ? std::to_string(line) : std::string(),
               ": work queued on the default stream while another stream captures a graph (on a GPU, "
               "cudaErrorStreamCaptureImplicit: the default stream would wait for work that has not run)");
  work();  // no capture, or an independent stream: runs as usual
}

}  // namespace detail

void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  detail::refuse_during_capture("copy_to_device");
  if (bytes) std::memcpy(dst, src, bytes);
}
void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  detail::refuse_during_capture("copy_to_host");
  if (bytes) std::memcpy(dst, src, bytes);
}
void copy_on_device(void* dst, const void* src, std::size_t bytes) {
  detail::refuse_during_capture("copy_on_device");
  if (bytes) std::memmove(dst, src, bytes);
}
void device_memset(void* ptr, int value, std::size_t bytes) {
  detail::refuse_during_capture("device_memset");
  if (bytes) std::memset(ptr, value, bytes);
}
void synchronize(Stream) { detail::refuse_during_capture("synchronize"); }

Stream create_stream() {
  static std::atomic<std::uintptr_t> next{1};
  return reinterpret_cast<Stream>(next.fetch_add(1) * 64);  // a distinct, never dereferenced token
}
void destroy_stream(Stream) noexcept {}

void device_memset_async(void* ptr, int value, std::size_t bytes, Stream stream) {
  detail::run_or_record(stream, "simt::device_memset_async", 0, [=] {
    if (bytes) std::memset(ptr, value, bytes);
  });
}
void copy_on_device_async(void* dst, const void* src, std::size_t bytes, Stream stream) {
  detail::run_or_record(stream, "simt::copy_on_device_async", 0, [=] {
    if (bytes) std::memmove(dst, src, bytes);
  });
}

struct Graph::Impl {
  std::vector<std::function<void()>> work;
  std::size_t nodes = 0;
};

void begin_capture(Stream stream) {
  detail::check_capture_stream(stream, "begin_capture");
  detail::CaptureState& capture = detail::capture_state();
  if (capture.open) ednn::fail("simt::begin_capture: a capture is already open (the emulation records one at a time)");
  capture.open = true;
  capture.stream = stream;
  capture.work.clear();
}

Graph end_capture(Stream stream) {
  detail::check_capture_stream(stream, "end_capture");
  detail::CaptureState& capture = detail::capture_state();
  if (!capture.open || capture.stream != stream)
    ednn::fail("simt::end_capture: the stream is not capturing (on a GPU, cudaErrorIllegalState)");
  auto impl = std::make_unique<Graph::Impl>();
  impl->work = std::move(capture.work);
  impl->nodes = impl->work.size();
  capture = detail::CaptureState{};
  return Graph(std::move(impl));
}

bool capture_open() { return detail::capture_state().open; }

void Graph::replay(Stream stream) {
  if (!impl_) ednn::fail("simt::Graph::replay: the graph is empty (nothing was captured)");
  if (capture_open()) ednn::fail("simt::Graph::replay: replaying a graph inside a capture is not supported");
  (void)stream;
  for (auto& work : impl_->work) work();
}

bool device_available(std::string*) { return true; }

int device_count() { return 1; }

void select_device(int index) {
  if (index != 0)
    ednn::fail("CUDA device ", index, " asked for, but the CPU emulation (an EDNN_EMULATE_CUDA build) is one device, "
               "cuda:0");
}

bool device_emulated() { return true; }

std::string device_description() {
  return std::string("CPU emulation (simt fibers, schedule ") + schedule_name(schedule()) + ")";
}

}  // namespace simt


// ---- the graph's own members ---------------------------------------------------------------
namespace simt {

Graph::Graph() = default;
Graph::Graph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;
bool Graph::empty() const { return !impl_; }
std::size_t Graph::node_count() const { return impl_ ? impl_->nodes : 0; }

}  // namespace simt
