// The one record of what a training run computes, and its one spelling as checkpoint metadata.
//
// Every checkpoint train writes (best.safetensors, last.safetensors, init.safetensors) carries
// these settings in its safetensors __metadata__, so that a checkpoint says how it was made:
// infer builds the network and evaluates it with the same transform and numerics, `train
// --resume` continues the same run, and `infer --sources` solves with the solver of the data the
// network learnt from. The keys, all written and read here only:
//
//   preset, L, c0, batch_norm (1/0)         the network (nets/ednn_cnn.h)
//   loss, loss_alt, toggle_every, random_p  the loss and its schedule (SPEC section 5)
//   transform                               none or sqrt
//   seed, lr, batch, epochs                 Adam and the run's target epoch count
//   min_steps                               at least this many Adam steps (raises the epochs)
//   select_on, evals, log_test              which split picks the best checkpoint, how often it
//                                           is evaluated, whether the test split is logged too
//   data                                    what the network trained and was tested on (see below)
//   conv_algo, tf32 (1/0), fusion (1/0)     the arithmetic (engine/numerics.h)
//   solver_model, solver_D, solver_gamma,   how the data's targets were solved (solver/solver.h)
//   solver_radius, solver_tol, solver_omega,
//   solver_max_sweeps, solver_min_sources, solver_max_sources
//
// Numbers are written in the shortest form that reads back to the same double. Checkpoints
// written before a key existed read as its default, except L and c0, which every checkpoint has.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "engine/numerics.h"
#include "nets/checkpoint.h"
#include "nets/ednn_cnn.h"
#include "nets/metrics.h"
#include "solver/solver.h"

namespace ednn::nets {

struct RunSettings {
  NetConfig net = preset_config("small");
  std::string loss = "mae";        // parse_loss text
  std::string loss_alt;            // second loss for a schedule
  int toggle_every = 0;            // > 0: alternate loss / loss_alt every k epochs
  double random_p = 0;             // > 0: each epoch use loss_alt with probability p
  Transform transform = Transform::none;
  int batch = 50;
  double lr = 1e-4;
  int epochs = 10;                 // total, counting epochs done before a resume
  int min_steps = 0;               // > 0: train at least this many Adam steps (planned_epochs below)
  // Which split picks best.safetensors: "validation" (the data file's validation split; the test
  // split is then left for the final evaluation alone) or "test" (the paper's rule: the best epoch
  // is chosen on the very test set it is then reported on, which can only flatter it).
  std::string select_on = "test";
  int evals = 0;                   // evaluations spread evenly over the epochs, the last one always; 0: every epoch
  bool log_test = false;           // select_on validation: also evaluate the test split and log it (never used to choose)
  std::uint64_t seed = 0;
  Numerics numerics;               // what the CUDA device computes with (the CPU: float)
  // The training and test data, e.g. "/abs/data.h5 fraction 0.25 subset 1 n 3" or "online (cpu),
  // test split of /abs/data.h5": a resume on other data is refused unless asked for.
  std::string data;
  std::optional<solver::SolverConfig> solver;  // the solver of the data's targets, when known

  Metadata to_metadata() const;
  // Reads what to_metadata wrote; `file` names the checkpoint in errors ("checkpoint F: metadata
  // 'lr' is 'abc', not a number").
  static RunSettings from_metadata(const Metadata& metadata, const std::string& file);
};

// Resume, decided here: the settings a resumed run continues with. `recorded` is what its
// checkpoint says; `given` holds the values of the options given again on the command line, and
// `options` names them (train's option names: "lr", "loss-toggle", ...). What a resume may change
// (each given value replaces the recorded one): epochs, lr, batch, seed, loss, the schedule
// (loss-toggle or loss-random with toggle-every or random-p; toggle-every or random-p alone change
// the recorded schedule's), conv-algo, tf32, no-fusion, min-steps, evals, log-test. What it may not, as an error naming both
// values: preset, no-batch-norm (another network) and select-on (another rule for the best
// checkpoint), and, unless allow_other_data, transform and
// the data (another problem: the best epoch would then be chosen among MAEs measured on different
// test sets). Any other option named is an error too.
RunSettings resume_settings(const RunSettings& recorded, const RunSettings& given, const std::set<std::string>& options,
                            bool allow_other_data, const std::string& checkpoint);

// The epochs a run trains: `epochs`, raised so that the run takes at least min_steps Adam steps of
// ceil(samples_per_epoch / batch) each. Small training sets otherwise stop after a few dozen steps
// (20 samples, batch 16, 100 epochs: 200 steps), far from where they would plateau.
int planned_epochs(const RunSettings& settings, std::int64_t samples_per_epoch);
// Whether the run evaluates after epoch `epoch` (1-based) of `planned`: every epoch when evals is
// 0, else evals times, after epochs ceil(k planned / evals), k = 1..evals (so always after the last).
bool evaluates_after(int epoch, int planned, int evals);

// The shortest text that reads back as the same double ("0.0001", "0.002", "1e-06").
std::string number_text(double value);

}  // namespace ednn::nets
