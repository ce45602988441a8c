// Red-black SOR on a CUDA device, batched (solver/sor_kernel.cu). Plain C++: callable from any
// .cpp linking ednn_solver_kernels_cuda (nvcc, a GPU) or ednn_solver_kernels_emu (the same kernel
// bodies run on the CPU by kernels/simt.h, for tests without a GPU).
//
// Same equations, layout and stopping rule as the CPU solver (solver/solver.h), in float: one
// block per sample relaxes red then black in place, as many sweeps as the sample needs, inside
// one launch (no launch per colour or per sweep); the black residual of every sweep comes from
// the black pass itself, and an exact read-only residual pass over both colours decides
// convergence. Targets agree with the CPU (double) solver to about the tolerance, not bitwise;
// inputs are rendered on the host, so they are the same bits on every device.
#pragma once
#include <span>

#include "kernels/simt_host.h"
#include "solver/solver.h"

namespace ednn::solver {

// inputs, targets: device arrays [batch, 1, L, L]. Copies the per-sample statistics to the host
// (an explicit, synchronising copy) into stats [batch]; throws ednn::Error naming the first
// sample that did not converge within config.max_sweeps.
void solve_batch_device(const SolverConfig& config, int batch, const float* inputs, float* targets,
                        std::span<SolveStats> stats, simt::Stream stream = nullptr);

}  // namespace ednn::solver
