// train: fits the ED-CNN (SPEC sections 4 to 6) to a datagen file or to fresh solver samples.
//
//   train --data FILE.h5 --preset small --epochs E --device cpu --out DIR
//   train --preset paper --summary
//   train --resume DIR --epochs 20
//   mpirun -np 4 train --data FILE.h5 ... --out DIR     (data parallel: see nets/trainer.h)
//
// Writes DIR/best.safetensors (lowest test MAE), DIR/last.safetensors and
// DIR/last.optim.safetensors (resume state) and DIR/train_log.csv, committed together after each
// epoch with DIR/checkpoint.json (nets/run_directory.h); see nets/trainer.h. A DIR that holds a
// run is continued with --resume or replaced with --overwrite, never overwritten silently.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/cli.h"
#include "apps/h5_io.h"
#include "apps/progress.h"
#include "engine/communicator.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/loss_spec.h"
#include "nets/checkpoint.h"
#include "nets/run_directory.h"
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
              "On --resume give the same data options again; preset, loss, schedule, transform, seed, lr and batch "
              "come from DIR/last.safetensors.\n\n"
              "Outputs in DIR: best.safetensors (lowest plain test MAE), last.safetensors and "
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
                     "checkpoint's target unless given)", "100", 0, kInt);
  cli.unsigned_option("seed", "S", "seed of the initial weights, the data order and the schedules", "0");
  cli.option("device", "DEV", "cpu, cuda or auto", "auto");
  cli.flag("tf32", "CUDA: convolutions on the tensor cores with TF32 inputs (faster; each product rounded to 10 "
           "mantissa bits, as PyTorch's allow_tf32); also EDNN_TF32=1");
  cli.flag("cuda-graph", "CUDA: capture the training step in a CUDA graph and replay it (one launch a step instead of "
           "about 150 for the small preset; the same steps, bit for bit)");
  cli.option("out", "DIR", "output directory");
  cli.option("resume", "DIR", "continue from DIR/last.safetensors with its optimiser state");
  cli.flag("overwrite", "replace the training run that --out DIR holds (without it such a directory is refused, so a "
           "finished run is never lost by accident)");
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

  nets::TrainOptions o;
  o.comm = comm.get();
  std::string preset = cli.get("preset");
  int resumed_epochs = 0;
  if (cli.has("resume")) {
    o.resume = true;
    o.out_dir = cli.has("out") ? cli.get("out") : cli.get("resume");
    EDNN_CHECK(!cli.has("out") || std::filesystem::equivalent(cli.get("out"), cli.get("resume")),
               "train: --resume DIR writes to DIR; leave out --out or give the same directory");
    EDNN_CHECK(!cli.has("overwrite"), "train: --resume continues the run in DIR, --overwrite replaces it: choose one");
    // An epoch whose commit a kill interrupted is completed (or discarded) before its settings are read.
    if (root) nets::recover(o.out_dir);
    comm->barrier();
    // Settings recorded in the checkpoint unless given again.
    const auto meta = nets::read_metadata((std::filesystem::path(o.out_dir) / "last.safetensors").string());
    auto from = [&](const char* opt, const char* key, std::string& value) {
      if (!cli.has(opt) && meta.count(key)) value = meta.at(key);
    };
    from("preset", "preset", preset);
    std::string loss = cli.get("loss"), transform = cli.get("transform"), seed = cli.get("seed");
    from("loss", "loss", loss);
    from("transform", "transform", transform);
    from("seed", "seed", seed);
    // Finish the run that was asked for: its epoch target is in the checkpoint (files written
    // before it was recorded fall back to --epochs' default).
    if (!cli.has("epochs") && meta.count("epochs")) resumed_epochs = std::stoi(meta.at("epochs"));
    // The loss schedule, unless one is given again.
    if (!cli.has("loss-toggle") && !cli.has("loss-random") && meta.count("loss_alt")) {
      o.loss_alt = meta.at("loss_alt");
      if (meta.count("toggle_every")) o.toggle_every = std::stoi(meta.at("toggle_every"));
      if (meta.count("random_p")) o.random_p = std::stod(meta.at("random_p"));
    }
    o.loss = loss;
    o.transform = nets::parse_transform(transform);
    o.seed = std::stoull(seed);
    std::string lr = cli.get("lr"), batch = cli.get("batch");
    from("lr", "lr", lr);
    from("batch", "batch", batch);
    o.lr = std::stod(lr);
    o.batch = std::stoi(batch);
  } else {
    o.loss = cli.get("loss");
    o.transform = nets::parse_transform(cli.get("transform"));
    o.seed = cli.unsigned_integer("seed");
    o.out_dir = cli.get("out");
    o.overwrite = cli.has("overwrite");
  }
  o.net = nets::preset_config(preset);
  o.net.batch_norm = !cli.has("no-batch-norm");
  if (o.resume && !cli.has("no-batch-norm")) {
    const auto meta = nets::read_metadata((std::filesystem::path(o.out_dir) / "last.safetensors").string());
    o.net.batch_norm = !meta.count("batch_norm") || meta.at("batch_norm") != "0";
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
    auto net = nets::build_ednn(o.net, o.seed);
    const std::string path = (std::filesystem::path(o.out_dir) / "init.safetensors").string();
    nets::save_model(path, *net,
                     {{"preset", o.net.preset}, {"L", std::to_string(o.net.L)}, {"c0", std::to_string(o.net.c0)},
                      {"loss", o.loss}, {"transform", nets::transform_name(o.transform)},
                      {"seed", std::to_string(o.seed)}, {"epoch", "0"},
                      {"batch_norm", o.net.batch_norm ? "1" : "0"}});
    std::printf("train: initial %s network (%s parameters) written to %s\n", o.net.preset.c_str(),
                nets::with_commas(net->parameter_count()).c_str(), path.c_str());
    return 0;
  }
  if (cli.has("loss-toggle") && cli.has("loss-random"))
    throw io::UsageError("choose one of --loss-toggle and --loss-random");
  if (cli.has("loss-toggle")) {
    o.loss_alt = cli.get("loss-toggle");
    o.toggle_every = int(cli.integer("toggle-every"));
  }
  if (cli.has("loss-random")) {
    o.loss_alt = cli.get("loss-random");
    o.random_p = cli.number("random-p");
    if (!(o.random_p > 0 && o.random_p <= 1))
      throw io::UsageError(detail::concat("--random-p must be in (0, 1], got ", o.random_p));
  }
  parse_loss(o.loss);  // bad loss texts fail before any data is read or solved
  if (!o.loss_alt.empty()) parse_loss(o.loss_alt);
  if (!o.resume) {
    o.batch = int(cli.integer("batch"));
    o.lr = cli.number("lr");
  }
  o.epochs = int(cli.integer("epochs"));
  if (resumed_epochs > 0) o.epochs = resumed_epochs;
  o.device = parse_device(cli.get("device"));
  if (cli.has("tf32")) {
    set_allow_tf32(true);
    if (o.device != Device::cuda) std::fprintf(stderr, "train: --tf32 applies to the cuda device only; the cpu computes in float\n");
  }
  o.cuda_graph = cli.has("cuda-graph");
  EDNN_CHECK(!o.cuda_graph || o.device == Device::cuda, "train: --cuda-graph needs --device cuda (the device is ",
             device_name(o.device), ")");
  io::ProgressBar progress;
  o.progress = !cli.has("quiet") && root ? &progress : nullptr;
  o.sync_batch_norm = cli.has("sync-batch-norm");
  o.time_limit_s = cli.number("time-limit");
  o.max_steps = cli.integer("max-steps");

  // ---- data ----
  nets::TrainData data;
  std::unique_ptr<io::DatagenStore> file;
  std::unique_ptr<nets::SampleStore> online, online_test;
  std::unique_ptr<solver::BatchSolver> online_solver;  // null: the CPU solver
  if (cli.has("data")) {
    file = std::make_unique<io::DatagenStore>(cli.get("data"));
    const auto& info = file->reader().info();
    const double fraction = cli.number("fraction");
    EDNN_CHECK(fraction > 0 && fraction <= 1, "train: --fraction must be in (0, 1], got ", fraction);
    data.test = file.get();
    data.test_indices = dataset::test_indices(info);
    EDNN_CHECK(!data.test_indices.empty(), "train: data ", cli.get("data"),
               " has no test split (made with --test-fraction 0); it is needed to select the best epoch");
    if (!cli.has("online")) {
      data.train = file.get();
      const int train_n = int(cli.integer("train-n"));
      EDNN_CHECK(train_n == 0 || (train_n >= info.solver.min_sources && train_n <= info.solver.max_sources),
                 "train: --train-n ", train_n, " outside the data set's range ", info.solver.min_sources, "..",
                 info.solver.max_sources);
      data.train_indices = dataset::train_indices(info, fraction, train_n, int(cli.integer("subset")));
    }
    o.data_description = cli.get("data") + " fraction " + cli.get("fraction") +
                         (cli.integer("subset") > 0 ? " subset " + cli.get("subset") : std::string()) +
                         (cli.integer("train-n") > 0 ? " n " + cli.get("train-n") : std::string());
  } else {
    if (!cli.has("online")) throw io::UsageError("give --data FILE.h5 or --online (see --help)");
  }
  if (cli.has("online")) {
    solver::SolverConfig sc;
    if (file) sc = file->reader().info().solver;
    sc.L = o.net.L;
    if (!file) sc.max_sources = int(cli.integer("max-sources"));
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
    EDNN_CHECK(data.online_per_epoch > 0, "train: --online-per-epoch must be positive");
    if (!file) {
      const long n = cli.integer("online-test");
      EDNN_CHECK(n > 0, "train: --online-test must be positive");
      if (root) std::fprintf(stderr, "train: solving %ld test samples (a separate solver stream)\n", n);
      online_test = std::make_unique<nets::MemoryStore>(nets::generate_memory_store(
          sc, solver::SampleStream(o.seed * 2 + 2, solver::SampleDomain::online), n, online_solver.get()));
      data.test = online_test.get();
      for (long i = 0; i < n; ++i) data.test_indices.push_back(i);
    }
    o.data_description = std::string("online solver samples (") + (online_solver ? "cuda" : "cpu") + ")" +
                         (file ? ", test split of " + cli.get("data") : std::string());
  }

  if (root) {
    auto probe = nets::build_ednn(o.net, o.seed);
    std::fprintf(stderr,
                 "train: preset %s (L %d, c0 %d, %s parameters) on %s; %lld train samples%s, %zu test; batch %d, "
                 "lr %g, %d epochs, loss %s%s%s, transform %s%s\n",
                 o.net.preset.c_str(), o.net.L, o.net.c0, nets::with_commas(probe->parameter_count()).c_str(),
                 device_name(o.device),
                 (long long)(data.online_per_epoch > 0 ? data.online_per_epoch : std::int64_t(data.train_indices.size())),
                 data.online_per_epoch > 0 ? " per epoch (online)" : "", data.test_indices.size(), o.batch, o.lr,
                 o.epochs, o.loss.c_str(), o.loss_alt.empty() ? "" : " / ", o.loss_alt.c_str(),
                 nets::transform_name(o.transform),
                 o.device == Device::cuda && allow_tf32() ? "; convolutions in TF32" : "");
    if (comm->size() > 1)
      std::fprintf(stderr, "train: data parallel over %d ranks (%s): each step's %d samples shared out, gradients "
                           "summed; batch norm statistics %s\n",
                   comm->size(), comm->name(), o.batch, o.sync_batch_norm ? "of the whole batch" : "per rank");
  }
  const nets::TrainResult r = nets::train(o, data);
  if (!root) return 0;
  std::printf("train: done, %d epochs. Best test MAE %.6g at epoch %d.\n", r.last_epoch, r.best_mae, r.best_epoch);
  std::printf("  best checkpoint: %s\n  last checkpoint: %s (resume with: train --resume %s)\n  log:             %s\n",
              r.best_path.c_str(), r.last_path.c_str(), o.out_dir.c_str(), r.log_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("train", run, argc, argv); }
