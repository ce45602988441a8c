// run_datagen: the steps are listed in solver/datagen.h.
#include "solver/datagen.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <system_error>
#include <vector>

#include "engine/error.h"

namespace ednn::dataset {
namespace {

namespace fs = std::filesystem;

void summarise(DatagenSummary& summary, const std::vector<solver::SolveStats>& stats) {
  double sweeps = 0, worst = 0;
  for (const solver::SolveStats& s : stats) {
    sweeps += s.sweeps;
    worst = std::max(worst, s.residual);
  }
  summary.samples = static_cast<std::int64_t>(stats.size());
  summary.mean_sweeps = stats.empty() ? 0.0 : sweeps / static_cast<double>(stats.size());
  summary.worst_residual = worst;
}

}  // namespace

DatagenSummary run_datagen(const DatagenOptions& options,
                           const std::function<void(const DatagenProgress&)>& on_progress,
                           const std::function<void(const std::string&)>& on_warning) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  EDNN_CHECK(!options.out.empty(), "datagen: no output file given (--out FILE.h5)");
  std::unique_ptr<solver::BatchSolver> cpu_solver;
  solver::BatchSolver* batch_solver = options.batch_solver;
  if (!batch_solver) batch_solver = (cpu_solver = solver::make_cpu_batch_solver()).get();
  const DatasetInfo requested = make_dataset_info(options.solver, options.seed, options.per_n,
                                                  options.test_fraction, options.compress, batch_solver->device());
  const std::string partial = partial_path(options.out);
  DatagenSummary summary;

  // 1. An existing final file is either this very data set, finished, or left alone.
  if (fs::exists(options.out)) {
    std::optional<DatasetReader> existing;
    try {
      existing.emplace(options.out, true);
    } catch (const Error& e) {
      fail("datagen: ", options.out, " exists and is not a data set datagen can read (", e.what(),
           "); refusing to overwrite it");
    }
    // Finished is finished: whichever device solved it, nothing would be mixed.
    DatasetInfo same_device = requested;
    same_device.device = existing->info().device;
    std::string difference = parameter_difference(existing->info(), same_device);
    if (difference.empty() && !existing->info().finished())
      difference = "the file is unfinished under its final name";
    EDNN_CHECK(difference.empty(), "datagen: ", options.out, " exists and was made with other parameters (",
               difference, "); refusing to overwrite it: delete it or choose another --out");
    summary.path = options.out;
    summary.device = existing->info().device;
    summary.finished = summary.was_already_finished = true;
    summarise(summary, existing->read_stats(existing->size()));
    summary.seconds = elapsed();
    return summary;
  }

  // 2. Continue a partial file of the same parameters, or start one.
  std::optional<DatasetWriter> writer;
  if (fs::exists(partial)) {
    try {
      writer.emplace(DatasetWriter::open(partial));
    } catch (const Error& e) {
      if (on_warning)
        on_warning("datagen: " + partial + " cannot be read (" + e.what() +
                   "), probably interrupted while HDF5 metadata was written; starting it again");
      std::error_code ec;
      fs::remove(partial, ec);
      EDNN_CHECK(!ec, "datagen: cannot remove the unreadable ", partial, ": ", ec.message());
    }
    if (writer) {
      const DatasetInfo& file = writer->info();
      DatasetInfo same_device = requested;
      same_device.device = file.device;
      EDNN_CHECK(!parameter_difference(file, same_device).empty() || file.device == requested.device,
                 "datagen: ", partial, " was solved on ", file.device, " (file attribute device = \"", file.device,
                 "\") and this run solves on ", requested.device, "; the float CUDA and the double CPU solutions "
                 "are not bit-identical, so one file never mixes them: continue it with --device ", file.device,
                 ", or delete it or choose another --out");
      const std::string difference = parameter_difference(file, requested);
      EDNN_CHECK(difference.empty(), "datagen: ", partial, " is a partial data set made with other parameters (",
                 difference, "); delete it or choose another --out");
    }
  }
  if (!writer) {
    const fs::path dir = fs::absolute(fs::path(options.out)).parent_path();
    EDNN_CHECK(fs::is_directory(dir), "datagen: cannot write ", options.out, ": directory ", dir.string(),
               " does not exist");
    writer.emplace(DatasetWriter::create(partial, requested));
  }

  // 3. Generate batch by batch; `completed` is recorded only once a batch is on disk.
  const DatasetInfo& info = writer->info();
  const std::int64_t total = info.size();
  summary.resumed_from = info.completed;
  const int batch_size = options.batch > 0 ? options.batch : batch_solver->default_batch(info.solver.L);
  std::int64_t next = info.completed;
  while (next < total) {
    if (options.stop_requested && options.stop_requested->load()) break;
    if (options.stop_after >= 0 && summary.generated >= options.stop_after) break;
    std::int64_t count = std::min<std::int64_t>(batch_size, total - next);
    if (options.stop_after >= 0) count = std::min(count, options.stop_after - summary.generated);
    std::vector<solver::SampleRequest> requests(static_cast<size_t>(count));
    for (std::int64_t b = 0; b < count; ++b)
      requests[static_cast<size_t>(b)] = {static_cast<std::uint64_t>(next + b), slot_of(info, next + b).n_sources};
    solver::SampleBatch batch = solver::render_samples(info.solver, info.seed, requests);
    try {
      batch_solver->solve(info.solver, batch);
    } catch (const Error& e) {
      fail("datagen: samples [", next, ", ", next + count, ") on ", info.device, ": ", e.what());
    }
    writer->write(next, batch);
    next += count;
    writer->mark_completed(next);
    summary.generated += count;
    if (on_progress) on_progress({next, total, summary.generated, elapsed()});
  }

  summarise(summary, writer->read_stats(next));
  summary.device = info.device;
  writer->close();
  summary.finished = next == total;
  summary.path = partial;
  // 4. Only a finished file gets the final name (rename is atomic within a file system).
  if (summary.finished) {
    std::error_code ec;
    fs::rename(partial, options.out, ec);
    EDNN_CHECK(!ec, "datagen: cannot rename ", partial, " to ", options.out, ": ", ec.message());
    summary.path = options.out;
  }
  summary.seconds = elapsed();
  return summary;
}

}  // namespace ednn::dataset
