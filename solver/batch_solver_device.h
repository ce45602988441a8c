// The CUDA BatchSolver (solver/batch_solver.h): each batch solved by the CUDA SOR kernel
// (solver/sor_cuda.h), for datagen --device cuda and train --online --device cuda. Plain C++,
// compiled into two libraries:
//   ednn_solver_device_cuda  linked with ednn_solver_kernels_cuda: the kernel runs on the GPU
//                            (what apps/datagen and apps/train link in CUDA builds);
//   ednn_solver_device_emu   linked with ednn_solver_kernels_emu: the same code path with the
//                            kernel run on the CPU by kernels/simt.h (tests without a GPU).
// Both report device() = "cuda": the float kernel's result.
//
// One batch: inputs rendered on the host are uploaded (one explicit copy), solved in one batched
// solve_batch_device call (one block per sample), and the targets downloaded (one explicit copy).
// The host then recomputes every sample's relative residual in double (solver::relative_residual)
// and refuses the batch when one exceeds host_residual_limit(tol), so a wrong GPU sample is never
// stored; that host residual, the residual of the stored float field, is what the file records.
#pragma once
#include <memory>

#include "kernels/simt_host.h"
#include "solver/batch_solver.h"

namespace ednn::solver {

// The largest host residual a device sample may have: the kernel stops at tol on its float
// residual, and the stored float field alone carries a rounding residual of about 1e-7 (the CPU
// solver's double field does not); production targets are also renormalised. Same bound as the
// kernel's own test (tests/solver/test_sor_kernel.cpp).
inline double host_residual_limit(double tol) { return 2 * tol + 1e-6; }

// Throws ednn::Error naming what is missing when no device is usable (simt::device_available).
std::unique_ptr<BatchSolver> make_device_batch_solver(simt::Stream stream = nullptr);

}  // namespace ednn::solver
