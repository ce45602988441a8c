// train: fits the ED-CNN (SPEC sections 4 to 6) to a datagen file or to fresh solver samples.
//
//   train --data FILE.h5 --preset small --epochs E --device cpu --out DIR
//   train --preset paper --summary
//   train --resume DIR --epochs 20
//   mpirun -np 4 train --data FILE.h5 ... --out DIR     (data parallel: see nets/trainer.h)
//
// Writes DIR/best.safetensors (lowest test MAE), DIR/last.safetensors and
// DIR/last.optim.safetensors (resume state) and DIR/train_log.csv, committed together after each
// epoch with DIR/checkpoint.json (nets/run_directory.h); see nets/trainer.h. Every checkpoint
// records this command's provenance (version, commit, command, date, device, numerics) in its
// metadata key `provenance`. --init-from FILE starts from an ednn checkpoint or a PyTorch
// state_dict. A DIR that holds a run is continued with --resume or replaced with --overwrite,
// never overwritten silently.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include "apps/cli.h"
#include "apps/h5_io.h"
#include "apps/numerics_options.h"
#include "apps/progress.h"
#include "engine/communicator.h"
#include "engine/device.h"
#include "core/error.h"
#include "core/loss_spec.h"
#include "nets/checkpoint.h"
#include "nets/run_directory.h"
#include "nets/run_settings.h"
#include "nets/trainer.h"
#ifdef EDNN_TRAIN_SOLVER_CUDA
#include "solver/batch_solver_device.h"
#endif

using namespace ednn;

namespace {

int run(int argc, char** argv) {
  io::Cli cli("train",
              "Trains the ED-CNN surrogate of the diffusion equation.\n\n"
              "  train --data FILE.h5 --preset small --epochs E --device cpu --out DIR\n"
              "  train --online --preset small --epochs E --out DIR\n"
              "  train --preset paper --summary\n"
              "  mpirun -np K train --data FILE.h5 ... --out DIR   (each rank a share of every batch)\n"
              "  train --resume DIR [--epochs E]\n\n"
              "On --resume give the same data options again; every other setting comes from DIR/last.safetensors. "
              "Given again, epochs, lr, batch, seed, loss, the schedule and the numerics (--conv-algo, --tf32, "
              "--no-fusion) change; preset and batch norm cannot, transform and data only with --allow-other-data "
              "(nets/run_settings.h).\n\n"
              "Outputs in DIR: best.safetensors (lowest plain MAE on the --select-on split), last.safetensors and "
              "last.optim.safetensors (resume state), train_log.csv (one row per epoch).");
  constexpr std::int64_t kInt = 2147483647;  // the options read into an int
  cli.option("data", "FILE.h5", "data set written by datagen: trains on its train split, tests on its test split");
  cli.number_option("fraction", "F", "nested training subset: the first F of the train samples of each n, F in (0, 1]", "1");
  cli.integer_option("subset", "J", "with --fraction F < 1: train on the J-th disjoint block of that size instead of the "
                     "nested prefix (J = 0); the paper's non-overlapping sets of Figs. 6 and 9", "0", 0, kInt);
  cli.integer_option("train-n", "P", "train only on samples with P sources (the paper's Fig. 16 runs; 0: all)", "0", 0, kInt);
  cli.flag("online", "draw fresh samples from the solver every step (no data file needed for training); with "
           "--device cuda in CUDA builds the GPU solver makes them (targets within tol of the CPU's, not bitwise)");
  cli.integer_option("online-per-epoch", "N", "with --online: samples per epoch", "1000", 1, INT64_MAX);
  cli.integer_option("online-test", "N", "with --online and no --data: size of the fixed test set", "200", 1, INT64_MAX);
  cli.integer_option("max-sources", "N", "with --online: sources per sample uniform in 1..N", "20", 1, kInt);
  cli.option("preset", "NAME", "network preset: paper (L 512, c0 64), small (L 128, c0 8), tiny (L 64, c0 4)", "small");
  cli.option("loss", "TEXT", "loss, e.g. mae, mse, exp-mae:w=1, exp-mae:w=1,on=prediction, step-mae:a=4000,b=10, "
             "berhu:delta=0.02", "mae");
  cli.option("loss-toggle", "TEXT2", "schedule: alternate --loss and TEXT2 every --toggle-every epochs");
  cli.integer_option("toggle-every", "K", "epochs per loss in the toggle schedule", "1", 1, kInt);
  cli.option("loss-random", "TEXT2", "schedule: each epoch use TEXT2 with probability --random-p (seeded)");
  cli.number_option("random-p", "P", "probability of TEXT2 in the random schedule", "0.5");
  cli.flag("no-batch-norm", "build the network without its batch norm (an identity in its place): each sample's "
           "gradient is then independent of the others in its batch");
  cli.option("transform", "T", "data transform of inputs and targets: none or sqrt (inverted before metrics)", "none");
  cli.integer_option("batch", "B", "batch size", "50", 1, kInt);
  cli.number_option("lr", "LR", "Adam learning rate", "1e-4");
  cli.integer_option("epochs", "E", "number of epochs (total, including those before --resume; on --resume, the "
                     "checkpoint's target unless given)", "100", 1, kInt);
  cli.unsigned_option("seed", "S", "seed of the initial weights, the data order and the schedules", "0");
  cli.integer_option("min-steps", "S", "train at least S Adam steps: the epochs are raised to ceil(S / steps per "
                     "epoch) when fewer (small training sets; 0: just --epochs)", "0", 0, kInt);
  cli.choice_option("select-on", {"auto", "validation", "test"},
                    "the split that picks best.safetensors: validation (the data's validation split; the test split "
                    "is then used once, by infer), test (the paper's rule: chosen on the set it is reported on), auto "
                    "(validation when the data has one, else test)", "auto");
  cli.integer_option("evals", "N", "evaluate N times, evenly spread over the epochs and always after the last "
                     "(the best checkpoint is chosen among those); 0: after every epoch", "0", 0, kInt);
  cli.flag("log-test", "with --select-on validation: also evaluate the test split at each evaluation and log it "
           "(never used to choose; it measures what the selection rule changes)");
  cli.option("device", "DEV", "cpu, cuda, cuda:N (card N) or auto", "auto");
  io::add_numerics_options(cli);
  cli.flag("cuda-graph", "CUDA: capture the training step in a CUDA graph and replay it (one launch a step instead of "
           "about 150 for the small preset; the same steps, bit for bit)");
  cli.option("out", "DIR", "output directory");
  cli.option("resume", "DIR", "continue from DIR/last.safetensors with its optimiser state");
  cli.option("init-from", "FILE", "start from these weights instead of fresh ones (Adam starts afresh): an ednn "
             "checkpoint, or a state_dict saved by PyTorch with safetensors, whose widths come from its shapes and "
             "its lattice side from --preset, else the --data file's (its num_batches_tracked carries on)");
  cli.flag("overwrite", "replace the training run that --out DIR holds (without it such a directory is refused, so a "
           "finished run is never lost by accident)");
  cli.flag("allow-other-data", "with --resume: continue on other data or with another --transform than the run "
           "was trained on (refused without it: the best epoch would compare MAEs of different test sets)");
  cli.number_option("time-limit", "SECONDS", "stop after this many seconds: the running epoch ends early, is evaluated "
                    "and saved (0: no limit)", "0");
  cli.integer_option("max-steps", "N", "at most N steps per epoch (quick checks; -1: all)", "-1", -1, INT64_MAX);
  cli.option("comm", "KIND", "data-parallel backend under mpirun or srun: auto (mpi when an MPI launcher started this "
             "process, nccl for --device cuda in builds with NCCL; else one process), single, mpi or nccl", "auto");
  cli.flag("sync-batch-norm", "under mpirun: batch norm with the statistics of the whole batch, not of each rank's "
           "share (two small all-reduces per step; the step is then one process's, up to rounding)");
  cli.flag("summary", "print the layer table and parameter count, then exit");
  cli.flag("init-only", "write the freshly initialised network to DIR/init.safetensors and exit (no data needed)");
  cli.flag("quiet", "no progress bar");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version

  // First, so that any error below stops every rank of a job, naming its own; and before any CUDA
  // work, as the NCCL backend picks each rank's GPU.
  const std::unique_ptr<Communicator> comm = make_communicator(cli.get("comm"), parse_device(cli.get("device")));
  const bool root = comm->is_root();

  // ---- what the command line asks for ----
  // Options that would do nothing in their context are refused rather than ignored.
  const bool online_mode = cli.has("online"), file_mode = cli.given("data");
  auto refuse_unless = [&](bool context, const char* option, const char* why) {
    if (cli.given(option) && !context) throw io::UsageError(detail::concat("--", option, " ", why));
  };
  refuse_unless(file_mode && !online_mode, "fraction", "selects training samples of --data, which --online does not train on");
  refuse_unless(file_mode && !online_mode, "subset", "selects training samples of --data, which --online does not train on");
  refuse_unless(file_mode && !online_mode, "train-n", "selects training samples of --data, which --online does not train on");
  refuse_unless(online_mode, "online-per-epoch", "applies to --online only");
  refuse_unless(online_mode && !file_mode, "online-test", "applies to --online without --data (with it, the test split is the file's)");
  refuse_unless(online_mode && !file_mode, "max-sources", "applies to --online without --data (with it, the file's range is used)");
  refuse_unless(!online_mode || file_mode, "log-test", "needs --data (its test split)");
  refuse_unless(cli.given("loss-toggle") || cli.given("resume"), "toggle-every", "needs --loss-toggle (or a resumed toggle schedule)");
  refuse_unless(cli.given("loss-random") || cli.given("resume"), "random-p", "needs --loss-random (or a resumed random schedule)");
  if (cli.has("loss-toggle") && cli.has("loss-random")) throw io::UsageError("choose one of --loss-toggle and --loss-random");
  if (cli.integer("max-steps") == 0) throw io::UsageError("--max-steps 0 would take no step; give -1 (all) or at least 1");

  // The data file first: it is checked against its own description before anything else, and its
  // solver settings are part of the run's record.
  std::unique_ptr<io::DatagenStore> file;
  if (file_mode) file = std::make_unique<io::DatagenStore>(cli.get("data"));
  if (!file && !online_mode && !cli.has("summary") && !cli.has("init-only"))
    throw io::UsageError("give --data FILE.h5 or --online (see --help)");

  nets::RunSettings given;
  given.net = nets::preset_config(cli.get("preset"));
  given.net.batch_norm = !cli.has("no-batch-norm");
  if (cli.has("init-from")) {
    // The network is the file's: its metadata's, or for a PyTorch state_dict its shapes' at the
    // lattice side of --preset or of the data. A --preset or --no-batch-norm that contradicts it is an error.
    if (cli.given("resume")) throw io::UsageError("--init-from starts a run, --resume continues one: choose one");
    const std::string init = cli.get("init-from");
    EDNN_CHECK(std::filesystem::exists(init), "train: --init-from ", init, " does not exist");
    const nets::SafetensorsHeader header = nets::read_header(init);
    nets::NetConfig net;
    if (header.metadata.count("L")) {
      net = nets::RunSettings::from_metadata(header.metadata, init).net;
      EDNN_CHECK(!cli.given("preset") || (given.net.L == net.L && given.net.c0 == net.c0), "train: --preset ",
                 cli.get("preset"), " (L ", given.net.L, ", c0 ", given.net.c0, ") but --init-from ", init,
                 " holds preset ", net.preset, " (L ", net.L, ", c0 ", net.c0, ")");
    } else {
      EDNN_CHECK(cli.given("preset") || file, "train: --init-from ", init, " has no ednn metadata (a PyTorch "
                 "state_dict?) and so no lattice side: give --preset NAME or --data FILE.h5");
      net = nets::config_for_state_dict(header.shapes, cli.given("preset") ? cli.get("preset") : std::string(),
                                        cli.given("preset") ? 0 : file->reader().L(), init);
      std::fprintf(stderr, "train: %s has no ednn metadata (a PyTorch state_dict?): c0 %d%s from its shapes, L %d "
                   "from %s\n", init.c_str(), net.c0, net.batch_norm ? "" : " without batch norm", net.L,
                   cli.given("preset") ? "--preset" : "--data");
    }
    EDNN_CHECK(!cli.has("no-batch-norm") || !net.batch_norm, "train: --no-batch-norm but --init-from ", init,
               " holds a batch norm ('1.weight')");
    given.net = net;
  }
  given.loss = cli.get("loss");
  if (cli.has("loss-toggle")) {
    given.loss_alt = cli.get("loss-toggle");
    given.toggle_every = int(cli.integer("toggle-every"));
  }
  if (cli.has("loss-random")) {
    given.loss_alt = cli.get("loss-random");
    given.random_p = cli.number("random-p");
  }
  if (cli.given("toggle-every") && !cli.has("loss-toggle")) given.toggle_every = int(cli.integer("toggle-every"));
  if (cli.given("random-p")) given.random_p = cli.number("random-p");
  if (cli.given("random-p") && !(given.random_p > 0 && given.random_p <= 1))
    throw io::UsageError(detail::concat("--random-p must be in (0, 1], got ", given.random_p));
  given.transform = nets::parse_transform(cli.get("transform"));
  given.batch = int(cli.integer("batch"));
  given.lr = cli.number("lr");
  if (!(given.lr > 0)) throw io::UsageError(detail::concat("--lr must be positive, got ", given.lr));
  given.epochs = int(cli.integer("epochs"));
  given.seed = cli.unsigned_integer("seed");
  given.min_steps = int(cli.integer("min-steps"));
  given.evals = int(cli.integer("evals"));
  given.log_test = cli.has("log-test");
  {
    const bool has_validation = file && file->reader().info().validation_per_n > 0;
    const std::string rule = cli.get("select-on");
    if (rule == "validation" && !has_validation)
      throw io::UsageError(detail::concat("--select-on validation needs data with a validation split (datagen "
                                          "--validation-fraction F)", file ? "; " + cli.get("data") + " has none" : ""));
    given.select_on = rule == "auto" ? (has_validation ? "validation" : "test") : rule;
    if (given.log_test && given.select_on != "validation")
      throw io::UsageError("--log-test logs the test split beside the validation split that selects; with --select-on "
                           "test the test split is logged already");
  }
  given.numerics = io::numerics_from(cli);
  // The data, in words that identify it (the file by its absolute path): a resume compares them.
  if (file) {
    const std::string path = std::filesystem::weakly_canonical(cli.get("data")).string();
    given.solver = file->reader().info().solver;
    given.data = online_mode ? "online samples, test split of " + path
                             : path + " fraction " + nets::number_text(cli.number("fraction")) +
                                   (cli.integer("subset") > 0 ? " subset " + cli.get("subset") : std::string()) +
                                   (cli.integer("train-n") > 0 ? " n " + cli.get("train-n") : std::string());
    if (online_mode) given.data += ", " + cli.get("online-per-epoch") + " per epoch";
  } else if (online_mode) {
    solver::SolverConfig sc;
    sc.max_sources = int(cli.integer("max-sources"));
    given.solver = sc;
    given.data = "online samples (max sources " + cli.get("max-sources") + "), " + cli.get("online-per-epoch") +
                 " per epoch, " + cli.get("online-test") + " test samples";
  }
  if (given.solver) given.solver->L = given.net.L;
  parse_loss(given.loss);  // bad loss texts fail before any data is read or solved
  if (!given.loss_alt.empty()) parse_loss(given.loss_alt);

  // ---- the run's settings: those, or on --resume the checkpoint's with what a resume may change ----
  nets::TrainOptions o;
  o.comm = comm.get();
  if (cli.has("resume")) {
    o.resume = true;
    o.out_dir = cli.has("out") ? cli.get("out") : cli.get("resume");
    EDNN_CHECK(!cli.has("out") || std::filesystem::equivalent(cli.get("out"), cli.get("resume")),
               "train: --resume DIR writes to DIR; leave out --out or give the same directory");
    if (cli.given("overwrite")) throw io::UsageError("--resume continues the run in DIR, --overwrite replaces it: choose one");
    // An epoch whose commit a kill interrupted is completed (or discarded) before its settings are read.
    if (root)
      for (const std::string& line : nets::recover(o.out_dir).report("train", o.out_dir))
        std::fprintf(stderr, "%s\n", line.c_str());
    comm->barrier();
    const std::string last = (std::filesystem::path(o.out_dir) / nets::run_files::last).string();
    EDNN_CHECK(std::filesystem::exists(last), "train --resume: ", last, " does not exist (no epoch of this run was "
               "committed; start it again with --out)");
    std::set<std::string> options{"data"};  // the data is always given again, and compared
    for (const char* name : {"epochs", "lr", "batch", "seed", "loss", "loss-toggle", "loss-random", "toggle-every",
                             "random-p", "preset", "no-batch-norm", "transform", "min-steps", "select-on", "evals",
                             "log-test"})
      if (cli.given(name)) options.insert(name);
    for (const std::string& name : io::numerics_options_given(cli)) options.insert(name);
    static_cast<nets::RunSettings&>(o) =
        nets::resume_settings(nets::RunSettings::from_metadata(nets::read_metadata(last), last), given, options,
                              cli.has("allow-other-data"), last);
  } else {
    if (cli.given("allow-other-data")) throw io::UsageError("--allow-other-data applies to --resume only");
    static_cast<nets::RunSettings&>(o) = given;
    o.out_dir = cli.get("out");
    o.overwrite = cli.has("overwrite");
  }

  if (cli.has("summary")) {
    if (!root) return 0;
    auto net = nets::build_ednn(o.net, o.seed);
    std::printf("%s", nets::summary_table(*net, o.net).c_str());
    return 0;
  }
  if (o.out_dir.empty()) throw io::UsageError("--out DIR is required (see --help)");
  if (cli.has("init-only")) {
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec) fail("train: cannot create output directory ", o.out_dir, ": ", ec.message());
    set_numerics(o.numerics);
    auto net = nets::build_ednn(o.net, o.seed);
    const std::string path = (std::filesystem::path(o.out_dir) / "init.safetensors").string();
    nets::Metadata meta = o.to_metadata();
    meta["epoch"] = "0";
    meta["provenance"] = io::provenance_json(io::run_provenance(argc, argv, Device::cpu, o.numerics));
    nets::save_model(path, *net, meta);
    std::printf("train: initial %s network (%s parameters) written to %s\n", o.net.preset.c_str(),
                nets::with_commas(net->parameter_count()).c_str(), path.c_str());
    return 0;
  }
  o.device = parse_device(cli.get("device"));
  if (o.numerics.tf32 && o.device != Device::cuda)
    std::fprintf(stderr, "train: --tf32 applies to the cuda device only; the cpu computes in float\n");
  o.cuda_graph = cli.has("cuda-graph");
  EDNN_CHECK(!o.cuda_graph || o.device == Device::cuda, "train: --cuda-graph needs --device cuda (the device is ",
             device_name(o.device), ")");
  io::ProgressBar progress;
  o.progress = !cli.has("quiet") && root ? &progress : nullptr;
  o.sync_batch_norm = cli.has("sync-batch-norm");
  o.time_limit_s = cli.number("time-limit");
  o.max_steps = cli.integer("max-steps");
  if (cli.has("init-from")) o.init_from = cli.get("init-from");
  // Where each checkpoint came from: metadata `provenance` (a JSON object's text).
  o.provenance = io::provenance_json(io::run_provenance(argc, argv, o.device, o.numerics));

  // ---- data ----
  nets::TrainData data;
  std::unique_ptr<nets::SampleStore> online, online_test;
  std::unique_ptr<solver::BatchSolver> online_solver;  // null: the CPU solver
  if (file) {
    const auto& info = file->reader().info();
    const double fraction = cli.number("fraction");
    EDNN_CHECK(fraction > 0 && fraction <= 1, "train: --fraction must be in (0, 1], got ", fraction);
    data.test = file.get();
    data.test_indices = dataset::test_indices(info);
    data.validation = file.get();
    data.validation_indices = dataset::validation_indices(info);
    EDNN_CHECK(o.select_on != "test" || !data.test_indices.empty(), "train: data ", cli.get("data"),
               " has no test split (made with --test-fraction 0); it is needed to select the best epoch");
    if (!online_mode) {
      data.train = file.get();
      const int train_n = int(cli.integer("train-n"));
      EDNN_CHECK(train_n == 0 || (train_n >= info.solver.min_sources && train_n <= info.solver.max_sources),
                 "train: --train-n ", train_n, " outside the data set's range ", info.solver.min_sources, "..",
                 info.solver.max_sources);
      data.train_indices = dataset::train_indices(info, fraction, train_n, int(cli.integer("subset")));
    }
  }
  if (online_mode) {
    solver::SolverConfig sc = *o.solver;
    sc.L = o.net.L;
    solver::validate(sc);
#ifdef EDNN_TRAIN_SOLVER_CUDA
    if (o.device == Device::cuda) online_solver = solver::make_device_batch_solver();
#endif
    if (root) std::fprintf(stderr, "train: online samples solved on %s\n", online_solver ? "cuda" : "cpu");
    // The online domain: no data file holds these samples, whatever its seed (solver/solver.h).
    online = std::make_unique<nets::OnlineStore>(sc, solver::SampleStream(o.seed * 2 + 1, solver::SampleDomain::online),
                                                 online_solver.get());
    data.train = online.get();
    data.online_per_epoch = cli.integer("online-per-epoch");
    if (!file) {
      const long n = long(cli.integer("online-test"));
      if (root) std::fprintf(stderr, "train: solving %ld test samples (a separate solver stream)\n", n);
      online_test = std::make_unique<nets::MemoryStore>(nets::generate_memory_store(
          sc, solver::SampleStream(o.seed * 2 + 2, solver::SampleDomain::online), n, online_solver.get()));
      data.test = online_test.get();
      for (long i = 0; i < n; ++i) data.test_indices.push_back(i);
    }
  }

  if (root) {
    auto probe = nets::build_ednn(o.net, o.seed);
    const std::int64_t per_epoch = data.online_per_epoch > 0 ? data.online_per_epoch
                                                             : std::int64_t(data.train_indices.size());
    const int epochs = nets::planned_epochs(o, per_epoch);
    const std::string epochs_text =
        std::to_string(epochs) + " epochs" +
        (epochs > o.epochs ? " (raised from " + std::to_string(o.epochs) + " for " + std::to_string(o.min_steps) +
                                 " steps)"
                           : std::string());
    const std::string split_text =
        o.select_on == "validation"
            ? std::to_string(data.validation_indices.size()) + " validation (selects the best epoch)" +
                  (o.log_test ? ", " + std::to_string(data.test_indices.size()) + " test (logged)" : std::string())
            : std::to_string(data.test_indices.size()) + " test (selects the best epoch)";
    const std::string evals_text =
        o.evals > 0 && o.evals < epochs ? ", evaluated " + std::to_string(o.evals) + " times" : std::string();
    std::fprintf(stderr,
                 "train: preset %s (L %d, c0 %d, %s parameters) on %s; %lld train samples%s, %s; batch %d, "
                 "lr %g, %s%s, loss %s%s%s, transform %s; %s\n",
                 o.net.preset.c_str(), o.net.L, o.net.c0, nets::with_commas(probe->parameter_count()).c_str(),
                 device_name(o.device), (long long)per_epoch, data.online_per_epoch > 0 ? " per epoch (online)" : "",
                 split_text.c_str(), o.batch, o.lr, epochs_text.c_str(), evals_text.c_str(), o.loss.c_str(),
                 o.loss_alt.empty() ? "" : " / ", o.loss_alt.c_str(), nets::transform_name(o.transform),
                 o.device == Device::cuda ? o.numerics.describe().c_str() : "float32 on the cpu");
    if (comm->size() > 1)
      std::fprintf(stderr, "train: data parallel over %d ranks (%s): each step's %d samples shared out, gradients "
                           "summed; batch norm statistics %s\n",
                   comm->size(), comm->name(), o.batch, o.sync_batch_norm ? "of the whole batch" : "per rank");
  }
  const nets::TrainResult r = nets::train(o, data);
  if (!root) return 0;
  std::printf("train: done, %d epochs. Best %s MAE %.6g at epoch %d.\n", r.last_epoch, o.select_on.c_str(), r.best_mae,
              r.best_epoch);
  std::printf("  best checkpoint: %s\n  last checkpoint: %s (resume with: train --resume %s)\n  log:             %s\n",
              r.best_path.c_str(), r.last_path.c_str(), o.out_dir.c_str(), r.log_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("train", run, argc, argv); }
