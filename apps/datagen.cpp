// datagen: writes the paper's data sets (random sources and their steady states, SPEC sections
// 1-3) to HDF5, resumably. Layout and sample ordering: solver/dataset_h5.h; the steps of a run,
// resume included: solver/datagen.h.
//
//   datagen --out data/L128.h5 --L 128 --per-n 1000 --seed 1
//
// --device: cpu solves with the OpenMP CPU solver; cuda with the CUDA kernel (solver/sor_cuda.h,
// through solver/batch_solver_device.h), in builds with CUDA (EDNN_DATAGEN_CUDA) and only where a GPU
// is usable, an error otherwise; auto picks cuda when both hold, else cpu.
//
// Under mpirun or srun (--comm auto|mpi) the ranks share every batch and rank 0 writes the one
// file (solver/datagen.h; usage in docs/DISTRIBUTED_DATAGEN.md). Only rank 0 prints, except for
// errors: a bad command line is the same on every rank and reported once, by rank 0; any other
// error stops the whole job (Communicator::abort) with its rank named.
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <omp.h>
#include <string>
#include <string_view>

#include "engine/communicator.h"
#include "engine/error.h"
#include "solver/datagen.h"
#ifdef EDNN_DATAGEN_CUDA
#include "kernels/simt_host.h"
#include "solver/batch_solver_device.h"
#endif

namespace {

using ednn::dataset::DatagenOptions;
using ednn::dataset::DatagenProgress;
using ednn::dataset::DatagenSummary;

constexpr const char* kUsage = R"(usage: datagen --out FILE.h5 [options]

Generates per-n samples for every number of sources n in min..max: random disks of radius R
(input image, max 1) and the steady state of D lap(u) - gamma u = 0 around them (target), solved
by red-black SOR to a relative residual tol, and writes them to FILE.h5 (HDF5, see
solver/dataset_h5.h for the layout and the ordering that makes the nested training subsets
prefixes). Writes FILE.h5.partial first; rerunning the same command after an interruption
continues it, and gives the same file as an uninterrupted run. An existing FILE.h5 made with
other parameters is never overwritten.

options (defaults in brackets):
  --out FILE.h5          output file (required)
  --L N                  lattice side [512]
  --per-n N              samples per number of sources [20000]
  --min-sources N        fewest sources [1]
  --max-sources N        most sources [20]
  --test-fraction F      fraction of each n in the test split, 0 <= F < 1 [0.2]
  --seed S               random stream (unsigned 64-bit) [0]
  --model clamp|production  source model (SPEC section 1) [clamp]
  --tol T                relative residual tolerance, 0 < T < 1 [1e-6]
  --device cpu|cuda|auto where to solve [auto]: cpu (OpenMP, double), cuda (the CUDA SOR kernel,
                         float; builds with CUDA only, an error without a usable GPU), auto (cuda
                         when built with CUDA and a GPU is usable, else cpu). The file records it
                         (attribute `device`); a partial file is only continued on its own device,
                         as the float GPU targets are not bit-identical to the CPU's (they agree to
                         about tol). GPU targets are checked again on the host (relative
                         residual in double <= 2 tol + 1e-6) before they are stored
  --compress             shuffle + deflate the image chunks (smaller, slower)
  --D X                  diffusion constant [1]
  --gamma X              decay rate [0.0025]
  --radius R             source disk radius [5]
  --omega W              over-relaxation factor, 0 < W < 2 [optimal for L, D, gamma]
  --max-sweeps N         SOR iteration cap; exceeding it is an error [20000]
  --threads N            OpenMP threads [all]
  --batch N              samples per write + flush (and per GPU launch) [cpu: about 8 MB of
                         images; cuda: about 256 MB, at most 4096 samples]
  --stop-after N         stop after N new samples, as if interrupted (for testing resume)
  --comm auto|single|mpi processes [auto]: mpi when started by mpirun or srun, else single. With
                         K ranks each solves its share of every batch (and its default size is
                         K times one process's) and rank 0 writes the file: the same data, bit for
                         bit, as one process makes, resumable with any number of ranks
                         (mpirun -np 4 datagen --out data.h5 ...; see docs/DISTRIBUTED_DATAGEN.md)
  --help                 this text

exit status: 0 done (or stopped by --stop-after), 1 error, 2 bad usage, 130 interrupted by Ctrl-C.
)";

struct UsageError : ednn::Error {
  using ednn::Error::Error;
};

template <class T>
T parse_number(std::string_view option, std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end)
    throw UsageError(ednn::detail::concat("datagen: ", option, " expects a number, got '", text, "'"));
  return value;
}

std::atomic<bool> g_stop_requested{false};

extern "C" void on_interrupt(int) {
  if (g_stop_requested.exchange(true)) std::_Exit(130);  // second Ctrl-C: stop now
}

std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%02ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return text;
}

// A progress bar on stderr: redrawn in place on a terminal, one line every 10 s otherwise.
class ProgressBar {
public:
  void operator()(const DatagenProgress& p) {
    const bool tty = isatty(STDERR_FILENO);
    const bool last = p.done == p.total;
    if (!last && p.seconds - last_print_ < (tty ? 0.2 : 10.0)) return;
    last_print_ = p.seconds;
    const double rate = p.seconds > 0 ? p.done_this_run / p.seconds : 0.0;
    const double eta = rate > 0 ? (p.total - p.done) / rate : 0.0;
    constexpr int width = 30;
    const int filled = static_cast<int>(width * static_cast<double>(p.done) / p.total);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s[%s] %5.1f%%  %lld/%lld  %.1f samples/s  ETA %s%s", tty ? "\r" : "", bar.c_str(),
                 100.0 * p.done / p.total, static_cast<long long>(p.done), static_cast<long long>(p.total), rate,
                 format_duration(eta).c_str(), tty && !last ? "" : "\n");
    std::fflush(stderr);
  }

private:
  double last_print_ = -1e9;
};

struct CommandLine {
  DatagenOptions options;
  std::string device = "auto";
  bool help = false;
};

// --comm's value, read before the rest of the command line: the communicator comes first, so that
// a bad command line is reported by rank 0 alone rather than once per rank. A value other than
// these three is left to parse_options to reject.
std::string communicator_kind(int argc, char** argv) {
  for (int a = 1; a + 1 < argc; ++a) {
    const std::string_view value = argv[a + 1];
    if (std::string_view(argv[a]) == "--comm" && (value == "single" || value == "mpi")) return std::string(value);
  }
  return "auto";
}

CommandLine parse_options(int argc, char** argv) {
  CommandLine line;
  DatagenOptions& o = line.options;
  o.solver = ednn::solver::SolverConfig{};
  for (int a = 1; a < argc; ++a) {
    const std::string_view opt = argv[a];
    if (opt == "--help" || opt == "-h") {
      line.help = true;
      return line;
    }
    if (opt == "--compress") {
      o.compress = true;
      continue;
    }
    if (a + 1 >= argc) throw UsageError(ednn::detail::concat("datagen: ", opt, " needs a value (see --help)"));
    const std::string_view value = argv[++a];
    if (opt == "--out") o.out = value;
    else if (opt == "--L") o.solver.L = parse_number<int>(opt, value);
    else if (opt == "--per-n") o.per_n = parse_number<int>(opt, value);
    else if (opt == "--min-sources") o.solver.min_sources = parse_number<int>(opt, value);
    else if (opt == "--max-sources") o.solver.max_sources = parse_number<int>(opt, value);
    else if (opt == "--test-fraction") o.test_fraction = parse_number<double>(opt, value);
    else if (opt == "--seed") o.seed = parse_number<std::uint64_t>(opt, value);
    else if (opt == "--model") o.solver.model = ednn::solver::parse_source_model(value);
    else if (opt == "--tol") o.solver.tol = parse_number<double>(opt, value);
    else if (opt == "--D") o.solver.D = parse_number<double>(opt, value);
    else if (opt == "--gamma") o.solver.gamma = parse_number<double>(opt, value);
    else if (opt == "--radius") o.solver.radius = parse_number<int>(opt, value);
    else if (opt == "--omega") o.solver.omega = parse_number<double>(opt, value);
    else if (opt == "--max-sweeps") o.solver.max_sweeps = parse_number<int>(opt, value);
    else if (opt == "--threads") omp_set_num_threads(parse_number<int>(opt, value));
    else if (opt == "--batch") o.batch = parse_number<int>(opt, value);
    else if (opt == "--stop-after") o.stop_after = parse_number<std::int64_t>(opt, value);
    else if (opt == "--device") {
      if (value != "cpu" && value != "cuda" && value != "auto")
        throw UsageError(ednn::detail::concat("datagen: --device '", value, "', expected cpu, cuda or auto"));
      line.device = value;
    } else if (opt == "--comm") {
      if (value != "auto" && value != "single" && value != "mpi")
        throw UsageError(ednn::detail::concat("datagen: --comm '", value, "', expected auto, single or mpi"));
      // (used before the rest, by communicator_kind)
    } else {
      throw UsageError(ednn::detail::concat("datagen: unknown option '", opt, "' (see --help)"));
    }
  }
  if (o.out.empty()) throw UsageError("datagen: --out FILE.h5 is required (see --help)");
  return line;
}

// The solver --device asks for: cpu, cuda (an error saying why when it cannot run here), or auto.
std::unique_ptr<ednn::solver::BatchSolver> make_batch_solver(const std::string& device) {
  if (device == "cpu") return ednn::solver::make_cpu_batch_solver();
#ifdef EDNN_DATAGEN_CUDA
  std::string why;
  if (simt::device_available(&why)) return ednn::solver::make_device_batch_solver();
  if (device == "auto") return ednn::solver::make_cpu_batch_solver();
  ednn::fail("datagen: --device cuda: no usable GPU: ", why, "; use --device cpu (or auto)");
#else
  if (device == "auto") return ednn::solver::make_cpu_batch_solver();
  ednn::fail("datagen: --device cuda: this datagen was built without CUDA (configure with -DEDNN_CUDA=ON on a "
             "machine with nvcc); use --device cpu (or auto)");
#endif
}

// Everything after the command line: run the job and print what a user needs (rank 0 only).
int generate(CommandLine& line, ednn::Communicator& comm) {
  DatagenOptions& options = line.options;
  const bool root = comm.is_root();
  const std::unique_ptr<ednn::solver::BatchSolver> batch_solver = make_batch_solver(line.device);
  options.batch_solver = batch_solver.get();
  options.comm = &comm;
  std::string device_text = batch_solver->device();
#ifdef EDNN_DATAGEN_CUDA
  if (device_text == "cuda") device_text += " (" + simt::device_description() + ")";
#endif
  options.stop_requested = &g_stop_requested;  // with several ranks only rank 0's counts (mpirun passes Ctrl-C on)
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto& s = options.solver;
  if (root) {
    const std::string processes =
        comm.size() > 1 ? ednn::detail::concat("  ranks=", comm.size(), " (", comm.name(), ")") : std::string();
    std::fprintf(stderr,
                 "datagen: %s  L=%d  n=%d..%d  per-n=%d  test-fraction=%g  seed=%llu  model=%s  tol=%g  "
                 "omega=%.5f  device=%s  threads=%d%s%s\n",
                 options.out.c_str(), s.L, s.min_sources, s.max_sources, options.per_n, options.test_fraction,
                 static_cast<unsigned long long>(options.seed), ednn::solver::to_string(s.model), s.tol,
                 ednn::solver::effective_omega(s), device_text.c_str(), omp_get_max_threads(),
                 options.compress ? "  compressed" : "", processes.c_str());
  }
  ProgressBar progress;
  const DatagenSummary summary = ednn::dataset::run_datagen(
      options, std::ref(progress), [](const std::string& w) { std::fprintf(stderr, "%s\n", w.c_str()); });
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

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<ednn::Communicator> comm;
  try {
    comm = ednn::make_communicator(communicator_kind(argc, argv), ednn::Device::cpu);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "datagen: %s\n", e.what());
    return 2;
  }
  const bool root = comm->is_root();
  CommandLine line;
  try {  // the same on every rank: reported once
    line = parse_options(argc, argv);
    if (line.help) {
      if (root) std::fputs(kUsage, stdout);
      return 0;
    }
    ednn::solver::validate(line.options.solver);
  } catch (const UsageError& e) {
    if (root) std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    if (root) std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  try {
    return generate(line, *comm);
  } catch (const ednn::dataset::RootFailed&) {
    return 1;  // rank 0 failed before any sample was solved and reports why
  } catch (const std::exception& e) {
    // The other ranks would wait for this one in their next collective: stop them all, naming
    // this rank.
    const std::string message = e.what();
    if (comm->size() > 1)
      comm->abort(message.rfind("datagen:", 0) == 0 ? message : "datagen: error: " + message);
    std::fprintf(stderr, "%s\n", message.c_str());
    return 1;
  }
}
