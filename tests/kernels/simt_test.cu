// Tests of the simt layer (kernels/simt.h). The same file is compiled as C++ with the CPU
// emulation (test kernels_simt) and by nvcc for the GPU (kernels_simt_gpu, label gpu). Cases that
// test the emulation's own bug-finding (orders, aborts, ASan) run only under the emulation.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/simt.h"
#include "tests/kernels/test_util.h"

using ednn::test::check_close;
using ednn::test::for_each_schedule;
using ednn::test::run_in_child;
using simt::DeviceBuffer;

namespace simt_test {

// ---- kernels --------------------------------------------------------------------------------

// order[global thread id] = the position at which that thread ran its first instruction.
__global__ void record_order(int* counter, int* order) {
  const int id = blockIdx.x * blockDim.x + threadIdx.x;
  order[id] = atomicAdd(counter, 1);
}

// Writes the global linear id of each thread of a 3-D grid of 3-D blocks, and checks the
// built-in variables agree with each other.
__global__ void index_3d(int* out, int* bad) {
  const int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * threads + thread] = block * threads + thread;
  if (threadIdx.x >= blockDim.x || threadIdx.y >= blockDim.y || threadIdx.z >= blockDim.z ||
      blockIdx.x >= gridDim.x || blockIdx.y >= gridDim.y || blockIdx.z >= gridDim.z)
    atomicAdd(bad, 1);
}

// y[i] = x[i] - x[i-1] within each block (the block's first element keeps x[i]), through shared
// memory. The racy version forgets the barrier between the writes and the reads, so thread t
// reads s[t-1] before thread t-1 has written it unless t-1 happened to run first.
constexpr int diff_block = 128;
__global__ void neighbour_difference_racy(const float* x, float* y, int n) {
  __shared__ float s[diff_block];
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? x[i] : 0.0f;
  // missing: __syncthreads();
  if (i < n) y[i] = t > 0 ? s[t] - s[t - 1] : s[t];
}
__global__ void neighbour_difference(const float* x, float* y, int n) {
  __shared__ float s[diff_block];
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? x[i] : 0.0f;
  __syncthreads();
  if (i < n) y[i] = t > 0 ? s[t] - s[t - 1] : s[t];
}

// Threads past the end return at once; that is fine because no barrier follows.
__global__ void early_return_without_barrier(float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  y[i] = 2.0f * i;
}

// All threads pass a barrier, then some return, then the rest carry on (no later barrier).
__global__ void return_after_barrier(int* y) {
  __shared__ int s[64];
  s[threadIdx.x] = threadIdx.x;
  __syncthreads();
  if (threadIdx.x % 3 == 0) return;
  y[threadIdx.x] = s[63 - threadIdx.x];
}

// Bugs the emulation must catch.
__global__ void barrier_after_one_thread_returned(int* y) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  y[threadIdx.x] = 1;
}
__global__ void barrier_on_two_lines(int* y) {
  if (threadIdx.x % 2) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  y[threadIdx.x] = 1;
}
__global__ void shuffle_in_half_a_warp(int* y) {
  int v = threadIdx.x;
  if (threadIdx.x % 32 < 16) v = __shfl_down_sync(0xffffffffu, v, 1);
  __syncthreads();
  y[threadIdx.x] = v;
}
__global__ void shuffles_on_two_lines(int* y) {
  int v = threadIdx.x;
  if (threadIdx.x % 2)
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  else
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  y[threadIdx.x] = v;
}
__global__ void static_shared_overflow(int* y) {
  __shared__ int s[32];
  s[threadIdx.x] = threadIdx.x;  // launched with 33 threads
  __syncthreads();
  y[threadIdx.x] = s[threadIdx.x];
}
__global__ void dynamic_shared_overflow(int* y) {
  SIMT_DYNAMIC_SHARED(int, s);  // launched with 32 ints for 33 threads
  s[threadIdx.x] = threadIdx.x;
  __syncthreads();
  y[threadIdx.x] = s[threadIdx.x];
}

// Reverses each block's segment of x through dynamic shared memory sized by the launch.
__global__ void reverse_segments(const float* x, float* y, int n) {
  SIMT_DYNAMIC_SHARED(float, s);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  s[threadIdx.x] = i < n ? x[i] : -1.0f;
  __syncthreads();
  const int segment = min(static_cast<int>(blockDim.x), n - static_cast<int>(blockIdx.x * blockDim.x));
  if (static_cast<int>(threadIdx.x) < segment)
    y[i] = s[segment - 1 - threadIdx.x];
}
// A second kernel with dynamic shared memory of another type in the same file, plus a static
// array next to it: prefix sums of each block's ints, Hillis-Steele with two buffers.
__global__ void block_prefix_sum(const int* x, int* y) {
  SIMT_DYNAMIC_SHARED(int, buf);  // [2 * blockDim.x]
  __shared__ int total;
  const int t = threadIdx.x, n = blockDim.x;
  int* in = buf;
  int* out = buf + n;
  in[t] = x[blockIdx.x * n + t];
  if (t == 0) total = 0;
  __syncthreads();
  for (int offset = 1; offset < n; offset *= 2) {
    out[t] = t >= offset ? in[t] + in[t - offset] : in[t];
    __syncthreads();
    int* tmp = in;
    in = out;
    out = tmp;
  }
  atomicAdd(&total, x[blockIdx.x * n + t]);
  __syncthreads();
  y[blockIdx.x * n + t] = in[t] * 1000 + (t == n - 1 ? total == in[t] : 1);
}

// Every thread adds to a few counters at once.
__global__ void atomic_contention(int* count, unsigned* ucount, float* fsum, double* dsum, int* histogram,
                                  int* maximum, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(count, 1);
  atomicAdd(ucount, 2u);
  atomicAdd(fsum, 0.5f);
  atomicAdd(dsum, 0.25);
  atomicAdd(&histogram[i % 7], 1);
  atomicMax(maximum, (i * 37) % 1001);
}

// The atomic overloads atomic_contention does not use, every thread of the grid on one address each.
struct AtomicTargets {
  unsigned long long* big_sum;  // atomicAdd, unsigned long long
  int* down;                    // atomicSub, int
  unsigned* udown;              // atomicSub, unsigned
  int* lowest;                  // atomicMin, int
  unsigned* ulowest;            // atomicMin, unsigned
  unsigned* uhighest;           // atomicMax, unsigned
  int* slot;                    // atomicExch, int, unsigned, float: what each thread's exchanges
  unsigned* uslot;              // returned goes to slot_seen [3 n]
  float* fslot;
  int* slot_seen;
  int* cas;                     // atomicCAS loops: int, unsigned, unsigned long long
  unsigned* ucas;
  unsigned long long* big_cas;
  int* cas_refused;             // [2]: a CAS on [1] = 1 whose compare fails: what it returned, [1] after
};
__host__ __device__ int atomic_min_value(int i) { return (i * 37) % 1001 - 500; }
__host__ __device__ unsigned atomic_unsigned_value(int i) { return unsigned(i * 53) % 997u + 0x80000000u; }
__global__ void atomic_variants(AtomicTargets t, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(t.big_sum, (1ull << 33) + unsigned(i));  // the sum needs more than 32 bits
  atomicSub(t.down, 3);
  atomicSub(t.udown, 7u);
  atomicMin(t.lowest, atomic_min_value(i));
  atomicMin(t.ulowest, atomic_unsigned_value(i));  // above 2^31: a signed comparison would get them wrong
  atomicMax(t.uhighest, atomic_unsigned_value(i));
  t.slot_seen[i] = atomicExch(t.slot, i + 1);
  t.slot_seen[n + i] = int(atomicExch(t.uslot, unsigned(i + 1)));
  t.slot_seen[2 * n + i] = int(atomicExch(t.fslot, float(i + 1)));
  // Add by compare-and-swap: retry until no other thread wrote in between.
  for (int old = *t.cas, assumed = old - 1; old != assumed;) {
    assumed = old;
    old = atomicCAS(t.cas, assumed, assumed + 2);
  }
  for (unsigned old = *t.ucas, assumed = old - 1; old != assumed;) {
    assumed = old;
    old = atomicCAS(t.ucas, assumed, assumed + 3u);
  }
  for (unsigned long long old = *t.big_cas, assumed = old - 1; old != assumed;) {
    assumed = old;
    old = atomicCAS(t.big_cas, assumed, assumed + (1ull << 32));
  }
  if (i == 0) t.cas_refused[0] = atomicCAS(&t.cas_refused[1], 12345, 7);  // compare fails: returns 1, writes nothing
}

// min and max of each type CUDA defines them for, on values that tell a wrong overload apart (an
// unsigned above 2^31 is negative as an int; 2^40 and 2^63 do not fit 32 bits). Every result is
// exact in a double.
constexpr int min_max_outputs = 16;
__global__ void min_max_of_each_type(double* out) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  out[0] = min(-3, 2);
  out[1] = max(-3, 2);
  out[2] = min(3u, 0x80000000u);
  out[3] = max(3u, 0x80000000u);
  out[4] = double(min(-(1L << 40), 5L));
  out[5] = double(max(-(1L << 40), 5L));
  out[6] = double(min(7ul, 1ul << 63));
  out[7] = double(max(7ul, 1ul << 63));
  out[8] = double(min(-(1LL << 50), -(1LL << 49)));
  out[9] = double(max(-(1LL << 50), -(1LL << 49)));
  out[10] = double(min(9ull, 1ull << 63));
  out[11] = double(max(9ull, 1ull << 63));
  out[12] = min(-0.5f, 0.25f);
  out[13] = max(-0.5f, 0.25f);
  out[14] = min(1e300, -1e-300);
  out[15] = max(1e300, -1e-300);
}

// y = x with neighbouring pairs of lanes swapped, through shared memory: the lanes of a warp write
// their value, meet at __syncwarp, then read their partner's. Without the __syncwarp (racy) a lane
// may read before its partner has written.
constexpr int pair_block = 64;
__global__ void swap_pairs(const int* x, int* y) {
  __shared__ int s[pair_block];
  const int t = threadIdx.x, i = blockIdx.x * pair_block + t;
  s[t] = x[i];
  __syncwarp();
  y[i] = s[t ^ 1];
}
__global__ void swap_pairs_racy(const int* x, int* y) {
  __shared__ int s[pair_block];
  const int t = threadIdx.x, i = blockIdx.x * pair_block + t;
  s[t] = x[i];
  // missing: __syncwarp();
  y[i] = s[t ^ 1];
}

// Each thread computes a fixed list of warp operations; out[id * shuffle_outputs + k].
constexpr int shuffle_outputs = 14;
__host__ __device__ int shuffle_value(int id) { return id * 7 + 3; }
__global__ void shuffles(int* out, double* dout) {
  const int id = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = shuffle_value(id);
  int* o = out + id * shuffle_outputs;
  o[0] = __shfl_down_sync(0xffffffffu, v, 1);
  o[1] = __shfl_down_sync(0xffffffffu, v, 5);
  o[2] = __shfl_down_sync(0xffffffffu, v, 16);
  o[3] = __shfl_down_sync(0xffffffffu, v, 3, 8);
  o[4] = __shfl_up_sync(0xffffffffu, v, 3);
  o[5] = __shfl_up_sync(0xffffffffu, v, 3, 16);
  o[6] = __shfl_xor_sync(0xffffffffu, v, 1);
  o[7] = __shfl_xor_sync(0xffffffffu, v, 7);
  o[8] = __shfl_xor_sync(0xffffffffu, v, 16, 8);  // lane ^ 16 lies in a later segment: own value
  o[9] = __shfl_sync(0xffffffffu, v, 5);           // broadcast lane 5
  o[10] = __shfl_sync(0xffffffffu, v, 11, 8);      // lane 11 % 8 = 3 of each group of 8
  o[11] = static_cast<int>(__ballot_sync(0xffffffffu, v % 3 == 0));
  o[12] = __any_sync(0xffffffffu, id % 64 == 63) * 10 + __all_sync(0xffffffffu, v % 2 == 1);
  __syncwarp();
  // Two halves of a warp, each with its own mask, on different lines: both legal.
  const int lane = threadIdx.x % 32;
  if (lane < 16)
    o[13] = __shfl_xor_sync(0x0000ffffu, v, 2);
  else
    o[13] = __shfl_down_sync(0xffff0000u, v, 4, 16);
  dout[id] = __shfl_xor_sync(0xffffffffu, 0.5 * id, 1);  // 8-byte values
}

// __syncthreads_count / _and / _or.
__global__ void barrier_votes(const int* x, int* out) {
  const int p = x[blockIdx.x * blockDim.x + threadIdx.x];
  const int count = __syncthreads_count(p);
  const int all = __syncthreads_and(p);
  const int any = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    out[blockIdx.x * 3 + 0] = count;
    out[blockIdx.x * 3 + 1] = all;
    out[blockIdx.x * 3 + 2] = any;
  }
}

__global__ void noop_kernel(int) {}

// D = A B + C for one 16 x 8 x 8 problem per warp (problem = global warp index): A [16][8],
// B [8][8], C and D [16][8], all row-major. Each lane loads the fragment layout documented at
// simt::mma_m16n8k8_tf32 and stores its four results where that layout says they belong; on a
// GPU this checks the documented layout against the hardware.
__global__ void mma_tiles(const float* a, const float* b, const float* c, float* d) {
  const int thread = blockIdx.x * blockDim.x + threadIdx.x;
  const int problem = thread / 32, lane = thread % 32, g = lane / 4, t = lane % 4;
  const float* A = a + problem * 128;
  const float* B = b + problem * 64;
  const float a_fragment[4] = {A[g * 8 + t], A[(g + 8) * 8 + t], A[g * 8 + t + 4], A[(g + 8) * 8 + t + 4]};
  const float b_fragment[2] = {B[t * 8 + g], B[(t + 4) * 8 + g]};
  const int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  float acc[4];
  for (int r = 0; r < 4; ++r) acc[r] = c[problem * 128 + rows[r] * 8 + cols[r]];
  simt::mma_m16n8k8_tf32(acc, a_fragment, b_fragment);
  for (int r = 0; r < 4; ++r) d[problem * 128 + rows[r] * 8 + cols[r]] = acc[r];
}

// y = x reversed within each block of 128 floats, through shared memory filled by cp.async: each
// of the 32 threads copies 16 bytes and then reads what other threads copied, which needs this
// thread's wait for its own copy and a barrier for the others'. wait = 0 leaves the wait out.
constexpr int async_floats = 128;
__global__ void reverse_through_async_copies(const float* x, float* y, int wait) {
  __shared__ __align__(16) float s[async_floats];
  const int t = threadIdx.x, base = blockIdx.x * async_floats;
  simt::copy_async_16(s + 4 * t, x + base + 4 * t);
  if (wait) simt::copy_async_wait_all();
  __syncthreads();
  for (int r = 0; r < 4; ++r) y[base + 4 * t + r] = s[async_floats - 1 - (4 * t + r)];
}

// A copy from a source 4 bytes off its 16-byte alignment.
__global__ void misaligned_async_copy(const float* x) {
  __shared__ __align__(16) float s[4];
  simt::copy_async_16(s, x + 1);
  simt::copy_async_wait_all();
}

}  // namespace simt_test

using namespace simt_test;

// The host model of the shuffles, from the CUDA programming guide: lanes are split into
// segments of `width`; a source outside the caller's segment (or, for up/down, past its ends)
// gives the caller's own value; xor may reach down into an earlier segment.
namespace {
int lane_of(int id) { return id % 32; }
int warp_base(int id) { return id - lane_of(id); }
int host_shfl(int id, int src_lane) { return shuffle_value(warp_base(id) + src_lane); }
int host_down(int id, int delta, int width = 32) {
  const int lane = lane_of(id), seg = lane / width * width;
  return lane + delta < seg + width ? host_shfl(id, lane + delta) : shuffle_value(id);
}
int host_up(int id, int delta, int width = 32) {
  const int lane = lane_of(id), seg = lane / width * width;
  return lane - delta >= seg ? host_shfl(id, lane - delta) : shuffle_value(id);
}
int host_xor(int id, int mask, int width = 32) {
  const int lane = lane_of(id), seg = lane / width * width;
  const int src = lane ^ mask;
  return src < seg + width ? host_shfl(id, src) : shuffle_value(id);
}
int host_idx(int id, int src, int width = 32) {
  const int seg = lane_of(id) / width * width;
  return host_shfl(id, seg + src % width);
}
}  // namespace

TEST_CASE("simt: every thread runs once; the emulation follows the schedule") {
  for_each_schedule([](simt::Schedule s) {
    const int blocks = 3, threads = 64, n = blocks * threads;
    DeviceBuffer<int> counter(std::vector<int>{0});
    DeviceBuffer<int> order(n);
    simt::launch(record_order, blocks, threads, 0, nullptr, counter.data(), order.data());
    std::vector<int> got = order.download();
    std::vector<int> sorted = got;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < n; ++i) REQUIRE(sorted[i] == i);  // a permutation: each thread ran exactly once
    if (!simt::emulated) return;
    const bool ascending = std::is_sorted(got.begin(), got.end());
    const bool descending = std::is_sorted(got.rbegin(), got.rend());
    if (s == simt::Schedule::forward) CHECK(ascending);
    if (s == simt::Schedule::reverse) CHECK(descending);  // threads and blocks both reversed
    if (s == simt::Schedule::random) CHECK((!ascending && !descending));
  });
}

TEST_CASE("simt: EDNN_SIMT_ORDER sets the initial schedule") {
  const char* env = std::getenv("EDNN_SIMT_ORDER");
  if (!simt::emulated || !env) return;
  const std::string order = env;
  CHECK(order.rfind(simt::schedule_name(simt::schedule()), 0) == 0);
}

TEST_CASE("simt: 3-D grids and blocks cover every thread once") {
  const dim3 grid(3, 2, 2), block(4, 3, 5);
  const int n = 3 * 2 * 2 * 4 * 3 * 5;
  DeviceBuffer<int> out(n), bad(std::vector<int>{0});
  simt::launch(index_3d, grid, block, 0, nullptr, out.data(), bad.data());
  std::vector<int> want(n);
  std::iota(want.begin(), want.end(), 0);
  check_close(out.download(), want, 0.0);
  CHECK(bad.download()[0] == 0);
}

TEST_CASE("simt: a missing __syncthreads gives a wrong answer in reverse order; the barrier fixes it") {
  const int n = 1000;  // 8 blocks of 128, the last one partial
  const std::vector<float> x = ednn::test::random_floats(n, 7);
  std::vector<float> want(n);
  for (int i = 0; i < n; ++i) want[i] = i % diff_block ? x[i] - x[i - 1] : x[i];
  const int blocks = (n + diff_block - 1) / diff_block;
  DeviceBuffer<float> dx(x), dy(n);
  for_each_schedule([&](simt::Schedule s) {
    simt::launch(neighbour_difference, blocks, diff_block, 0, nullptr, dx.data(), dy.data(), n);
    check_close(dy.download(), want, 0.0);
    if (!simt::emulated) return;  // on a GPU the race may or may not show: no assertion either way
    simt::launch(neighbour_difference_racy, blocks, diff_block, 0, nullptr, dx.data(), dy.data(), n);
    const std::vector<float> got = dy.download();
    std::size_t differ = 0;
    for (int i = 0; i < n; ++i) differ += got[i] != want[i];
    // Forward order runs thread t-1 before thread t, which hides this race; the others expose it.
    if (s == simt::Schedule::forward) CHECK(differ == 0);
    else CHECK(differ > 0);
  });
}

TEST_CASE("simt: threads may return early when no barrier follows") {
  for_each_schedule([](simt::Schedule) {
    const int n = 100;
    DeviceBuffer<float> y(n);
    simt::launch(early_return_without_barrier, 2, 64, 0, nullptr, y.data(), n);
    std::vector<float> want(n);
    for (int i = 0; i < n; ++i) want[i] = 2.0f * i;
    check_close(y.download(), want, 0.0);

    DeviceBuffer<int> z(std::vector<int>(64, -1));
    simt::launch(return_after_barrier, 1, 64, 0, nullptr, z.data());
    std::vector<int> wantz(64);
    for (int t = 0; t < 64; ++t) wantz[t] = t % 3 == 0 ? -1 : 63 - t;
    check_close(z.download(), wantz, 0.0);
  });
}

TEST_CASE("simt: a barrier some threads never reach aborts with a report of each thread") {
  if (!simt::emulated) return;  // undefined behaviour (a hang, at best) on a GPU
  {
    const auto child = run_in_child([] {
      DeviceBuffer<int> y(64);
      simt::launch(barrier_after_one_thread_returned, 1, 64, 0, nullptr, y.data());
    });
    INFO(child.err);
    CHECK(child.aborted);
    CHECK(child.err.find("barrier divergence") != std::string::npos);
    CHECK(child.err.find("reached by 63 of 64 threads") != std::string::npos);
    CHECK(child.err.find("thread 5 (5,0,0), warp 0 lane 5: returned from the kernel") != std::string::npos);
    CHECK(child.err.find("threads 0-4 (warps 0-0): waiting at __syncthreads, ") != std::string::npos);
    CHECK(child.err.find("simt_test.cu") != std::string::npos);
  }
  {
    const auto child = run_in_child([] {
      DeviceBuffer<int> y(64);
      simt::launch(barrier_on_two_lines, 1, 64, 0, nullptr, y.data());
    });
    INFO(child.err);
    CHECK(child.aborted);
    CHECK(child.err.find("on different lines") != std::string::npos);
    CHECK(child.err.find("thread 1 (1,0,0), warp 0 lane 1: waiting at __syncthreads") != std::string::npos);
  }
}

TEST_CASE("simt: a warp operation that part of the warp skips aborts with a report") {
  if (!simt::emulated) return;
  {
    const auto child = run_in_child([] {
      DeviceBuffer<int> y(64);
      simt::launch(shuffle_in_half_a_warp, 1, 64, 0, nullptr, y.data());
    });
    INFO(child.err);
    CHECK(child.aborted);
    CHECK(child.err.find("deadlock: a warp operation") != std::string::npos);
    CHECK(child.err.find("threads 0-15 (warps 0-0): waiting at __shfl_down_sync(mask 0xffffffff)") != std::string::npos);
    CHECK(child.err.find("threads 16-31 (warps 0-0): waiting at __syncthreads") != std::string::npos);
  }
  {
    const auto child = run_in_child([] {
      DeviceBuffer<int> y(32);
      simt::launch(shuffles_on_two_lines, 1, 32, 0, nullptr, y.data());
    });
    INFO(child.err);
    CHECK(child.aborted);
    CHECK(child.err.find("thread 0 (0,0,0), warp 0 lane 0: waiting at __shfl_xor_sync") != std::string::npos);
    CHECK(child.err.find("thread 1 (1,0,0), warp 0 lane 1: waiting at __shfl_xor_sync") != std::string::npos);
  }
}

TEST_CASE("simt: AddressSanitizer sees shared-memory overflows") {
#if defined(__SANITIZE_ADDRESS__)
  if (!simt::emulated) return;
  const auto stat = run_in_child([] {
    DeviceBuffer<int> y(33);
    simt::launch(static_shared_overflow, 1, 33, 0, nullptr, y.data());
  });
  CHECK(stat.err.find("global-buffer-overflow") != std::string::npos);
  CHECK(stat.err.find("global variable 's'") != std::string::npos);
  const auto dyn = run_in_child([] {
    DeviceBuffer<int> y(33);
    simt::launch(dynamic_shared_overflow, 1, 33, 32 * sizeof(int), nullptr, y.data());
  });
  CHECK(dyn.err.find("heap-buffer-overflow") != std::string::npos);
#else
  MESSAGE("not an AddressSanitizer build");
#endif
}

TEST_CASE("simt: dynamic shared memory, sized at launch") {
  for_each_schedule([](simt::Schedule) {
    for (int n : {1, 31, 33, 1000}) {
      CAPTURE(n);
      const int block = 96;
      const std::vector<float> x = ednn::test::random_floats(n, 11);
      std::vector<float> want(n);
      for (int b = 0; b * block < n; ++b) {
        const int seg = std::min(block, n - b * block);
        for (int t = 0; t < seg; ++t) want[b * block + t] = x[b * block + seg - 1 - t];
      }
      DeviceBuffer<float> dx(x), dy(n);
      simt::launch(reverse_segments, (n + block - 1) / block, block, block * sizeof(float), nullptr, dx.data(),
                   dy.data(), n);
      check_close(dy.download(), want, 0.0);
    }
    const int blocks = 5, block = 64;
    std::vector<int> x(blocks * block);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int>(i % 5);
    std::vector<int> want(x.size());
    for (int b = 0; b < blocks; ++b)
      for (int t = 0, acc = 0; t < block; ++t) {
        acc += x[b * block + t];
        want[b * block + t] = acc * 1000 + 1;
      }
    DeviceBuffer<int> dx(x), dy(x.size());
    simt::launch(block_prefix_sum, blocks, block, 2 * block * sizeof(int), nullptr, dx.data(), dy.data());
    check_close(dy.download(), want, 0.0);
  });
}

TEST_CASE("simt: launches CUDA refuses throw ednn::Error naming the launch") {
  DeviceBuffer<int> y(1);
  auto message = [](auto&& launch) -> std::string {
    try {
      launch();
    } catch (const ednn::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string too_many_threads = message([&] { simt::launch(noop_kernel, 1, 2048, 0, nullptr, 0); });
  CHECK(too_many_threads.find("simt_test.cu:") != std::string::npos);
  const std::string too_much_shared = message([&] { simt::launch(noop_kernel, 1, 32, 64 * 1024, nullptr, 0); });
  CHECK(too_much_shared.find("simt_test.cu:") != std::string::npos);
  const std::string empty_grid = message([&] { simt::launch(noop_kernel, 0, 32, 0, nullptr, 0); });
  CHECK(empty_grid.find("simt_test.cu:") != std::string::npos);
  simt::launch(noop_kernel, 1, 32, 0, nullptr, 0);  // and a good launch still works afterwards
  simt::synchronize();
}

TEST_CASE("simt: more dynamic shared memory is asked for per kernel, up to the card's opt-in limit") {
  auto message = [](std::size_t bytes) -> std::string {
    try {
      simt::set_max_dynamic_shared_bytes(block_prefix_sum, bytes);
    } catch (const ednn::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  // More than any card has (sm_90: 227 KiB): refused, naming the limit.
  CHECK(message(300 * 1024).find("at most") != std::string::npos);
  // The emulation holds every kernel to the smallest limit of the supported cards, sm_86 and sm_89's.
  if (simt::emulated) CHECK(message(99 * 1024 + 1).find("sm_86 and sm_89 allow at most 101376") != std::string::npos);
  // What every supported card allows: then a launch with 64 KiB runs (48 KiB without asking).
  REQUIRE(message(99 * 1024) == "(no error)");
  const int block = 64;
  DeviceBuffer<int> dx(std::vector<int>(block, 1)), dy(block);
  simt::launch(block_prefix_sum, 1, block, 64 * 1024, nullptr, dx.data(), dy.data());
  const std::vector<int> y = dy.download();
  CHECK(y[0] == 1 * 1000 + 1);
  CHECK(y[block - 1] == block * 1000 + 1);  // the inclusive prefix sum of ones, times 1000, plus 1
}

// y[i] = a * y[i] + x[i]: applied twice, the result tells whether and in which order it ran.
__global__ void scale_and_add(float* y, const float* x, float a, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * y[i] + x[i];
}

TEST_CASE("simt: a captured graph runs nothing until replayed, then the recorded work in order, each replay") {
  const int n = 300;
  const std::vector<float> x = ednn::test::random_floats(n, 5);
  const std::vector<float> start = ednn::test::random_floats(n, 6);
  DeviceBuffer<float> dx(x), dy(start), dz(n);
  simt::Stream stream = simt::create_stream();
  const auto blocks = static_cast<unsigned>((n + 127) / 128);

  // The recorded work: z = 0, y <- 2 y + x, y <- -y + x, z <- y. Each step's arguments are
  // fixed at capture, so a replay repeats it exactly.
  simt::begin_capture(stream);
  CHECK(simt::capture_open());
  simt::device_memset_async(dz.data(), 0, n * sizeof(float), stream);
  simt::launch(scale_and_add, blocks, 128, 0, stream, dy.data(), dx.data(), 2.0f, n);
  simt::launch(scale_and_add, blocks, 128, 0, stream, dy.data(), dx.data(), -1.0f, n);
  simt::copy_on_device_async(dz.data(), dy.data(), n * sizeof(float), stream);
  simt::Graph graph = simt::end_capture(stream);
  CHECK_FALSE(simt::capture_open());
  CHECK(graph.node_count() == 4);
  check_close(dy.download(), start, 0.0);  // nothing ran during the capture

  std::vector<float> want = start;
  for (int replay = 1; replay <= 3; ++replay) {
    CAPTURE(replay);
    graph.replay(stream);
    simt::synchronize(stream);
    for (int i = 0; i < n; ++i) want[i] = -(2.0f * want[i] + x[i]) + x[i];
    check_close(dy.download(), want, 0.0);
    check_close(dz.download(), want, 0.0);
  }
  simt::destroy_stream(stream);
}

TEST_CASE("simt: what a capture cannot record is an error, and the default stream cannot capture") {
  DeviceBuffer<float> d(4);
  std::vector<float> host(4);
  CHECK_THROWS_AS(simt::begin_capture(nullptr), ednn::Error);
  simt::Stream stream = simt::create_stream();
  simt::begin_capture(stream);
  // A synchronous copy would wait for work that has not run: refused (on a GPU the refusal also
  // invalidates the capture, and end_capture then throws).
  CHECK_THROWS_AS(simt::copy_to_host(host.data(), d.data(), sizeof(float) * 4), ednn::Error);
  try {
    simt::end_capture(stream);
  } catch (const ednn::Error&) {
  }
  CHECK_FALSE(simt::capture_open());
  CHECK_THROWS_AS(simt::Graph().replay(stream), ednn::Error);
  simt::launch(noop_kernel, 1, 32, 0, stream, 0);  // the stream still works afterwards
  simt::synchronize(stream);
  simt::destroy_stream(stream);
}

TEST_CASE("simt: atomics under contention") {
  for_each_schedule([](simt::Schedule) {
    const int n = 37 * 128 - 5;
    DeviceBuffer<int> count(std::vector<int>{0}), histogram(std::vector<int>(7, 0)), maximum(std::vector<int>{-1});
    DeviceBuffer<unsigned> ucount(std::vector<unsigned>{0});
    DeviceBuffer<float> fsum(std::vector<float>{0.0f});
    DeviceBuffer<double> dsum(std::vector<double>{0.0});
    simt::launch(atomic_contention, 37, 128, 0, nullptr, count.data(), ucount.data(), fsum.data(), dsum.data(),
                 histogram.data(), maximum.data(), n);
    CHECK(count.download()[0] == n);
    CHECK(ucount.download()[0] == 2u * n);
    CHECK(fsum.download()[0] == 0.5f * n);  // exact: halves up to 2^24
    CHECK(dsum.download()[0] == 0.25 * n);
    std::vector<int> want(7, 0);
    int max = -1;
    for (int i = 0; i < n; ++i) {
      ++want[i % 7];
      max = std::max(max, (i * 37) % 1001);
    }
    check_close(histogram.download(), want, 0.0);
    CHECK(maximum.download()[0] == max);
  });
}

TEST_CASE("simt: every other atomic overload: unsigned long long add, sub, min, max, exch, CAS") {
  for_each_schedule([](simt::Schedule) {
    const int n = 9 * 64 - 3;
    using u64 = unsigned long long;
    DeviceBuffer<u64> big_sum(std::vector<u64>{0}), big_cas(std::vector<u64>{5});
    DeviceBuffer<int> down(std::vector<int>{0}), lowest(std::vector<int>{1000}), slot(std::vector<int>{0});
    DeviceBuffer<int> cas(std::vector<int>{-10}), slot_seen(3 * n), cas_refused(std::vector<int>{0, 1});
    DeviceBuffer<unsigned> udown(std::vector<unsigned>{10u * n}), ulowest(std::vector<unsigned>{0xffffffffu});
    DeviceBuffer<unsigned> uhighest(std::vector<unsigned>{0}), uslot(std::vector<unsigned>{0});
    DeviceBuffer<unsigned> ucas(std::vector<unsigned>{4});
    DeviceBuffer<float> fslot(std::vector<float>{0.0f});
    const AtomicTargets t{big_sum.data(), down.data(),      udown.data(), lowest.data(),  ulowest.data(),
                          uhighest.data(), slot.data(),     uslot.data(), fslot.data(),   slot_seen.data(),
                          cas.data(),      ucas.data(),     big_cas.data(), cas_refused.data()};
    simt::launch(atomic_variants, 9, 64, 0, nullptr, t, n);

    unsigned long long want_big = 0;
    int want_lowest = 1000;
    unsigned want_ulowest = 0xffffffffu, want_uhighest = 0;
    for (int i = 0; i < n; ++i) {
      want_big += (1ull << 33) + unsigned(i);
      want_lowest = std::min(want_lowest, atomic_min_value(i));
      want_ulowest = std::min(want_ulowest, atomic_unsigned_value(i));
      want_uhighest = std::max(want_uhighest, atomic_unsigned_value(i));
    }
    CHECK(big_sum.download()[0] == want_big);
    CHECK(down.download()[0] == -3 * n);
    CHECK(udown.download()[0] == 3u * n);
    CHECK(lowest.download()[0] == want_lowest);
    CHECK(ulowest.download()[0] == want_ulowest);
    CHECK(uhighest.download()[0] == want_uhighest);
    // Each exchange returned what the one before it wrote: with the last value left in the slot,
    // the returned values are 0 (the start) and 1..n, each once.
    const std::vector<int> seen = slot_seen.download();
    const int last[3] = {slot.download()[0], int(uslot.download()[0]), int(fslot.download()[0])};
    for (int k = 0; k < 3; ++k) {
      CAPTURE(k);
      std::vector<int> values(seen.begin() + k * n, seen.begin() + (k + 1) * n);
      values.push_back(last[k]);
      std::sort(values.begin(), values.end());
      std::vector<int> want(n + 1);
      std::iota(want.begin(), want.end(), 0);
      CHECK(values == want);
    }
    CHECK(cas.download()[0] == -10 + 2 * n);
    CHECK(ucas.download()[0] == 4u + 3u * n);
    CHECK(big_cas.download()[0] == 5ull + (1ull << 32) * n);
    CHECK(cas_refused.download() == std::vector<int>{1, 1});
  });
}

TEST_CASE("simt: min and max of each integer and floating type") {
  DeviceBuffer<double> out(min_max_outputs);
  simt::launch(min_max_of_each_type, 1, 32, 0, nullptr, out.data());
  const std::vector<double> want = {
      double(std::min(-3, 2)),           double(std::max(-3, 2)),
      double(std::min(3u, 0x80000000u)), double(std::max(3u, 0x80000000u)),
      double(std::min(-(1L << 40), 5L)), double(std::max(-(1L << 40), 5L)),
      double(std::min(7ul, 1ul << 63)),  double(std::max(7ul, 1ul << 63)),
      double(std::min(-(1LL << 50), -(1LL << 49))), double(std::max(-(1LL << 50), -(1LL << 49))),
      double(std::min(9ull, 1ull << 63)), double(std::max(9ull, 1ull << 63)),
      double(std::min(-0.5f, 0.25f)),    double(std::max(-0.5f, 0.25f)),
      std::min(1e300, -1e-300),          std::max(1e300, -1e-300)};
  check_close(out.download(), want, 0.0);
}

TEST_CASE("simt: __syncwarp orders a warp's shared-memory writes before its reads") {
  const int blocks = 4, n = blocks * pair_block;
  std::vector<int> x(n), want(n);
  for (int i = 0; i < n; ++i) x[i] = 1000 + 7 * i;
  for (int i = 0; i < n; ++i) want[i] = x[i ^ 1];
  DeviceBuffer<int> dx(x);
  for_each_schedule([&](simt::Schedule) {
    DeviceBuffer<int> y(n);
    simt::launch(swap_pairs, blocks, pair_block, 0, nullptr, dx.data(), y.data());
    check_close(y.download(), want, 0.0);
    if (!simt::emulated) return;  // on a GPU the race may or may not show
    simt::launch(swap_pairs_racy, blocks, pair_block, 0, nullptr, dx.data(), y.data());
    const std::vector<int> got = y.download();
    std::size_t differ = 0;
    for (int i = 0; i < n; ++i) differ += got[i] != want[i];
    CHECK(differ > 0);  // in every order one lane of each pair reads before its partner writes
  });
}

TEST_CASE("simt: warp shuffles and votes match the host model") {
  for_each_schedule([](simt::Schedule) {
    const int blocks = 3, block = 64, n = blocks * block;
    DeviceBuffer<int> out(n * shuffle_outputs);
    DeviceBuffer<double> dout(n);
    simt::launch(shuffles, blocks, block, 0, nullptr, out.data(), dout.data());
    std::vector<int> want(n * shuffle_outputs);
    std::vector<double> dwant(n);
    for (int id = 0; id < n; ++id) {
      int* w = &want[id * shuffle_outputs];
      w[0] = host_down(id, 1);
      w[1] = host_down(id, 5);
      w[2] = host_down(id, 16);
      w[3] = host_down(id, 3, 8);
      w[4] = host_up(id, 3);
      w[5] = host_up(id, 3, 16);
      w[6] = host_xor(id, 1);
      w[7] = host_xor(id, 7);
      w[8] = host_xor(id, 16, 8);
      w[9] = host_idx(id, 5);
      w[10] = host_idx(id, 11, 8);
      unsigned ballot = 0;
      bool any = false, all = true;
      for (int l = 0; l < 32; ++l) {
        const int other = warp_base(id) + l;
        if (shuffle_value(other) % 3 == 0) ballot |= 1u << l;
        any = any || other % 64 == 63;
        all = all && shuffle_value(other) % 2 == 1;
      }
      w[11] = static_cast<int>(ballot);
      w[12] = any * 10 + all;
      w[13] = lane_of(id) < 16 ? host_xor(id, 2) : host_down(id, 4, 16);
      dwant[id] = 0.5 * (id ^ 1);
    }
    check_close(out.download(), want, 0.0);
    check_close(dout.download(), dwant, 0.0);
  });
}

TEST_CASE("simt: __syncthreads_count, _and, _or") {
  for_each_schedule([](simt::Schedule) {
    const int blocks = 3, block = 96;
    std::vector<int> x(blocks * block, 0);
    for (int t = 0; t < block; t += 5) x[t] = 1;  // block 0: some
    for (int t = 0; t < block; ++t) x[block + t] = 1;  // block 1: all; block 2: none
    DeviceBuffer<int> dx(x), out(blocks * 3);
    simt::launch(barrier_votes, blocks, block, 0, nullptr, dx.data(), out.data());
    check_close(out.download(), std::vector<int>{(block + 4) / 5, 0, 1, block, 1, 1, 0, 0, 0}, 0.0);
  });
}

TEST_CASE("simt: mma_m16n8k8_tf32 computes D = A B + C with the documented fragment layout") {
  // Values with few significant bits (k / 16 for small integers k), so that TF32 holds them
  // exactly and every sum is exact: the product must match the host's to the bit.
  const int blocks = 2, block = 64, problems = blocks * block / 32;
  std::vector<float> a(problems * 128), b(problems * 64), c(problems * 128);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small(-40, 40);
  for (float& v : a) v = small(rng) / 16.0f;
  for (float& v : b) v = small(rng) / 16.0f;
  for (float& v : c) v = small(rng) / 4.0f;
  std::vector<double> want(problems * 128);
  for (int p = 0; p < problems; ++p)
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 8; ++j) {
        double sum = c[p * 128 + i * 8 + j];
        for (int k = 0; k < 8; ++k) sum += double(a[p * 128 + i * 8 + k]) * b[p * 64 + k * 8 + j];
        want[p * 128 + i * 8 + j] = sum;
      }
  for_each_schedule([&](simt::Schedule) {
    DeviceBuffer<float> da(a), db(b), dc(c), dd(problems * 128);
    simt::launch(mma_tiles, blocks, block, 0, nullptr, da.data(), db.data(), dc.data(), dd.data());
    check_close(dd.download(), want, 0.0);
  });
}

TEST_CASE("simt: cp.async copies land at the wait; the emulation shows a read that comes before it") {
  const int blocks = 3, n = blocks * async_floats;
  const std::vector<float> x = ednn::test::random_floats(n, 11);
  std::vector<float> want(n);
  for (int i = 0; i < n; ++i) want[i] = x[i / async_floats * async_floats + async_floats - 1 - i % async_floats];
  DeviceBuffer<float> dx(x);
  for_each_schedule([&](simt::Schedule) {
    DeviceBuffer<float> y(n);
    simt::launch(reverse_through_async_copies, blocks, async_floats / 4, 0, nullptr, dx.data(), y.data(), 1);
    check_close(y.download(), want, 0.0);
  });
  if (!simt::emulated) return;  // without the wait a GPU reads whatever is there: nothing to test
  DeviceBuffer<float> y(n);
  simt::launch(reverse_through_async_copies, blocks, async_floats / 4, 0, nullptr, dx.data(), y.data(), 0);
  const std::vector<float> got = y.download();
  CHECK(std::all_of(got.begin(), got.end(), [](float v) { return std::isnan(v); }));

  const auto child = run_in_child([&] { simt::launch(misaligned_async_copy, 1, 1, 0, nullptr, dx.data()); });
  INFO(child.err);
  CHECK(child.aborted);
  CHECK(child.err.find("simt::copy_async_16 in thread (0,0,0) of block (0,0,0)") != std::string::npos);
  CHECK(child.err.find("must be 16-byte aligned") != std::string::npos);
  CHECK(child.err.find("simt_test.cu") != std::string::npos);
}
