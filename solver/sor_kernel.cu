// Red-black SOR on the GPU, batched: the kernels behind solver/sor_cuda.h.
//
// Per free pixel p (a = D / (4D + gamma), rhs = gamma x / (4D + gamma) in the production model):
//     gs_p = a * (left + right + up + down) + rhs_p,   u_p <- u_p + w_p (gs_p - u_p),
// w_p = omega on free pixels and 0 on clamped sources; converged when
//     max_p |u_p - gs_p| <= tol * max_p u_p        (SPEC section 3, divided by 4D + gamma).
//
// Data: the red-black layout of solver/red_black_layout.h, per sample b and colour c at offset
// (2 b + c) * colour_size of the u and rhs workspaces (float) and of the free mask (one byte a
// cell: 1 where the pixel relaxes, w_p = omega; 0 on clamped sources). The sweeps stream these
// arrays from memory every time, so their size is the solver's speed: with a byte mask instead of
// a float array of w_p a sweep moves at least 9 bytes a pixel instead of 12. The production model
// clamps nothing and has no mask.
//   sor_pack    one thread per workspace cell: input image [B, L, L] -> u, mask, rhs (ghost
//               cells written as zero).
//   sor_sweep   one block per sample; the threads of a block cover whole rows of a colour,
//               consecutive threads on consecutive pixels of a row (coalesced), a barrier
//               between the colours, and loops over sweeps until the sample converges: one
//               launch for the whole solve. Block-wide maxima use atomicMax on the bits of
//               non-negative floats, whose integer order is their order.
//   sor_unpack  one thread per pixel: u -> target image (divided by max u in the production
//               model).
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/simt.h"
#include "solver/red_black_layout.h"
#include "solver/sor_cuda.h"

namespace ednn::solver {
namespace {

constexpr int kSweepBlock = 1024;
constexpr int kElementBlock = 256;

__device__ __forceinline__ unsigned nonnegative_float_bits(float v) {
  unsigned bits;
  memcpy(&bits, &v, sizeof bits);
  return bits;
}
__device__ __forceinline__ float float_from_bits(unsigned bits) {
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

// Block-wide maxima of two non-negative values; every thread gets both. Contains barriers: every
// thread of the block must call it.
__device__ __forceinline__ void block_max2(float& a, float& b) {
  __shared__ unsigned maxima[2];
  if (threadIdx.x == 0) maxima[0] = maxima[1] = 0u;
  __syncthreads();
  atomicMax(&maxima[0], nonnegative_float_bits(a));
  atomicMax(&maxima[1], nonnegative_float_bits(b));
  __syncthreads();
  a = float_from_bits(maxima[0]);
  b = float_from_bits(maxima[1]);
  __syncthreads();  // the next call's reset must not overtake these reads
}

__global__ void sor_pack(const float* __restrict__ inputs, int batch, RedBlackLayout layout, float source_scale,
                         int production, float* __restrict__ u, unsigned char* __restrict__ free_mask,
                         float* __restrict__ rhs) {
  const std::size_t colour_size = layout.colour_size();
  const std::size_t total = static_cast<std::size_t>(batch) * 2 * colour_size;
  const int L = layout.L;
  for (std::size_t cell = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; cell < total;
       cell += static_cast<std::size_t>(blockDim.x) * gridDim.x) {
    const std::size_t plane = cell / colour_size, offset = cell % colour_size;
    const int b = static_cast<int>(plane / 2), c = static_cast<int>(plane % 2);
    const int i = static_cast<int>(offset / layout.stride) - 1, k = static_cast<int>(offset % layout.stride) - 1;
    float value = 0.0f, source = 0.0f;
    bool relaxes = false;
    if (i >= 0 && i < L && k >= 0 && k < layout.count(i, c)) {
      const int j = 2 * k + layout.parity(i, c);
      const float x = inputs[(static_cast<std::size_t>(b) * L + i) * L + j];
      if (production) {
        source = source_scale * x;
      } else if (x > 0.0f) {
        value = x;  // clamped source pixel
      } else {
        relaxes = true;
      }
    }
    u[cell] = value;
    if (production) rhs[cell] = source;
    else free_mask[cell] = relaxes ? 1 : 0;
  }
}

// Which cells of a colour thread threadIdx.x owns: rows first_row, first_row + row_step, ... and in
// each the half-indices first_k, first_k + k_step, ... A row of a colour has at most half_width()
// pixels; rounded up to whole warps, that many threads share a row and the block covers
// blockDim / that rows at a time (or, for rows wider than the block, one row in several passes).
// Decided once per launch: the sweep loops then only add, where dividing each cell's index by the
// row width cost an integer division per cell.
struct CellWalk {
  int first_row, row_step, first_k, k_step;
  __device__ explicit CellWalk(const RedBlackLayout& layout) {
    const int lanes_per_row = min((layout.half_width() + 31) / 32 * 32, static_cast<int>(blockDim.x));
    row_step = blockDim.x / lanes_per_row;
    first_row = threadIdx.x / lanes_per_row;
    first_k = threadIdx.x % lanes_per_row;
    k_step = lanes_per_row;
    if (first_row >= row_step) first_row = layout.L;  // threads past the last whole row: idle
  }
};

// max |u - gs| over the free pixels of colour c that this thread owns (walk), and max u; relaxes
// them first when `relax_pixels`. free_c == nullptr: every pixel relaxes (the production model).
__device__ __forceinline__ void colour_pass(float* __restrict__ u_c, const float* __restrict__ u_other,
                                            const unsigned char* __restrict__ free_c,
                                            const float* __restrict__ rhs_c, const RedBlackLayout& layout,
                                            const CellWalk& walk, int c, float neighbour, float omega,
                                            bool relax_pixels, float& residual, float& field) {
  for (int i = walk.first_row; i < layout.L; i += walk.row_step) {
    const int row = static_cast<int>(layout.row(i)), up = static_cast<int>(layout.row(i - 1)),
              down = static_cast<int>(layout.row(i + 1));
    const int left0 = row + layout.parity(i, c) - 1, count = layout.count(i, c);
    for (int k = walk.first_k; k < count; k += walk.k_step) {
      const int at = row + k, left = left0 + k;
      float gs = neighbour * (u_other[left] + u_other[left + 1] + u_other[up + k] + u_other[down + k]);
      if (rhs_c) gs += rhs_c[at];
      const bool relaxes = !free_c || free_c[at];
      float value = u_c[at];
      if (relax_pixels && relaxes) {
        value += omega * (gs - value);
        u_c[at] = value;
      }
      if (relaxes) residual = fmaxf(residual, fabsf(value - gs));
      field = fmaxf(field, value);
    }
  }
}

__global__ void __launch_bounds__(kSweepBlock)
    sor_sweep(float* __restrict__ u, const unsigned char* __restrict__ free_mask, const float* __restrict__ rhs,
              RedBlackLayout layout, float neighbour, float omega, float tol, int max_sweeps, int* __restrict__ sweeps,
              float* __restrict__ residual_out, float* __restrict__ field_max) {
  const std::size_t colour_size = layout.colour_size();
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * 2 * colour_size;
  float* red = u + base;
  float* black = red + colour_size;
  const unsigned char* free_red = free_mask ? free_mask + base : nullptr;
  const unsigned char* free_black = free_mask ? free_red + colour_size : nullptr;
  const float* rhs_red = rhs ? rhs + base : nullptr;
  const float* rhs_black = rhs ? rhs_red + colour_size : nullptr;
  const CellWalk walk(layout);

  int sweep = 1;
  float residual = 0.0f, field = 0.0f;
  bool converged = false;
  for (; sweep <= max_sweeps; ++sweep) {
    float unused_residual = 0.0f, unused_field = 0.0f;
    colour_pass(red, black, free_red, rhs_red, layout, walk, 0, neighbour, omega, true, unused_residual,
                unused_field);
    __syncthreads();
    residual = 0.0f;
    field = 0.0f;
    colour_pass(black, red, free_black, rhs_black, layout, walk, 1, neighbour, omega, true, residual, field);
    __syncthreads();
    block_max2(residual, field);
    if (residual > tol * field) continue;
    residual = 0.0f;
    field = 0.0f;
    colour_pass(red, black, free_red, rhs_red, layout, walk, 0, neighbour, omega, false, residual, field);
    colour_pass(black, red, free_black, rhs_black, layout, walk, 1, neighbour, omega, false, residual, field);
    block_max2(residual, field);
    if (residual <= tol * field) {
      converged = true;
      break;
    }
  }
  if (threadIdx.x == 0) {
    sweeps[blockIdx.x] = converged ? sweep : -max_sweeps;
    residual_out[blockIdx.x] = field > 0.0f ? residual / field : (residual > 0.0f ? 1e30f : 0.0f);
    field_max[blockIdx.x] = field;
  }
}

__global__ void sor_unpack(const float* __restrict__ u, const float* __restrict__ field_max, int batch,
                           RedBlackLayout layout, int production, float* __restrict__ targets) {
  const int L = layout.L;
  const std::size_t total = static_cast<std::size_t>(batch) * L * L;
  for (std::size_t p = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < total;
       p += static_cast<std::size_t>(blockDim.x) * gridDim.x) {
    const int b = static_cast<int>(p / (static_cast<std::size_t>(L) * L));
    const int i = static_cast<int>(p / L % L), j = static_cast<int>(p % L);
    const int c = layout.colour_of(i, j);
    const float value = u[(2 * static_cast<std::size_t>(b) + c) * layout.colour_size() + layout.at(i, j)];
    targets[p] = production ? (field_max[b] > 0.0f ? value / field_max[b] : 0.0f) : value;
  }
}

unsigned element_grid(std::size_t n) {
  const std::size_t blocks = (n + kElementBlock - 1) / kElementBlock;
  return static_cast<unsigned>(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

}  // namespace

void solve_batch_device(const SolverConfig& config, int batch, const float* inputs, float* targets,
                        std::span<SolveStats> stats, simt::Stream stream) {
  validate(config);
  EDNN_CHECK(batch >= 0 && stats.size() == static_cast<std::size_t>(batch), "solve_batch_device: ", batch,
             " samples but ", stats.size(), " stats");
  if (batch == 0) return;
  const RedBlackLayout layout(config.L);
  const bool production = config.model == SourceModel::production;
  const std::size_t cells = static_cast<std::size_t>(batch) * 2 * layout.colour_size();
  simt::DeviceBuffer<float> u(cells), rhs(production ? cells : 0);
  simt::DeviceBuffer<unsigned char> free_mask(production ? 0 : cells);
  simt::DeviceBuffer<int> sweeps(static_cast<std::size_t>(batch));
  simt::DeviceBuffer<float> residual(static_cast<std::size_t>(batch)), field_max(static_cast<std::size_t>(batch));

  const float omega = static_cast<float>(effective_omega(config));
  const float source_scale = static_cast<float>(config.gamma / (4.0 * config.D + config.gamma));
  const float neighbour = static_cast<float>(config.D / (4.0 * config.D + config.gamma));
  simt::launch(sor_pack, element_grid(cells), dim3(kElementBlock), 0, stream, inputs, batch, layout,
               source_scale, production ? 1 : 0, u.data(), production ? nullptr : free_mask.data(),
               production ? rhs.data() : nullptr);
  simt::launch(sor_sweep, static_cast<unsigned>(batch), dim3(kSweepBlock), 0, stream, u.data(),
               production ? nullptr : free_mask.data(), production ? rhs.data() : nullptr, layout, neighbour, omega,
               static_cast<float>(config.tol), config.max_sweeps, sweeps.data(), residual.data(), field_max.data());
  const std::size_t pixels = static_cast<std::size_t>(batch) * config.L * config.L;
  simt::launch(sor_unpack, element_grid(pixels), dim3(kElementBlock), 0, stream, u.data(),
               field_max.data(), batch, layout, production ? 1 : 0, targets);

  simt::synchronize(stream);
  const std::vector<int> host_sweeps = sweeps.download();
  const std::vector<float> host_residual = residual.download();
  for (int b = 0; b < batch; ++b) {
    EDNN_CHECK(host_sweeps[b] > 0, "sor (device): sample ", b, " of ", batch, ": no convergence after ",
               config.max_sweeps, " sweeps at L = ", config.L, ": relative residual ", host_residual[b], " > tol ",
               config.tol);
    stats[static_cast<std::size_t>(b)] = {host_sweeps[b], host_residual[b]};
  }
}

}  // namespace ednn::solver
