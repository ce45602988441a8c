// Training the ED-CNN (SPEC sections 5 and 6) as a library call: what `train` runs, and what the
// tests run in-process.
//
// Determinism. The network is a pure function of the seed; the order of the training samples in
// epoch e is a permutation that depends only on (seed, e); the loss of epoch e under a random
// schedule is drawn from (seed, e) alone; online samples of epoch e are the solver stream indices
// [e P, (e + 1) P). So a run resumed from the end of any epoch (model, Adam moments and step in
// DIR/last*.safetensors) repeats exactly the steps an uninterrupted run takes, and on the CPU
// gives bit-identical weights.
//
// Data parallelism (TrainOptions::comm, a job of K processes under mpirun or srun). Every rank
// walks the same epoch order; each step's global batch of B samples is split into K contiguous
// shares (share_of), each rank computes the loss of its share, scaled by its share of the batch
// (n_r / B), and the gradients are summed over the ranks as one bucket before Adam steps, so every
// rank takes the same step as one process on the whole batch, up to the order of float sums. Batch
// norm normalises each rank's share with that share's statistics by default (PyTorch's DDP does the
// same), which is not the whole batch's: the running statistics are averaged over the ranks before
// each evaluation. With sync_batch_norm it uses the whole batch's (engine/sync_batch_norm.h: two
// small all-reduces per step), and the step is one process's again, up to rounding. The test split is shared
// out the same way and its sums gathered on rank 0. Only rank 0 writes checkpoints and the log;
// every rank reads them on --resume, so a run may be resumed with any number of ranks.
//
// Outputs in out_dir: best.safetensors (lowest plain MAE over all pixels, whatever loss was active,
// on the split options.select_on names: the validation split, or the test split by the paper's
// rule), last.safetensors and last.optim.safetensors (resume state), train_log.csv (one row per
// epoch; the evaluation columns are empty after epochs that options.evals skips). After each evaluation (each epoch, unless options.evals spreads fewer) the four are
// committed as one unit (nets/run_directory.h), so a kill at any instant leaves one evaluated epoch's state; a non-finite loss stops training with an error
// naming the step and leaves the files of the last good epoch untouched. An out_dir that holds a
// run is refused unless resume or overwrite says what to do with it.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/communicator.h"
#include "core/loss_spec.h"
#include "engine/modules.h"
#include "engine/tensor.h"
#include "nets/ednn_cnn.h"
#include "nets/metrics.h"
#include "nets/run_settings.h"
#include "nets/progress.h"
#include "nets/samples.h"

namespace ednn::nets {

// What a run computes (RunSettings, recorded in its checkpoints) and how this process runs it.
struct TrainOptions : RunSettings {
  Device device = Device::cpu;
  std::string out_dir;
  bool resume = false;             // continue from out_dir/last.safetensors
  bool overwrite = false;          // replace a run that out_dir holds (without it, such a directory is refused)
  Progress* progress = nullptr;    // told of each epoch's steps (train draws them: apps/progress.h); null: silent
  std::int64_t max_steps = -1;     // stop each epoch after this many steps (tests); -1: all
  double time_limit_s = 0;         // > 0: once this much time has passed, the epoch ends early (evaluated
                                   // and saved) and training stops; such a run is not resumable bit-exactly
  bool cuda_graph = false;         // device cuda: capture the training step in a CUDA graph and replay it
                                   // (engine/cuda_graph.h); the same steps, bit for bit, fewer launches
  Communicator* comm = nullptr;    // a data-parallel job (see above); null: one process
  bool sync_batch_norm = false;    // with comm: batch norm with the statistics of the whole batch
  std::string init_from;           // a fresh run starts from these weights (an ednn checkpoint or a
                                   // state_dict PyTorch saved; its num_batches_tracked carries on)
  std::string provenance;          // JSON text recorded as metadata `provenance` in every checkpoint
                                   // (the program builds it: apps/numerics_options.h run_provenance)
};

struct TrainData {
  SampleStore* train = nullptr;
  std::vector<std::int64_t> train_indices;  // shuffled per epoch
  std::int64_t online_per_epoch = 0;        // > 0: train on fresh indices [e P, (e + 1) P), no shuffle
  SampleStore* test = nullptr;              // the test split: picks the best checkpoint when select_on is
  std::vector<std::int64_t> test_indices;   // "test"; otherwise only logged, with log_test
  SampleStore* validation = nullptr;        // the validation split: picks it when select_on is "validation"
  std::vector<std::int64_t> validation_indices;
};

struct EpochRecord {
  int epoch = 0;                // 1-based
  std::string loss;             // active loss text
  double train_loss = 0;
  // The evaluations after this epoch; NaN where a split was not evaluated (an epoch that
  // options.evals skips, or a split that is neither selected on nor logged).
  double validation_loss = NAN, validation_mae = NAN, test_loss = NAN, test_mae = NAN;
  double samples_per_s = 0, seconds = 0;
  bool best = false;
};

struct TrainResult {
  std::vector<EpochRecord> epochs;   // this run's epochs
  int last_epoch = 0;
  double best_mae = 0;               // on the split options.select_on names
  int best_epoch = 0;
  int planned_epochs = 0;            // planned_epochs(options, samples per epoch)
  std::string best_path, last_path, log_path;
};

// The active loss text of epoch e (0-based) under the options' schedule.
std::string loss_for_epoch(const TrainOptions& options, int epoch);
// The permutation of [0, n) used in epoch e.
std::vector<std::int64_t> epoch_order(std::uint64_t seed, int epoch, std::int64_t n);

// Evaluation in eval mode without gradients: mean loss (spec) and MAE metrics on the untransformed
// values; predictions (optional) receive [N, 1, L, L] untransformed.
struct EvalResult {
  double loss = 0;
  MetricsTable metrics;
};
EvalResult evaluate(Module& net, SampleStore& store, const std::vector<std::int64_t>& indices, const LossSpec& spec,
                    Transform transform, int batch, Device device,
                    const std::function<void(std::int64_t first, const float* predictions, int count)>& sink = {},
                    Progress* progress = nullptr);

TrainResult train(const TrainOptions& options, TrainData& data);

}  // namespace ednn::nets
