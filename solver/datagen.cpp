// run_datagen: the steps, and the protocol between the ranks of a job, are listed in
// solver/datagen.h.
#include "solver/datagen.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <system_error>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/share.h"

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

// Steps 1 and 2: the partial file this run continues or creates, or none when options.out is
// already this very data set, finished (then `summary` says so).
std::optional<DatasetWriter> open_output(const DatagenOptions& options, const DatasetInfo& requested,
                                         DatagenSummary& summary,
                                         const std::function<void(const std::string&)>& on_warning) {
  const std::string partial = partial_path(options.out);
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
    return std::nullopt;
  }

  // 2. Continue a partial file of the same parameters, or start one.
  std::optional<DatasetWriter> writer;
  if (fs::exists(partial)) {
    try {
      writer.emplace(DatasetWriter::open(partial));
    } catch (const InconsistentFile& e) {
      // Not an interrupted write (those fail to open or lack a data set): the file was edited or
      // converted by hand. Neither continue it nor delete it.
      fail("datagen: ", partial, " contradicts its own description (", e.what(),
           "); refusing to continue or delete it: move it away, or choose another --out");
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
  return writer;
}

// ---- Several ranks: what travels between them -------------------------------------------------

// Rank 0's outcome of steps 1 and 2, broadcast before anyone solves (protocol step b).
struct StartMessage {
  enum : std::int32_t { go, already_finished, failed };
  std::int32_t state = go;
  std::int32_t batch = 0;           // samples per write
  std::int64_t completed = 0;       // the first sample to generate
  std::int64_t message_bytes = 0;   // the error's text, broadcast next when failed
};

// Rank 0 receives every rank's block of one field of a batch. Each field of a SampleBatch is
// stored sample after sample, so the blocks concatenated in rank order are the whole batch's field
// in index order. `received` is reused from batch to batch (fresh pages are slow to fault in).
template <class T>
void gather_field(DatagenCollectives& comm, const std::vector<T>& mine, std::vector<T>& whole,
                  std::vector<unsigned char>& received) {
  static_assert(std::is_trivially_copyable_v<T>);
  comm.gather(mine.data(), mine.size() * sizeof(T), received, 0);
  if (!comm.is_root()) return;
  EDNN_CHECK(received.size() % sizeof(T) == 0, "datagen: gathered ", received.size(), " bytes, not a whole number of ",
             sizeof(T), "-byte values");
  whole.resize(received.size() / sizeof(T));
  std::memcpy(whole.data(), received.data(), received.size());
}

}  // namespace

DatagenSummary run_datagen(const DatagenOptions& options,
                           const std::function<void(const DatagenProgress&)>& on_progress,
                           const std::function<void(const std::string&)>& on_warning) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  // comm: the other ranks of the job, or null when this process works alone.
  DatagenCollectives* comm = options.comm && options.comm->size() > 1 ? options.comm : nullptr;
  const int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;
  const bool root = rank == 0;
  EDNN_CHECK(!options.out.empty(), "datagen: no output file given (--out FILE.h5)");
  std::unique_ptr<solver::BatchSolver> cpu_solver;
  solver::BatchSolver* batch_solver = options.batch_solver;
  if (!batch_solver) batch_solver = (cpu_solver = solver::make_cpu_batch_solver()).get();
  const std::string partial = partial_path(options.out);
  DatagenSummary summary;

  // Steps 1 and 2 on rank 0 (protocol steps a and b with several ranks).
  std::string devices;  // every rank's device, rank 0 first
  if (comm) {
    std::vector<unsigned char> all;
    const std::string mine = batch_solver->device() + ";";
    comm->gather(mine.data(), mine.size(), all, 0);
    devices.assign(all.begin(), all.end());
  }
  StartMessage start;
  std::optional<DatasetWriter> writer;
  std::exception_ptr root_error;
  std::string root_message;
  if (root) {
    try {
      if (comm) {
        const std::string own = batch_solver->device() + ";";
        std::string mixed;
        for (std::size_t at = 0, r = 0; at < devices.size(); ++r) {
          const std::size_t end = devices.find(';', at);
          if (devices.compare(at, end - at + 1, own) != 0)
            mixed += detail::concat(mixed.empty() ? "" : ", ", "rank ", r, " on ", devices.substr(at, end - at));
          at = end + 1;
        }
        EDNN_CHECK(mixed.empty(), "datagen: the ranks solve on different devices (rank 0 on ", batch_solver->device(),
                   ", ", mixed, "); one file never mixes cpu and cuda targets: give every rank the same --device");
      }
      const DatasetInfo requested = make_dataset_info(options.solver, options.seed, options.per_n,
                                                      options.test_fraction, options.compress, batch_solver->device(),
                                                      options.validation_fraction);
      writer = open_output(options, requested, summary, on_warning);
      if (!writer) {
        start.state = StartMessage::already_finished;
      } else {
        start.completed = writer->info().completed;
        const int L = requested.solver.L;
        const std::int64_t image_bytes = std::int64_t{L} * L * static_cast<std::int64_t>(sizeof(float));
        std::int64_t batch = options.batch;
        if (batch <= 0) {  // each rank about what one process would solve; images at most 512 MB a batch
          batch = std::int64_t{batch_solver->default_batch(L)} * ranks;
          if (comm) batch = std::max<std::int64_t>(1, std::min(batch, (std::int64_t{256} << 20) / image_bytes));
        }
        // MPI counts bytes in int: rank 0 receives a batch's inputs in one gather.
        EDNN_CHECK(!comm || batch * image_bytes <= INT_MAX, "datagen: a batch of ", batch, " samples at L = ", L,
                   " has ", batch * image_bytes, " bytes of input images, more than one gather to rank 0 carries "
                   "(2^31 - 1); use --batch ", INT_MAX / image_bytes, " or less");
        start.batch = static_cast<std::int32_t>(std::min<std::int64_t>(batch, INT_MAX));
      }
    } catch (const std::exception& e) {
      if (!comm) throw;
      start.state = StartMessage::failed;
      root_error = std::current_exception();
      root_message = e.what();
      start.message_bytes = static_cast<std::int64_t>(root_message.size());
    }
  }
  if (comm) {
    comm->broadcast(&start, sizeof start, 0);
    if (start.state == StartMessage::failed) {
      root_message.resize(static_cast<std::size_t>(start.message_bytes));
      comm->broadcast(root_message.data(), root_message.size(), 0);
      if (root) std::rethrow_exception(root_error);
      throw RootFailed("datagen: rank 0 could not start: " + root_message);
    }
  }
  if (start.state == StartMessage::already_finished) {
    if (!root) {
      summary.path = options.out;
      summary.device = batch_solver->device();
      summary.finished = summary.was_already_finished = true;
    }
    summary.seconds = elapsed();
    return summary;
  }

  // 3. Generate batch by batch; `completed` is recorded only once a batch is on disk. Rank 0
  // decides every batch (and when to stop) and tells the others (protocol step c).
  const DatasetInfo info = root ? writer->info()
                                : make_dataset_info(options.solver, options.seed, options.per_n,
                                                    options.test_fraction, options.compress, batch_solver->device(),
                                                      options.validation_fraction);
  const std::int64_t total = info.size();
  summary.resumed_from = start.completed;
  std::int64_t next = start.completed;
  solver::SampleBatch whole;              // with several ranks: rank 0's gathered batch
  whole.L = info.solver.L;
  whole.max_sources = info.solver.max_sources;
  std::vector<unsigned char> received;
  while (true) {
    std::int64_t plan[2] = {next, 0};  // the batch [plan[0], plan[0] + plan[1]); count 0: stop
    if (root) {
      const bool stop = (options.stop_requested && options.stop_requested->load()) ||
                        (options.stop_after >= 0 && summary.generated >= options.stop_after);
      if (!stop) plan[1] = std::min<std::int64_t>(start.batch, total - next);
      if (options.stop_after >= 0) plan[1] = std::min(plan[1], options.stop_after - summary.generated);
    }
    if (comm) comm->broadcast(plan, sizeof plan, 0);
    const std::int64_t first = plan[0], count = plan[1];
    if (count <= 0) break;

    const Share mine = share_of(count, rank, ranks);  // [first, first + count) when alone
    std::vector<solver::SampleRequest> requests(static_cast<std::size_t>(mine.end - mine.first));
    for (std::int64_t b = mine.first; b < mine.end; ++b)
      requests[static_cast<std::size_t>(b - mine.first)] = {static_cast<std::uint64_t>(first + b),
                                                            slot_of(info, first + b).n_sources};
    solver::SampleBatch batch = solver::render_samples(info.solver, info.seed, requests);
    if (!requests.empty()) {
      try {
        batch_solver->solve(info.solver, batch);
      } catch (const Error& e) {
        fail("datagen: samples [", first + mine.first, ", ", first + mine.end, ") on ", info.device, ": ", e.what());
      }
    }
    if (comm) {  // rank 0 receives every rank's samples, in rank order, which is index order
      gather_field(*comm, batch.inputs, whole.inputs, received);
      gather_field(*comm, batch.targets, whole.targets, received);
      gather_field(*comm, batch.n_sources, whole.n_sources, received);
      gather_field(*comm, batch.sources, whole.sources, received);
      gather_field(*comm, batch.stats, whole.stats, received);
      if (root)
        EDNN_CHECK(whole.size() == count, "datagen: gathered ", whole.size(), " samples from the ranks, expected ",
                   count);
    }
    next = first + count;
    summary.generated += count;
    if (root) {
      writer->write(first, comm ? whole : batch);
      writer->mark_completed(next);
      if (on_progress) on_progress({next, total, summary.generated, elapsed()});
    }
  }

  summary.device = info.device;
  summary.finished = next == total;
  summary.path = summary.finished ? options.out : partial;
  if (!root) {
    summary.samples = next;
    summary.seconds = elapsed();
    return summary;
  }
  summarise(summary, writer->read_stats(next));
  if (summary.finished && !options.provenance.empty()) writer->write_provenance(options.provenance);
  writer->close();
  // 4. Only a finished file gets the final name (rename is atomic within a file system).
  if (summary.finished) {
    std::error_code ec;
    fs::rename(partial, options.out, ec);
    EDNN_CHECK(!ec, "datagen: cannot rename ", partial, " to ", options.out, ": ", ec.message());
  }
  summary.seconds = elapsed();
  return summary;
}

}  // namespace ednn::dataset
