#include "nets/trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>

#include "engine/autograd.h"
#include "engine/device.h"
#include "core/error.h"
#include "engine/functional.h"
#include "engine/optim.h"
#include "nets/checkpoint.h"
#include "nets/progress.h"
#include "nets/run_directory.h"
#if EDNN_WITH_CUDA
#include "engine/cuda_graph.h"
#endif

namespace ednn::nets {

namespace fs = std::filesystem;

namespace {

std::uint64_t splitmix(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A host buffer [count, 1, L, L] as a tensor on `device` (the one explicit host-to-device copy).
Tensor to_device(const std::vector<float>& host, int count, int L, Device device) {
  Tensor t = Tensor::empty({count, 1, L, L});
  std::memcpy(t.data<float>(), host.data(), std::size_t(count) * L * L * sizeof(float));
  return t.to(device);
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

// The training step, eager or replayed from a CUDA graph (TrainOptions::cuda_graph). A graph
// fixes the step's shapes, its loss and its input tensors: it is captured for one (batch size,
// loss) pair and read its batch from two tensors of its own, which each step refills. The first
// step of a pair runs eagerly (Adam writes its state on the device from the host then, which a
// capture cannot record); the second is captured and replayed, the later ones replayed.
class TrainingStep {
public:
  TrainingStep(Sequential& net, Adam& adam, Device device, bool use_graph, Communicator* comm)
      : net_(net), adam_(adam), device_(device), use_graph_(use_graph), comm_(comm && comm->size() > 1 ? comm : nullptr) {
    EDNN_CHECK(!use_graph || !comm_, "train: --cuda-graph runs one process; a job of ", comm ? comm->size() : 1,
               " ranks steps eagerly");
#if !EDNN_WITH_CUDA
    EDNN_CHECK(!use_graph, "train: --cuda-graph needs ednn built with CUDA");
#endif
    EDNN_CHECK(!use_graph || device == Device::cuda, "train: --cuda-graph applies to the cuda device only");
  }

  // One step on the batch x, y [count, 1, L, L] (host); returns the loss before the update.
  // `check` sees the loss value; if it throws, an eager step has not updated the weights (a
  // replayed one has: a graph cannot stop half way). In a data-parallel job x, y are this rank's
  // share of the global batch, `weight` its fraction of the batch's samples, and the value
  // returned is the loss of the whole batch.
  template <class Check>
  double run(const std::vector<float>& x, const std::vector<float>& y, int count, int L, const std::string& loss_text,
             const LossSpec& spec, Check&& check, double weight = 1) {
#if EDNN_WITH_CUDA
    if (use_graph_) return replayed(x, y, count, L, loss_text, spec, check);
#endif
    return eager(x, y, count, L, spec, check, weight);
  }

private:
  template <class Check>
  double eager(const std::vector<float>& x, const std::vector<float>& y, int count, int L, const LossSpec& spec,
               Check&& check, double weight = 1) {
    adam_.zero_grad();
    Tensor loss = weighted_loss(net_.forward(to_device(x, count, L, device_)), to_device(y, count, L, device_), spec);
    double value = loss.item();  // read back every step: the progress bar and the finite check
    check(value);
    if (!comm_) {
      loss.backward();
    } else {
      // d(batch loss)/d(share loss) = weight; the ranks' gradients then sum to the batch's.
      loss.backward(Tensor::full(loss.shape(), weight, loss.dtype(), device_));
      std::vector<Tensor> grads;
      for (Tensor& p : net_.parameters()) grads.push_back(p.grad());
      comm_->all_reduce_sum(grads);
      value *= weight;
      comm_->all_reduce_sum(&value, 1);
    }
    adam_.step();
    return value;
  }

#if EDNN_WITH_CUDA
  template <class Check>
  double replayed(const std::vector<float>& x, const std::vector<float>& y, int count, int L,
                  const std::string& loss_text, const LossSpec& spec, Check&& check) {
    if (count != count_ || loss_text != loss_text_) {  // a new pair: drop the graph, step eagerly
      graph_.reset();
      loss_ = Tensor();
      count_ = count;
      loss_text_ = loss_text;
      x_ = Tensor::empty({count, 1, L, L}, DType::f32, device_);
      y_ = Tensor::empty({count, 1, L, L}, DType::f32, device_);
      return eager(x, y, count, L, spec, check);
    }
    // Straight from the host batch (a synchronous copy: it waits for the previous replay, which reads x_).
    device_copy(x_.raw_data(), device_, x.data(), Device::cpu, x.size() * sizeof(float));
    device_copy(y_.raw_data(), device_, y.data(), Device::cpu, y.size() * sizeof(float));
    if (!graph_) {
      graph_.emplace(adam_, [&] {  // capturing runs nothing: the replay below takes the step
        adam_.zero_grad();
        loss_ = weighted_loss(net_.forward(x_), y_, spec);
        loss_.backward();
        adam_.step();
      });
    }
    graph_->replay();
    const double value = loss_.item();
    check(value);
    return value;
  }
#endif

  Sequential& net_;
  Adam& adam_;
  Device device_;
  bool use_graph_;
  Communicator* comm_;  // null: one process
#if EDNN_WITH_CUDA
  std::optional<cuda::CapturedTrainingStep> graph_;
  Tensor x_, y_, loss_;
  int count_ = -1;
  std::string loss_text_;
#endif
};

// Empty evaluation fields: that split was not evaluated after that epoch.
const char* kLogHeader =
    "epoch,loss,train_loss,validation_loss,validation_mae,test_loss,test_mae,samples_per_s,seconds,best";

// A log field: the value, or nothing when it was not measured.
std::string field(double value) { return std::isnan(value) ? std::string() : fmt(value); }

}  // namespace

std::vector<std::int64_t> epoch_order(std::uint64_t seed, int epoch, std::int64_t n) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const std::uint64_t key = splitmix(seed ^ 0x5EEDull) ^ splitmix(0xE90C0000ull + std::uint64_t(epoch));
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const std::uint64_t r = splitmix(key + std::uint64_t(i));
    std::swap(order[std::size_t(i)], order[std::size_t(r % std::uint64_t(i + 1))]);
  }
  return order;
}

std::string loss_for_epoch(const TrainOptions& o, int epoch) {
  if (o.loss_alt.empty()) return o.loss;
  if (o.toggle_every > 0) return (epoch / o.toggle_every) % 2 == 0 ? o.loss : o.loss_alt;
  if (o.random_p > 0) {
    const double u = double(splitmix(splitmix(o.seed ^ 0x10550ull) + std::uint64_t(epoch)) >> 11) * 0x1.0p-53;
    return u < o.random_p ? o.loss_alt : o.loss;
  }
  return o.loss;
}

EvalResult evaluate(Module& net, SampleStore& store, const std::vector<std::int64_t>& indices, const LossSpec& spec,
                    Transform transform, int batch, Device device,
                    const std::function<void(std::int64_t, const float*, int)>& sink, Progress* progress) {
  NoGradGuard no_grad;
  net.eval();
  EvalResult r;
  const int L = store.L();
  const std::int64_t px = std::int64_t(L) * L;
  std::vector<float> x, y, xt, yt;
  std::vector<int> n;
  double loss_sum = 0;
  if (progress) progress->start("evaluate", std::int64_t(indices.size()), "samples");
  for (std::size_t first = 0; first < indices.size(); first += std::size_t(batch)) {
    const int count = int(std::min<std::size_t>(std::size_t(batch), indices.size() - first));
    x.resize(std::size_t(count * px));
    y.resize(x.size());
    n.resize(std::size_t(count));
    store.read(std::span<const std::int64_t>(indices.data() + first, std::size_t(count)), x.data(),
               store.has_targets() ? y.data() : nullptr, n.data());
    xt = x;
    apply_transform(transform, xt.data(), std::int64_t(xt.size()));
    Tensor pred = net.forward(to_device(xt, count, L, device));
    if (store.has_targets()) {
      yt = y;
      apply_transform(transform, yt.data(), std::int64_t(yt.size()));
      loss_sum += weighted_loss(pred, to_device(yt, count, L, device), spec).item() * count;
    }
    Tensor host = pred.to(Device::cpu);
    std::vector<float> p(host.data<float>(), host.data<float>() + count * px);
    invert_transform(transform, p.data(), std::int64_t(p.size()));
    if (store.has_targets())
      for (int k = 0; k < count; ++k)
        r.metrics.add(n[std::size_t(k)], x.data() + k * px, y.data() + k * px, p.data() + k * px, px);
    if (sink) sink(std::int64_t(first), p.data(), count);
    if (progress) progress->update(std::int64_t(first) + count, "");
  }
  if (progress) progress->finish("");
  r.loss = indices.empty() ? 0 : loss_sum / double(indices.size());
  return r;
}

namespace {

// The running statistics (buffers) of every rank replaced by their mean over the ranks: summed
// where they live (NCCL reduces CUDA tensors only), then divided on the host ([C] values).
void average_buffers(Module& net, Communicator& comm) {
  for (const NamedTensor& s : net.state()) {
    if (s.trainable || s.tensor->dtype() != DType::f32) continue;
    comm.all_reduce_sum({*s.tensor});
    Tensor host = s.tensor->to(Device::cpu);
    for (float* v = host.data<float>(), *end = v + host.numel(); v != end; ++v) *v /= float(comm.size());
    device_copy(s.tensor->raw_data(), s.tensor->device(), host.raw_data(), Device::cpu, host.nbytes());
  }
}

// One rank's evaluation sums as bytes: loss sum, record count, then one record (n, abs_sum[],
// count[]) for the overall sums (n = -1) and one per n.
std::vector<unsigned char> pack_evaluation(const EvalResult& r, std::int64_t samples) {
  std::vector<double> v{r.loss * double(samples), double(1 + r.metrics.per_n.size())};
  auto add = [&](int n, const RegionErrors& e) {
    v.push_back(n);
    for (int k = 0; k < kRegionCount; ++k) v.push_back(e.abs_sum[std::size_t(k)]);
    for (int k = 0; k < kRegionCount; ++k) v.push_back(double(e.count[std::size_t(k)]));
  };
  add(-1, r.metrics.overall);
  for (const auto& [n, e] : r.metrics.per_n) add(n, e);
  std::vector<unsigned char> bytes(v.size() * sizeof(double));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

// Rank 0: the ranks' packed sums merged into the evaluation of the whole test split.
EvalResult unpack_evaluations(const std::vector<unsigned char>& bytes, std::int64_t samples) {
  std::vector<double> v(bytes.size() / sizeof(double));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(double));
  EvalResult r;
  double loss_sum = 0;
  const std::size_t record = 1 + 2 * kRegionCount;
  for (std::size_t at = 0; at + 2 <= v.size();) {  // one block per rank
    loss_sum += v[at];
    const std::size_t records = std::size_t(v[at + 1]);
    at += 2;
    for (std::size_t k = 0; k < records; ++k, at += record) {
      RegionErrors e;
      for (std::size_t region = 0; region < kRegionCount; ++region) {
        e.abs_sum[region] = v[at + 1 + region];
        e.count[region] = std::int64_t(v[at + 1 + kRegionCount + region]);
      }
      if (v[at] < 0) r.metrics.overall.merge(e);
      else r.metrics.per_n[int(v[at])].merge(e);
    }
  }
  r.loss = samples > 0 ? loss_sum / double(samples) : 0;
  return r;
}

}  // namespace

TrainResult train(const TrainOptions& o, TrainData& data) {
  validate(o.net);
  set_numerics(o.numerics);  // before the network is built: fusion is decided then
  EDNN_CHECK(o.batch > 0, "train: --batch must be positive, got ", o.batch);
  EDNN_CHECK(o.epochs > 0, "train: --epochs must be positive, got ", o.epochs);
  EDNN_CHECK(o.lr > 0 && std::isfinite(o.lr), "train: --lr must be positive, got ", o.lr);
  EDNN_CHECK(!o.out_dir.empty(), "train: --out DIR is required");
  EDNN_CHECK(o.select_on == "validation" || o.select_on == "test", "train: select_on '", o.select_on,
             "', expected validation or test");
  const bool on_validation = o.select_on == "validation";
  EDNN_CHECK(data.train != nullptr && (on_validation ? data.validation : data.test) != nullptr,
             "train: no training data or no ", o.select_on, " data");
  EDNN_CHECK(data.online_per_epoch > 0 || !data.train_indices.empty(), "train: the training set ", data.train->name(),
             " selects no samples");
  EDNN_CHECK(!o.log_test || (on_validation && data.test != nullptr),
             "train: log_test logs the test split beside the validation split that selects; it needs both");
  const bool on_test = !on_validation || o.log_test;  // the test split is evaluated
  if (on_validation)
    EDNN_CHECK(!data.validation_indices.empty(), "train: the validation set ", data.validation->name(),
               " selects no samples");
  if (on_test) EDNN_CHECK(!data.test_indices.empty(), "train: the test set ", data.test->name(), " selects no samples");
  for (SampleStore* s : {data.train, on_validation ? data.validation : nullptr, on_test ? data.test : nullptr})
    EDNN_CHECK(!s || s->L() == o.net.L, "train: ", s->name(), " has L = ", s->L(), " but preset ", o.net.preset,
               " expects L = ", o.net.L);
  const LossSpec main_spec = parse_loss(o.loss);  // validates the texts before any work
  if (!o.loss_alt.empty()) parse_loss(o.loss_alt);

  Communicator* const comm = o.comm && o.comm->size() > 1 ? o.comm : nullptr;  // null: one process
  const bool root = !comm || comm->is_root();  // writes the checkpoints and the log
  const int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;

  // The output directory must be writable before hours are spent training, and hold no other run:
  // a finished run is only continued (resume) or replaced on request (overwrite), never lost.
  std::error_code ec;
  if (root && fs::is_directory(o.out_dir)) {
    if (!o.resume && o.overwrite) {
      remove_run(o.out_dir);
    } else {
      // The last committed epoch, uncommitted files gone. (apps/train.cpp has already done it on
      // --resume, to read the run's settings; then this finds nothing left to do.)
      const Recovery r = recover(o.out_dir);
      for (const std::string& line : r.report("train", o.out_dir)) std::fprintf(stderr, "%s\n", line.c_str());
      EDNN_CHECK(o.resume || !holds_run(o.out_dir), "train: ", o.out_dir, " holds a training run",
                 r.epoch >= 0 ? " (committed through epoch " + std::to_string(r.epoch) + ")" : std::string(),
                 "; continue it with --resume ", o.out_dir, ", or replace it with --overwrite, or choose another --out");
    }
  }
  if (comm) comm->barrier();  // the other ranks read the checkpoints only once rank 0 has recovered them
  if (root) fs::create_directories(o.out_dir, ec);
  if (ec) fail("train: cannot create output directory ", o.out_dir, ": ", ec.message());
  if (root) {
    const std::string probe = (fs::path(o.out_dir) / ".write_test").string();
    std::ofstream f(probe);
    if (!f) fail("train: output directory ", o.out_dir, " is not writable");
    f.close();
    fs::remove(probe, ec);
  }

  TrainResult result;
  result.best_path = (fs::path(o.out_dir) / run_files::best).string();
  result.last_path = (fs::path(o.out_dir) / run_files::last).string();
  result.log_path = (fs::path(o.out_dir) / run_files::log).string();
  const std::string last_optim = (fs::path(o.out_dir) / run_files::last_optim).string();

  auto net = build_ednn(o.net, o.seed);
  net->to(o.device);
  Adam adam(net->parameters(), AdamConfig{o.lr});

  // PyTorch's num_batches_tracked, the batch norm's training-mode forward passes: one per step,
  // so batches_before_steps + adam.steps(), where batches_before_steps is what --init-from's
  // file had counted (0 for fresh weights), recovered on resume from last.safetensors.
  std::int64_t batches_before_steps = 0;
  std::string init_record = o.init_from;  // the file the run started from, kept across resumes
  if (!o.init_from.empty() && !o.resume) {
    std::int64_t counted = -1;
    load_model(o.init_from, *net, &counted);
    batches_before_steps = std::max<std::int64_t>(counted, 0);
  }
  int start_epoch = 0;
  double best_mae = std::numeric_limits<double>::infinity();
  int best_epoch = 0;
  std::string log_text = std::string(kLogHeader) + "\n";
  if (o.resume) {
    EDNN_CHECK(fs::exists(result.last_path), "train --resume: ", result.last_path, " does not exist");
    const NetConfig recorded = RunSettings::from_metadata(read_metadata(result.last_path), result.last_path).net;
    EDNN_CHECK(recorded.L == o.net.L && recorded.c0 == o.net.c0 && recorded.batch_norm == o.net.batch_norm,
               "train --resume: ", result.last_path, " holds preset ", recorded.preset, " (L ", recorded.L, ", c0 ",
               recorded.c0, recorded.batch_norm ? "" : ", no batch norm", "), this run asks for ", o.net.preset, " (L ",
               o.net.L, ", c0 ", o.net.c0, o.net.batch_norm ? "" : ", no batch norm", ")");
    auto get = [&](const Metadata& m, const char* key, const std::string& file) {
      auto it = m.find(key);
      EDNN_CHECK(it != m.end(), "train --resume: ", file, " has no metadata '", key, "'");
      return it->second;
    };
    std::int64_t counted = -1;
    const Metadata lm = load_model(result.last_path, *net, &counted);
    if (lm.count("init_from")) init_record = lm.at("init_from");
    const Metadata om = load_optimizer(last_optim, *net, adam);
    batches_before_steps = counted >= 0 ? counted - adam.steps() : 0;  // -1: written before the count was
    start_epoch = std::stoi(get(om, "epoch", last_optim));
    best_mae = std::stod(get(om, "best_mae", last_optim));
    best_epoch = std::stoi(get(om, "best_epoch", last_optim));
    // Keep the log rows of the epochs the checkpoint covers.
    std::ifstream in(result.log_path);
    std::string line;
    if (in && std::getline(in, line)) {
      while (std::getline(in, line)) {
        const int e = std::atoi(line.c_str());
        if (e >= 1 && e <= start_epoch) log_text += line + "\n";
      }
    }
    if (root)
      std::fprintf(stderr, "train: resuming %s after epoch %d (step %ld, best %s MAE %.6g at epoch %d)\n",
                   result.last_path.c_str(), start_epoch, adam.steps(), o.select_on.c_str(), best_mae, best_epoch);
  }

  // Every checkpoint says how it was made (nets/run_settings.h) and by which command (provenance:
  // a date and a command line, so byte-comparing tests compare the tensors and the other keys).
  Metadata base_meta = o.to_metadata();
  if (!init_record.empty()) base_meta["init_from"] = init_record;
  if (!o.provenance.empty()) base_meta["provenance"] = o.provenance;

  const int L = o.net.L;
  const std::int64_t px = std::int64_t(L) * L;
  const std::int64_t per_epoch = data.online_per_epoch > 0 ? data.online_per_epoch
                                                           : std::int64_t(data.train_indices.size());
  const int epochs = planned_epochs(o, per_epoch);
  result.planned_epochs = epochs;
  std::vector<float> x, y;
  std::vector<int> n;
  TrainingStep training_step(*net, adam, o.device, o.cuda_graph, comm);
  std::vector<BatchNorm2d*> synced;  // the batch norms that use the whole batch's statistics
  if (comm && o.sync_batch_norm)
    for (std::size_t i = 0; i < net->size(); ++i)
      if (auto* bn = dynamic_cast<BatchNorm2d*>(&(*net)[i])) {
        bn->sync = comm;
        synced.push_back(bn);
      }
  const auto run_start = std::chrono::steady_clock::now();
  for (int e = start_epoch; e < epochs; ++e) {
    const std::string loss_text = loss_for_epoch(o, e);
    const LossSpec spec = parse_loss(loss_text);
    std::vector<std::int64_t> order;
    if (data.online_per_epoch > 0) {
      order.resize(std::size_t(per_epoch));
      std::iota(order.begin(), order.end(), std::int64_t(e) * per_epoch);
    } else {
      order = epoch_order(o.seed, e, per_epoch);
      for (auto& i : order) i = data.train_indices[std::size_t(i)];
    }
    std::int64_t steps = (per_epoch + o.batch - 1) / o.batch;
    if (o.max_steps >= 0) steps = std::min(steps, o.max_steps);
    const std::int64_t samples = std::min<std::int64_t>(per_epoch, steps * o.batch);

    net->train();
    Progress* bar = root ? o.progress : nullptr;
    if (bar) bar->start("epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs), samples, "samples");
    const auto epoch_start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t done = 0;
    bool out_of_time = false;
    for (std::int64_t s = 0; s < steps; ++s) {
      if (o.time_limit_s > 0 && s > 0) {
        char stop = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count() >= o.time_limit_s;
        if (comm) comm->broadcast(&stop, 1, 0);  // rank 0's clock decides for the job
        if (stop) {
          out_of_time = true;  // end this epoch early: evaluate, save, stop
          break;
        }
      }
      const int count = int(std::min<std::int64_t>(o.batch, samples - done));
      // This rank's share of the batch. A rank left without a sample (a batch smaller than the job)
      // steps on the batch's first one with weight 0, which adds exact zeros to the gradients.
      const Share share = share_of(count, rank, ranks);
      const int mine = int(std::max<std::int64_t>(share.count(), 1));
      const double weight = double(share.count()) / double(count);
      for (BatchNorm2d* bn : synced) bn->sync_counted = share.count() > 0;
      x.resize(std::size_t(mine * px));
      y.resize(x.size());
      n.resize(std::size_t(mine));
      data.train->read(std::span<const std::int64_t>(order.data() + done + (share.count() ? share.first : 0),
                                                     std::size_t(mine)),
                       x.data(), y.data(), n.data());
      apply_transform(o.transform, x.data(), std::int64_t(x.size()));
      apply_transform(o.transform, y.data(), std::int64_t(y.size()));
      const long global_step = adam.steps() + 1;
      const double value = training_step.run(x, y, mine, L, loss_text, spec, [&](double loss) {
        if (std::isfinite(loss)) return;
        if (bar) bar->finish("");
        fail("train: non-finite loss (", loss, ") at epoch ", e + 1, ", step ", s + 1, " of the epoch (global step ",
             global_step, "); training stopped. The last good checkpoint is ",
             start_epoch < e || o.resume ? result.last_path : std::string("(none: no epoch finished)"),
             e > 0 ? " (epoch " + std::to_string(e) + ")" : std::string());
      }, weight);
      loss_sum += value * count;
      done += count;
      if (bar) bar->update(done, " loss " + fmt(loss_sum / double(done)));
    }
    if (o.time_limit_s > 0 && !out_of_time) {  // out of time at the epoch's end: evaluate, save, stop
      char stop = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count() >= o.time_limit_s;
      if (comm) comm->broadcast(&stop, 1, 0);
      out_of_time = stop;
    }
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    if (bar) bar->finish(" loss " + fmt(done ? loss_sum / double(done) : 0));

    // One split's evaluation: on one process, or every rank its share, the sums merged on rank 0.
    if (comm && synced.empty()) average_buffers(*net, *comm);  // synchronised ones are alike on every rank
    auto evaluate_split = [&](SampleStore& store, const std::vector<std::int64_t>& indices) {
      if (!comm) return evaluate(*net, store, indices, spec, o.transform, o.batch, o.device);
      const std::int64_t total = std::int64_t(indices.size());
      const Share share = share_of(total, rank, ranks);
      const std::vector<std::int64_t> mine(indices.begin() + share.first, indices.begin() + share.end);
      const auto bytes = pack_evaluation(evaluate(*net, store, mine, spec, o.transform, o.batch, o.device), share.count());
      std::vector<unsigned char> all;
      comm->gather(bytes.data(), bytes.size(), all, 0);
      return root ? unpack_evaluations(all, total) : EvalResult{};
    };
    const bool evaluated = out_of_time || evaluates_after(e + 1, epochs, o.evals);
    EpochRecord rec;
    rec.epoch = e + 1;
    rec.loss = loss_text;
    rec.train_loss = done ? loss_sum / double(done) : 0;
    if (evaluated && on_validation) {
      const EvalResult ev = evaluate_split(*data.validation, data.validation_indices);
      rec.validation_loss = ev.loss;
      rec.validation_mae = ev.metrics.overall.mae(kAll);
    }
    if (evaluated && on_test) {
      const EvalResult ev = evaluate_split(*data.test, data.test_indices);
      rec.test_loss = ev.loss;
      rec.test_mae = ev.metrics.overall.mae(kAll);
    }
    rec.samples_per_s = train_seconds > 0 ? double(done) / train_seconds : 0;
    rec.seconds = train_seconds;
    if (root) {  // the evaluation's numbers, the checkpoints and the log live on rank 0
      const double selecting = on_validation ? rec.validation_mae : rec.test_mae;
      if (evaluated && !std::isfinite(selecting))
        fail("train: non-finite ", o.select_on, " MAE after epoch ", e + 1,
             "; training stopped, the last good checkpoint is ",
             e > start_epoch || o.resume ? result.last_path : std::string("(none)"));

      rec.best = evaluated && selecting < best_mae;
      if (rec.best) {
        best_mae = selecting;
        best_epoch = e + 1;
      }
      std::ostringstream row;
      row << rec.epoch << ',' << '"' << rec.loss << '"' << ',' << fmt(rec.train_loss) << ',' << field(rec.validation_loss)
          << ',' << field(rec.validation_mae) << ',' << field(rec.test_loss) << ',' << field(rec.test_mae) << ','
          << fmt(rec.samples_per_s) << ',' << fmt(rec.seconds) << ',' << (rec.best ? 1 : 0) << '\n';
      log_text += row.str();
      // The run's state is committed after each evaluation (every epoch without --evals), as one
      // unit (nets/run_directory.h): a kill at any instant leaves the files of one committed epoch,
      // never a mix, and a resume repeats the epochs after it exactly. Between evaluations nothing
      // is written: 750 epochs of 20 samples would otherwise spend more time saving 12 MB of state
      // than training.
      if (evaluated) {
        EpochCommit commit(o.out_dir, e + 1);
        Metadata meta = base_meta;
        meta["epoch"] = std::to_string(e + 1);
        if (!std::isnan(rec.validation_mae)) meta["validation_mae"] = fmt(rec.validation_mae);
        if (!std::isnan(rec.test_mae)) meta["test_mae"] = fmt(rec.test_mae);
        if (rec.best) save_model(commit.stage(run_files::best), *net, meta, batches_before_steps + adam.steps());
        save_model(commit.stage(run_files::last), *net, meta, batches_before_steps + adam.steps());
        Metadata om = meta;
        om["best_mae"] = fmt(best_mae);
        om["best_epoch"] = std::to_string(best_epoch);
        save_optimizer(commit.stage(run_files::last_optim), *net, adam, om);
        write_text_atomically(commit.stage(run_files::log), log_text);
        commit.commit();
      }
      std::string scores;
      if (!std::isnan(rec.validation_mae))
        scores += "  validation " + fmt(rec.validation_loss) + "  validation MAE " + fmt(rec.validation_mae);
      if (!std::isnan(rec.test_mae)) scores += "  test " + fmt(rec.test_loss) + "  test MAE " + fmt(rec.test_mae);
      std::fprintf(stderr, "epoch %d/%d  loss %s  train %.6g%s%s  %.1f samples/s\n", rec.epoch, epochs,
                   loss_text.c_str(), rec.train_loss, scores.c_str(), rec.best ? " (best)" : "", rec.samples_per_s);
    }
    result.epochs.push_back(rec);
    result.last_epoch = e + 1;
    if (out_of_time) {
      if (root)
        std::fprintf(stderr, "train: time limit of %.0f s reached during epoch %d (%lld of %lld samples), stopped\n",
                     o.time_limit_s, e + 1, (long long)done, (long long)samples);
      break;
    }
  }
  (void)main_spec;
  result.best_mae = best_mae;
  result.best_epoch = best_epoch;
  if (result.last_epoch == 0) result.last_epoch = start_epoch;
  return result;
}

}  // namespace ednn::nets
