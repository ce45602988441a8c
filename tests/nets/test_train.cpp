// The training loop on the tiny preset: a few steps lower the loss; a resumed run gives the same
// weights as an uninterrupted one on the CPU (bitwise); schedules and bad options.
#include <algorithm>
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/device.h"
#include "nets/checkpoint.h"
#include "nets/trainer.h"
#if EDNN_WITH_CUDA
#include "engine/cuda_device.h"
#endif
#include "tests/test_helpers.h"

using namespace ednn;
using namespace ednn::nets;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) { return ednn::test::fresh_temp_dir(name); }


// 24 training and 8 test samples at L = 64, solved once for all test cases.
struct TinyData {
  MemoryStore train_store, test_store;
  TinyData() : train_store(make(1, 24)), test_store(make(2, 8)) {}
  static MemoryStore make(std::uint64_t seed, int count) {
    solver::SolverConfig c;
    c.L = 64;
    c.max_sources = 6;
    return generate_memory_store(c, seed, count);
  }
  TrainData data() {
    TrainData d;
    d.train = &train_store;
    d.test = &test_store;
    for (int i = 0; i < 24; ++i) d.train_indices.push_back(i);
    for (int i = 0; i < 8; ++i) d.test_indices.push_back(i);
    return d;
  }
};
TinyData& tiny_data() {
  static TinyData d;
  return d;
}

TrainOptions tiny_options(const fs::path& out, int epochs) {
  TrainOptions o;
  o.net = preset_config("tiny");
  o.batch = 8;
  o.lr = 2e-3;
  o.epochs = epochs;
  o.seed = 5;
  o.out_dir = out.string();
  o.progress = nullptr;  // no progress bar
  return o;
}

}  // namespace

TEST_CASE("train: a few steps of the tiny preset lower the loss and write the outputs") {
  const fs::path out = temp_dir("train_lower");
  TrainData d = tiny_data().data();
  const TrainResult r = train(tiny_options(out, 4), d);
  REQUIRE(r.epochs.size() == 4);
  CHECK(r.epochs.back().train_loss < r.epochs.front().train_loss);
  CHECK(r.epochs.back().test_mae < r.epochs.front().test_mae);
  CHECK(fs::exists(out / "best.safetensors"));
  CHECK(fs::exists(out / "last.safetensors"));
  CHECK(fs::exists(out / "last.optim.safetensors"));
  CHECK(fs::exists(out / "train_log.csv"));
  const Metadata m = read_metadata((out / "best.safetensors").string());
  CHECK(m.at("preset") == "tiny");
  CHECK(m.at("epoch") == std::to_string(r.best_epoch));
  fs::remove_all(out);
}

TEST_CASE("train: resume equals an uninterrupted run on the CPU, bitwise") {
  const fs::path a = temp_dir("train_full"), b = temp_dir("train_resumed");
  TrainData d = tiny_data().data();
  train(tiny_options(a, 3), d);
  train(tiny_options(b, 2), d);
  TrainOptions resumed = tiny_options(b, 3);
  resumed.resume = true;
  const TrainResult r = train(resumed, d);
  CHECK(r.epochs.size() == 1);
  CHECK(r.last_epoch == 3);
  const SafetensorsFile fa = read_safetensors((a / "last.safetensors").string());
  const SafetensorsFile fb = read_safetensors((b / "last.safetensors").string());
  REQUIRE(fa.tensors.size() == fb.tensors.size());
  for (std::size_t i = 0; i < fa.tensors.size(); ++i) {
    CAPTURE(fa.tensors[i].name);
    CHECK(fa.tensors[i].integer == fb.tensors[i].integer);  // num_batches_tracked
    if (fa.tensors[i].tensor.defined()) CHECK(fa.tensors[i].tensor.to_vector() == fb.tensors[i].tensor.to_vector());
  }
  // PyTorch's count of training-mode batches: 3 epochs of 3 steps (24 samples, batch 8), across the resume.
  for (const SafetensorsFile* f : {&fa, &fb}) {
    const auto count = std::find_if(f->tensors.begin(), f->tensors.end(),
                                    [](const NamedArray& t) { return t.name == "1.num_batches_tracked"; });
    REQUIRE(count != f->tensors.end());
    CHECK(count->integer == std::optional<std::int64_t>(9));
  }
  const SafetensorsFile oa = read_safetensors((a / "last.optim.safetensors").string());
  const SafetensorsFile ob = read_safetensors((b / "last.optim.safetensors").string());
  CHECK(oa.metadata.at("step") == ob.metadata.at("step"));
  CHECK(oa.metadata.at("best_mae") == ob.metadata.at("best_mae"));
  // The log holds one row per epoch after the resume too.
  std::ifstream log(b / "train_log.csv");
  int lines = 0;
  for (std::string line; std::getline(log, line);) ++lines;
  CHECK(lines == 4);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("train: loss schedules are pure functions of (seed, epoch)") {
  TrainOptions o;
  o.loss = "mae";
  o.loss_alt = "mse";
  o.toggle_every = 2;
  CHECK(loss_for_epoch(o, 0) == "mae");
  CHECK(loss_for_epoch(o, 1) == "mae");
  CHECK(loss_for_epoch(o, 2) == "mse");
  CHECK(loss_for_epoch(o, 4) == "mae");
  o.toggle_every = 0;
  o.random_p = 0.5;
  int alt = 0;
  for (int e = 0; e < 400; ++e) alt += loss_for_epoch(o, e) == "mse";
  CHECK(alt > 150);
  CHECK(alt < 250);
  CHECK(loss_for_epoch(o, 17) == loss_for_epoch(o, 17));
  const auto p = epoch_order(3, 1, 10), q = epoch_order(3, 2, 10);
  CHECK(p != q);
  CHECK(p == epoch_order(3, 1, 10));
}

TEST_CASE("train: bad options and data give clear errors") {
  TrainData d = tiny_data().data();
  const fs::path out = temp_dir("train_bad");
  TrainOptions o = tiny_options(out, 1);
  o.net = preset_config("small");
  CHECK_THROWS_WITH_AS(train(o, d), doctest::Contains("has L = 64 but preset small expects L = 128"), Error);
  o = tiny_options(out, 1);
  o.loss = "mea";
  CHECK_THROWS_AS(train(o, d), Error);
  o = tiny_options(out, 1);
  o.resume = true;
  CHECK_THROWS_WITH_AS(train(o, d), doctest::Contains("does not exist"), Error);
  // An output "directory" that is a file.
  fs::create_directories(out);
  std::ofstream(out / "file") << "x";
  o = tiny_options(out / "file" / "sub", 1);
  CHECK_THROWS_WITH_AS(train(o, d), doctest::Contains("cannot create output directory"), Error);
  fs::remove_all(out);
}

TEST_CASE("train: a non-finite loss stops training naming the step and keeps the last good checkpoint") {
  const fs::path out = temp_dir("train_nan");
  TinyData& base = tiny_data();
  TrainData clean = base.data();
  train(tiny_options(out, 1), clean);  // one good epoch
  auto bytes = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string good = bytes(out / "last.safetensors");
  MemoryStore poisoned = base.train_store;
  poisoned.targets[100] = std::numeric_limits<float>::quiet_NaN();
  TrainData d = base.data();
  d.train = &poisoned;
  TrainOptions o = tiny_options(out, 2);
  o.resume = true;
  CHECK_THROWS_WITH_AS(train(o, d), doctest::Contains("non-finite loss (nan) at epoch 2, step"), Error);
  CHECK(bytes(out / "last.safetensors") == good);
  fs::remove_all(out);
}

#if EDNN_WITH_CUDA
TEST_CASE("train: --cuda-graph takes the same steps as eager training on the cuda device, bitwise") {
  if (!cuda::runtime_available()) {
    MESSAGE("skipped: no usable CUDA device");
    return;
  }
  // L = 32, c0 = 2: small enough for the emulated device. 14 samples in batches of 4: each epoch
  // steps eagerly, captures, replays, then meets a partial batch (eager again); the loss changes
  // after two epochs, so the graph is dropped and captured again for each new (batch size, loss).
  solver::SolverConfig c;
  c.L = 32;
  c.max_sources = 4;
  MemoryStore train_store = generate_memory_store(c, 3, 14), test_store = generate_memory_store(c, 4, 2);
  TrainData d;
  d.train = &train_store;
  d.test = &test_store;
  for (int i = 0; i < 14; ++i) d.train_indices.push_back(i);
  d.test_indices = {0, 1};
  auto options = [&](const fs::path& out, bool graph) {
    TrainOptions o;
    o.net = NetConfig{"custom", 32, 2};
    o.batch = 4;
    o.lr = 1e-3;
    o.epochs = 3;
    o.seed = 2;
    o.loss = "exp-mae:w=1";
    o.loss_alt = "exp-huber:w=1,delta=0.3";
    o.toggle_every = 2;
    o.device = Device::cuda;
    o.out_dir = out.string();
    o.progress = nullptr;  // no progress bar
    o.cuda_graph = graph;
    return o;
  };
  const fs::path a = temp_dir("train_eager_cuda"), b = temp_dir("train_graph_cuda");
  const TrainResult eager = train(options(a, false), d), graphed = train(options(b, true), d);
  REQUIRE(graphed.epochs.size() == eager.epochs.size());
  for (std::size_t e = 0; e < eager.epochs.size(); ++e) {
    CAPTURE(e);
    CHECK(graphed.epochs[e].train_loss == eager.epochs[e].train_loss);
    CHECK(graphed.epochs[e].test_mae == eager.epochs[e].test_mae);
  }
  for (const char* file : {"last.safetensors", "last.optim.safetensors"}) {
    const SafetensorsFile fa = read_safetensors((a / file).string()), fb = read_safetensors((b / file).string());
    REQUIRE(fa.tensors.size() == fb.tensors.size());
    for (std::size_t i = 0; i < fa.tensors.size(); ++i) {
      CAPTURE(fa.tensors[i].name);
      CHECK(fa.tensors[i].integer == fb.tensors[i].integer);  // num_batches_tracked
      if (fa.tensors[i].tensor.defined()) CHECK(fa.tensors[i].tensor.to_vector() == fb.tensors[i].tensor.to_vector());
    }
  }
  CHECK(read_safetensors((b / "last.optim.safetensors").string()).metadata.at("step") ==
        read_safetensors((a / "last.optim.safetensors").string()).metadata.at("step"));
  fs::remove_all(a);
  fs::remove_all(b);
}
#endif

TEST_CASE("train: planned epochs and the evaluation schedule") {
  RunSettings s;
  s.epochs = 100;
  s.batch = 16;
  CHECK(planned_epochs(s, 20) == 100);  // no min_steps: just the epochs
  s.min_steps = 1500;
  CHECK(planned_epochs(s, 20) == 750);   // 2 steps an epoch (16 + 4)
  CHECK(planned_epochs(s, 80) == 300);   // 5 steps an epoch
  CHECK(planned_epochs(s, 400) == 100);  // 25 steps an epoch: 2,500 steps already
  CHECK(planned_epochs(s, 200) == 116);  // 13 steps an epoch: ceil(1500 / 13)
  // 10 evaluations over 750 epochs: after epochs 75, 150, ..., 750; every epoch without evals.
  std::vector<int> after;
  for (int e = 1; e <= 750; ++e)
    if (evaluates_after(e, 750, 10)) after.push_back(e);
  CHECK(after == std::vector<int>{75, 150, 225, 300, 375, 450, 525, 600, 675, 750});
  after.clear();
  for (int e = 1; e <= 7; ++e)
    if (evaluates_after(e, 7, 3)) after.push_back(e);
  CHECK(after == std::vector<int>{3, 5, 7});  // ceil(7 k / 3), k = 1..3
  for (int e = 1; e <= 5; ++e) CHECK(evaluates_after(e, 5, 0));
  for (int e = 1; e <= 5; ++e) CHECK(evaluates_after(e, 5, 9));  // more evaluations than epochs: every epoch
}

TEST_CASE("train: --select-on validation picks the best epoch on the validation split; the test split is only logged") {
  const fs::path out = temp_dir("train_select_validation");
  TrainData d = tiny_data().data();
  // The validation split: 8 other samples (the test store's first 4 and the train store's last 4
  // would do as well; what matters is that it differs from the test split).
  static MemoryStore validation_store = TinyData::make(3, 8);
  d.validation = &validation_store;
  for (int i = 0; i < 8; ++i) d.validation_indices.push_back(i);
  TrainOptions o = tiny_options(out, 6);
  o.select_on = "validation";
  o.log_test = true;
  o.evals = 3;
  const TrainResult r = train(o, d);
  REQUIRE(r.epochs.size() == 6);
  // Evaluated after epochs 2, 4 and 6 only, both splits.
  double best = std::numeric_limits<double>::infinity();
  int best_epoch = 0;
  for (const EpochRecord& e : r.epochs) {
    CAPTURE(e.epoch);
    const bool evaluated = e.epoch % 2 == 0;
    CHECK(std::isnan(e.validation_mae) == !evaluated);
    CHECK(std::isnan(e.test_mae) == !evaluated);
    if (evaluated && e.validation_mae < best) {
      best = e.validation_mae;
      best_epoch = e.epoch;
    }
  }
  // The best epoch is the one of lowest validation MAE, whatever the test MAE says.
  CHECK(r.best_epoch == best_epoch);
  CHECK(r.best_mae == best);
  const Metadata m = read_metadata((out / "best.safetensors").string());
  CHECK(m.at("epoch") == std::to_string(best_epoch));
  CHECK(m.at("select_on") == "validation");
  CHECK(m.at("evals") == "3");
  // An independent score of best.safetensors on the validation split equals the logged one.
  auto net = build_ednn(o.net, 0);
  load_model((out / "best.safetensors").string(), *net);
  const EvalResult again = evaluate(*net, validation_store, d.validation_indices, parse_loss("mae"), Transform::none,
                                    8, Device::cpu);
  CHECK(std::fabs(again.metrics.overall.mae(kAll) - best) <= 1e-6 * best);
  // The log has empty evaluation cells after the epochs that were not evaluated.
  std::ifstream log(out / "train_log.csv");
  std::string header, row1;
  std::getline(log, header);
  std::getline(log, row1);
  CHECK(header == "epoch,loss,train_loss,validation_loss,validation_mae,test_loss,test_mae,samples_per_s,seconds,best");
  CHECK(row1.find(",,,,") != std::string::npos);

  // Selecting on a split that is absent is an error, before any step.
  TrainData no_validation = tiny_data().data();
  CHECK_THROWS_AS(train(o, no_validation), Error);
}
