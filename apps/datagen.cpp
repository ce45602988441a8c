// datagen: writes the paper's data sets (random sources and their steady states, SPEC sections
// 1-3) to HDF5, resumably. Layout and sample ordering: solver/dataset_h5.h; the steps of a run,
// resume included: solver/datagen.h.
//
//   datagen --out data/L128.h5 --L 128 --per-n 1000 --seed 1
//
// --device: cpu solves with the OpenMP CPU solver; cuda (cuda:N: card N) with the CUDA kernel (solver/sor_cuda.h,
// through solver/batch_solver_device.h), in builds with CUDA (EDNN_DATAGEN_CUDA) and only where a GPU
// is usable, an error otherwise; auto picks cuda when both hold, else cpu.
//
// Under mpirun or srun (--comm auto|mpi) the ranks share every batch and rank 0 writes the one
// file (solver/datagen.h; usage in docs/DISTRIBUTED_DATAGEN.md). Only rank 0 prints, except for
// errors: a bad command line is the same on every rank and reported once, by rank 0; any other
// error stops the whole job (Communicator::abort) with its rank named.
//
// The finished file's group `provenance` names this command, its version, commit, date, device,
// numerics and ranks (the run that finished it, when it was resumed).
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <omp.h>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/progress.h"
#include "engine/communicator.h"
#include "core/error.h"
#include "solver/datagen.h"
#ifdef EDNN_DATAGEN_CUDA
#include "engine/device.h"
#include "kernels/simt_host.h"
#include "solver/batch_solver_device.h"
#endif

namespace {

using ednn::dataset::DatagenOptions;
using ednn::dataset::DatagenProgress;
using ednn::dataset::DatagenSummary;
using ednn::io::UsageError;

constexpr const char* kAbout =
    "Generates per-n samples for every number of sources n in min..max: random disks of radius R (input image, "
    "max 1) and the steady state of D lap(u) - gamma u = 0 around them (target), solved by red-black SOR to a "
    "relative residual tol, and writes them to FILE.h5 (HDF5, see solver/dataset_h5.h for the layout and the "
    "ordering that makes the nested training subsets prefixes).\n\n"
    "  datagen --out data/L128.h5 --L 128 --per-n 1000 --seed 1\n"
    "  mpirun -np 4 datagen --out data.h5 ...   (see docs/DISTRIBUTED_DATAGEN.md)\n\n"
    "Writes FILE.h5.partial first; rerunning the same command after an interruption continues it, and gives the "
    "same file as an uninterrupted run. An existing FILE.h5 made with other parameters is never overwritten. "
    "Ctrl-C stops after the current batch (exit status 130); a second Ctrl-C stops at once.";

std::atomic<bool> g_stop_requested{false};

extern "C" void on_interrupt(int) {
  if (g_stop_requested.exchange(true)) std::_Exit(130);  // second Ctrl-C: stop now
}

// run_datagen's reports drawn as the programs' progress bar; the first one says where a resumed
// file stood and how long the first batch took.
class DatagenBar {
public:
  void operator()(const DatagenProgress& p) {
    if (!started_) bar_.start("datagen", p.total, "samples", p.done - p.done_this_run, p.seconds);
    started_ = true;
    bar_.update(p.done, "");
    if (p.done == p.total) bar_.finish("");
  }
  void stopped() {
    if (started_) bar_.finish("");
  }
  void print(const std::string& line) { bar_.print(stderr, line); }  // a warning, above the bar

private:
  ednn::io::ProgressBar bar_;
  bool started_ = false;
};

struct CommandLine {
  DatagenOptions options;
  std::string device = "auto", comm = "auto";
  std::vector<std::pair<std::string, std::string>> origin;  // io::provenance: version, commit, command, date
};

CommandLine parse_options(ednn::io::Cli& cli) {
  CommandLine line;
  DatagenOptions& o = line.options;
  o.solver = ednn::solver::SolverConfig{};
  if (!cli.has("out")) throw UsageError("--out FILE.h5 is required (see --help)");
  o.out = cli.get("out");
  o.solver.L = int(cli.integer("L"));
  o.per_n = int(cli.integer("per-n"));
  o.solver.min_sources = int(cli.integer("min-sources"));
  o.solver.max_sources = int(cli.integer("max-sources"));
  o.test_fraction = cli.number("test-fraction");
  o.validation_fraction = cli.number("validation-fraction");
  o.seed = cli.unsigned_integer("seed");
  o.solver.model = ednn::solver::parse_source_model(cli.get("model"));
  o.solver.tol = cli.number("tol");
  o.solver.D = cli.number("D");
  o.solver.gamma = cli.number("gamma");
  o.solver.radius = int(cli.integer("radius"));
  o.solver.omega = cli.number("omega");
  o.solver.max_sweeps = int(cli.integer("max-sweeps"));
  if (cli.has("threads")) omp_set_num_threads(int(cli.integer("threads")));
  o.batch = int(cli.integer("batch"));
  if (cli.has("stop-after")) o.stop_after = cli.integer("stop-after");
  o.compress = cli.has("compress");
  line.device = cli.get("device");
  if (line.device != "cpu" && line.device != "auto" && line.device != "cuda" && line.device.rfind("cuda:", 0) != 0)
    throw UsageError("--device: '" + line.device + "' is not cpu, cuda, cuda:N or auto");
  line.comm = cli.get("comm");
  // The solver's settings together (L against the radius, the source range, tol, omega): a bad
  // one is a bad command line.
  try {
    ednn::solver::validate(o.solver);
  } catch (const ednn::Error& e) {
    throw UsageError(e.what());
  }
  return line;
}

// The solver --device asks for: cpu, cuda or cuda:N (card N; an error saying why when it cannot
// run here), or auto. engine/device.h's parse_device reads it and makes card N current.
std::unique_ptr<ednn::solver::BatchSolver> make_batch_solver(const std::string& device) {
  if (device == "cpu") return ednn::solver::make_cpu_batch_solver();
#ifdef EDNN_DATAGEN_CUDA
  ednn::Device chosen = ednn::Device::cpu;
  try {
    chosen = ednn::parse_device(device);
  } catch (const ednn::Error& e) {
    ednn::fail("datagen: --device ", device, ": ", e.what(), "; use --device cpu (or auto)");
  }
  if (chosen == ednn::Device::cuda) return ednn::solver::make_device_batch_solver();
  return ednn::solver::make_cpu_batch_solver();
#else
  if (device == "auto") return ednn::solver::make_cpu_batch_solver();
  ednn::fail("datagen: --device ", device, ": this datagen was built without CUDA (configure with -DEDNN_CUDA=ON on a "
             "machine with nvcc); use --device cpu (or auto)");
#endif
}

// run_datagen's collectives (solver/datagen.h) made by the job's Communicator: solver/ is below
// the engine and declares only the calls it needs; this is where the two meet.
class CommunicatorCollectives final : public ednn::dataset::DatagenCollectives {
public:
  explicit CommunicatorCollectives(ednn::Communicator& comm) : comm_(comm) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void broadcast(void* bytes, std::size_t count, int root) override { comm_.broadcast(bytes, count, root); }
  void gather(const void* mine, std::size_t count, std::vector<unsigned char>& all, int root) override {
    comm_.gather(mine, count, all, root);
  }

private:
  ednn::Communicator& comm_;
};

// Everything after the command line: run the job and print what a user needs (rank 0 only).
int generate(CommandLine& line, ednn::Communicator& comm) {
  DatagenOptions& options = line.options;
  const bool root = comm.is_root();
  const std::unique_ptr<ednn::solver::BatchSolver> batch_solver = make_batch_solver(line.device);
  options.batch_solver = batch_solver.get();
  CommunicatorCollectives collectives(comm);
  options.comm = &collectives;
  std::string device_text = batch_solver->device();
#ifdef EDNN_DATAGEN_CUDA
  if (device_text == "cuda") device_text += " (" + simt::device_description() + ")";
#endif
  // The finished file's group `provenance` (solver/dataset_h5.h): this command, its device and arithmetic.
  options.provenance = line.origin;
  options.provenance.emplace_back("device", device_text);
  options.provenance.emplace_back("numerics", batch_solver->device() == "cuda"
                                                  ? "red-black SOR in float32 (CUDA kernel, solver/sor_cuda.h)"
                                                  : "red-black SOR in float64 on the cpu");
  options.provenance.emplace_back("ranks", std::to_string(comm.size()));
  options.stop_requested = &g_stop_requested;  // with several ranks only rank 0's counts (mpirun passes Ctrl-C on)
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto& s = options.solver;
  if (root) {
    const std::string processes =
        comm.size() > 1 ? ednn::detail::concat("  ranks=", comm.size(), " (", comm.name(), ")") : std::string();
    std::fprintf(stderr,
                 "datagen: %s  L=%d  n=%d..%d  per-n=%d  test-fraction=%g  validation-fraction=%g  seed=%llu  model=%s  tol=%g  "
                 "omega=%.5f  device=%s  threads=%d%s%s\n",
                 options.out.c_str(), s.L, s.min_sources, s.max_sources, options.per_n, options.test_fraction,
                 options.validation_fraction, static_cast<unsigned long long>(options.seed), ednn::solver::to_string(s.model), s.tol,
                 ednn::solver::effective_omega(s), device_text.c_str(), omp_get_max_threads(),
                 options.compress ? "  compressed" : "", processes.c_str());
  }
  DatagenBar progress;
  const DatagenSummary summary = ednn::dataset::run_datagen(
      options, std::ref(progress), [&progress](const std::string& w) { progress.print(w); });
  progress.stopped();
  if (!root) return summary.finished || !g_stop_requested.load() ? 0 : 130;
  if (summary.was_already_finished) {
    std::fprintf(stderr, "datagen: %s is already complete with these parameters (solved on %s); nothing to do\n",
                 summary.path.c_str(), summary.device.c_str());
  } else if (summary.resumed_from > 0) {
    std::fprintf(stderr, "datagen: resumed after %lld samples already in the partial file\n",
                 static_cast<long long>(summary.resumed_from));
  }
  std::fprintf(stderr,
               "datagen: %lld samples in the file (solved on %s; %lld generated now in %.1f s, %.1f samples/s), "
               "mean sweeps %.1f, worst relative residual %.3g\n",
               static_cast<long long>(summary.samples), summary.device.c_str(),
               static_cast<long long>(summary.generated), summary.seconds,
               summary.seconds > 0 ? summary.generated / summary.seconds : 0.0, summary.mean_sweeps,
               summary.worst_residual);
  if (!summary.finished) {
    std::fprintf(stderr, "datagen: stopped early; the samples so far are in %s; run the same command again to "
                         "continue\n", summary.path.c_str());
    return g_stop_requested.load() ? 130 : 0;
  }
  std::printf("%s\n", summary.path.c_str());
  std::fprintf(stderr, "datagen: data set written to %s\n", summary.path.c_str());
  return 0;
}

int run(int argc, char** argv) {
  constexpr std::int64_t kInt = 2147483647;  // the options read into an int
  ednn::io::Cli cli("datagen", kAbout);
  cli.option("out", "FILE.h5", "output file; required");
  cli.integer_option("L", "N", "lattice side", "512", 1, kInt);
  cli.integer_option("per-n", "N", "samples per number of sources", "20000", 1, kInt);
  cli.integer_option("min-sources", "N", "fewest sources", "1", 0, kInt);
  cli.integer_option("max-sources", "N", "most sources", "20", 0, kInt);
  cli.number_option("test-fraction", "F", "fraction of each n in the test split, 0 <= F < 1", "0.2");
  cli.number_option("validation-fraction", "F", "fraction of each n in the validation split, placed after the test "
                    "split so that the train and test samples do not depend on it (train picks its best epoch on it)",
                    "0");
  cli.unsigned_option("seed", "S", "random stream (unsigned 64-bit)", "0");
  cli.choice_option("model", {"clamp", "production"}, "source model (SPEC section 1)", "clamp");
  cli.number_option("tol", "T", "relative residual tolerance, 0 < T < 1", "1e-6");
  cli.option("device", "DEV",
             "where to solve: cpu (OpenMP, double), cuda or cuda:N (card N: the CUDA SOR kernel, float; builds "
             "with CUDA only, an error without a usable GPU), auto (cuda when built with CUDA and a GPU is usable, else cpu). "
             "The file records it (attribute `device`); a partial file is only continued on its own device, "
             "as the float GPU targets are not bit-identical to the CPU's (they agree to about tol). GPU "
             "targets are checked again on the host (relative residual in double <= 2 tol + 1e-6) before "
             "they are stored", "auto");
  cli.flag("compress", "shuffle + deflate the image chunks (smaller, slower)");
  cli.number_option("D", "X", "diffusion constant", "1");
  cli.number_option("gamma", "X", "decay rate", "0.0025");
  cli.integer_option("radius", "R", "source disk radius", "5", 0, kInt);
  cli.number_option("omega", "W", "over-relaxation factor, 0 < W < 2; 0: the optimal one for L, D and gamma", "0");
  cli.integer_option("max-sweeps", "N", "SOR iteration cap; exceeding it is an error", "20000", 0, kInt);
  // Capped: 100000 threads crashed the OpenMP runtime (a stack each); 1024 is more than any node has cores.
  cli.integer_option("threads", "N", "OpenMP threads, at most 1024 (default: OMP_NUM_THREADS, else every core)", "", 1,
                     1024);
  cli.integer_option("batch", "N", "samples per write + flush (and per GPU launch); 0: cpu about 8 MB of images, "
                     "cuda about 256 MB and at most 4096 samples", "0", 0, kInt);
  cli.integer_option("stop-after", "N", "stop after N new samples, as if interrupted (for testing resume; default: "
                     "run to the end)", "", 0, INT64_MAX);
  cli.choice_option("comm", {"auto", "single", "mpi"},
                    "processes: mpi when started by mpirun or srun, else single (auto). With K ranks each solves its "
                    "share of every batch (and its default size is K times one process's) and rank 0 writes the "
                    "file: the same data, bit for bit, as one process makes, resumable with any number of ranks "
                    "(mpirun -np 4 datagen --out data.h5 ...; see docs/DISTRIBUTED_DATAGEN.md)", "auto");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version
  // The command line is read before the communicator exists, and a bad one is the same on every
  // rank: run_main lets rank 0 alone report it.
  CommandLine line = parse_options(cli);
  line.origin = ednn::io::provenance(argc, argv);
  std::unique_ptr<ednn::Communicator> comm;
  try {
    comm = ednn::make_communicator(line.comm, ednn::Device::cpu);
  } catch (const ednn::Error& e) {  // a backend this build lacks
    throw UsageError(e.what());
  }
  try {
    return generate(line, *comm);
  } catch (const ednn::dataset::RootFailed&) {
    return 1;  // rank 0 failed before any sample was solved and reports why
  }
}

}  // namespace

// Errors (run_main): any error but a bad command line stops the whole job (Communicator::abort)
// with its rank named.
int main(int argc, char** argv) { return ednn::io::run_main("datagen", run, argc, argv); }
