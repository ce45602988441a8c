// datagen's device path (solver/batch_solver_device.h) end to end at a tiny size. Built twice:
// linked with ednn_solver_device_emu (test solver_datagen_device) the CUDA SOR kernel runs on the
// CPU through kernels/simt.h; linked with ednn_solver_device_cuda (solver_datagen_device_gpu, label
// gpu; skipped without a usable GPU) it runs on the GPU. Checks: the targets agree with the CPU
// solver's file, the inputs are the same bits, the `device` attribute, resume on the device gives
// the same file as an uninterrupted run, and a partial file is never continued by the other device;
// and generate_samples on the device (what train --online --device cuda draws) against the CPU.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/simt_host.h"
#include "solver/datagen.h"
#include "solver/batch_solver_device.h"
#include "solver/dataset_h5.h"
#include "tests/test_helpers.h"

using namespace ednn::dataset;
using ednn::solver::BatchSolver;
using ednn::solver::host_residual_limit;
using ednn::solver::make_cpu_batch_solver;
using ednn::solver::make_device_batch_solver;
namespace fs = std::filesystem;

namespace {

using ednn::test::TempDir;
std::string file_bytes(const std::string& path) { return ednn::test::read_bytes(path); }
std::string error_of(const DatagenOptions& o) { return ednn::test::error_message([&] { run_datagen(o); }); }


// L = 32, n = 1..3, 2 per n: 6 samples (the emulation runs every kernel thread as a fiber).
DatagenOptions tiny_options(const fs::path& out, BatchSolver* solver) {
  DatagenOptions o;
  o.out = out.string();
  o.solver.L = 32;
  o.solver.min_sources = 1;
  o.solver.max_sources = 3;
  o.per_n = 2;
  o.test_fraction = 0.5;
  o.seed = 77;
  o.batch_solver = solver;
  return o;
}


}  // namespace

TEST_CASE("solver_datagen_device: the device path writes the CPU solver's data, and resumes only on its device") {
  INFO(simt::device_description());
  TempDir dir;
  const std::unique_ptr<BatchSolver> device = make_device_batch_solver();
  const std::unique_ptr<BatchSolver> cpu = make_cpu_batch_solver();
  CHECK(device->device() == "cuda");
  CHECK(cpu->device() == "cpu");

  const DatagenOptions on_cpu = tiny_options(dir.path / "cpu.h5", cpu.get());
  const DatagenOptions on_device = tiny_options(dir.path / "device.h5", device.get());
  REQUIRE(run_datagen(on_cpu).finished);
  const DatagenSummary summary = run_datagen(on_device);
  REQUIRE(summary.finished);
  CHECK(summary.device == "cuda");
  CHECK(summary.samples == 6);

  SUBCASE("same inputs, targets within 1e-4 of the CPU solver, device recorded") {
    DatasetReader a(on_cpu.out), b(on_device.out);
    CHECK(a.info().device == "cpu");
    CHECK(b.info().device == "cuda");
    CHECK(parameter_difference(a.info(), b.info()) == "device: file has cpu, requested cuda");
    std::vector<float> input_a(32 * 32), input_b(32 * 32), target_a(32 * 32), target_b(32 * 32);
    for (std::int64_t i = 0; i < b.size(); ++i) {
      CAPTURE(i);
      a.read_input(i, input_a);
      b.read_input(i, input_b);
      CHECK(input_a == input_b);
      a.read_target(i, target_a);
      b.read_target(i, target_b);
      double worst = 0;
      for (size_t p = 0; p < target_a.size(); ++p)
        worst = std::max(worst, double(std::abs(target_a[p] - target_b[p])));
      CHECK(worst <= 1e-4);
      const ednn::solver::SolveStats stats = b.stats(i);
      CHECK(stats.sweeps > 0);
      CHECK(std::abs(stats.sweeps - a.stats(i).sweeps) <= 0.1 * a.stats(i).sweeps + 2);
      CHECK(stats.residual <= host_residual_limit(on_device.solver.tol));
      // The stored residual is the host's, of the stored field.
      CHECK(stats.residual == ednn::solver::relative_residual(b.info().solver, input_b, target_b));
    }
  }

  SUBCASE("resume on the device gives the same file; the other device is refused") {
    DatagenOptions part = tiny_options(dir.path / "resumed.h5", device.get());
    part.batch = 1;
    part.stop_after = 2;
    CHECK_FALSE(run_datagen(part).finished);
    // The CPU may not continue a partial file the device started.
    DatagenOptions other = part;
    other.batch_solver = cpu.get();
    other.stop_after = -1;
    const std::string refusal = error_of(other);
    CHECK(refusal.find("attribute device = \"cuda\"") != std::string::npos);
    CHECK(refusal.find("--device cuda") != std::string::npos);
    part.stop_after = -1;
    part.batch = 0;
    const DatagenSummary last = run_datagen(part);
    CHECK(last.finished);
    CHECK(last.resumed_from == 2);
    CHECK(file_bytes(part.out) == file_bytes(on_device.out));

    // Nor the device one the CPU started.
    DatagenOptions cpu_part = tiny_options(dir.path / "cpu_part.h5", cpu.get());
    cpu_part.batch = 1;
    cpu_part.stop_after = 1;
    run_datagen(cpu_part);
    cpu_part.batch_solver = device.get();
    cpu_part.stop_after = -1;
    CHECK(error_of(cpu_part).find("attribute device = \"cpu\"") != std::string::npos);

    // A finished file is accepted whatever device made it.
    DatagenOptions finished = on_cpu;
    finished.batch_solver = device.get();
    const DatagenSummary again = run_datagen(finished);
    CHECK(again.was_already_finished);
    CHECK(again.device == "cpu");
  }

  SUBCASE("non-convergence on the device is an error and stores nothing") {
    DatagenOptions capped = tiny_options(dir.path / "capped.h5", device.get());
    capped.solver.max_sweeps = 2;
    const std::string error = error_of(capped);
    CHECK(error.find("datagen: samples [0, 6) on cuda") != std::string::npos);
    CHECK(error.find("no convergence") != std::string::npos);
    DatasetReader partial(partial_path(capped.out), true);
    CHECK(partial.info().completed == 0);
  }
}

TEST_CASE("solver_datagen_device: generate_samples on the device matches the CPU's (the online samples)") {
  ednn::solver::SolverConfig c;
  c.L = 32;
  c.max_sources = 4;
  std::vector<ednn::solver::SampleRequest> requests;
  for (std::uint64_t i = 0; i < 3; ++i) requests.push_back({i, 1 + static_cast<int>(i)});
  const std::unique_ptr<BatchSolver> device = make_device_batch_solver();
  const ednn::solver::SampleBatch on_device = ednn::solver::generate_samples(c, 9, requests, *device);
  const ednn::solver::SampleBatch on_cpu = ednn::solver::generate_samples(c, 9, requests);
  CHECK(on_device.inputs == on_cpu.inputs);
  CHECK(on_device.n_sources == on_cpu.n_sources);
  REQUIRE(on_device.targets.size() == on_cpu.targets.size());
  double worst = 0;
  for (size_t p = 0; p < on_cpu.targets.size(); ++p)
    worst = std::max(worst, double(std::abs(on_device.targets[p] - on_cpu.targets[p])));
  CHECK(worst <= 1e-4);
  for (const ednn::solver::SolveStats& s : on_device.stats) CHECK(s.residual <= host_residual_limit(c.tol));
}
