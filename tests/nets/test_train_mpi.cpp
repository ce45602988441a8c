// Data-parallel training under `mpirun -np 2` on the CPU (nets/trainer.h, engine/communicator.h):
// the same weights as one process on the same global batches, a resume with another rank count,
// and a job that stops, naming the rank, when one rank fails or is killed.
//
// Tolerances. Two ranks compute the same sums as one process in another order (each rank sums its
// share, then the shares are added), so the gradients differ by float rounding, about 1e-7 of
// their size. Adam divides by the root of the second moment, so a rounding difference in a
// gradient becomes a difference of the same relative size in the step, a few 1e-7 of lr. Without
// batch norm the network treats every sample on its own and that is the only difference: after
// six steps of lr 1e-3 we allow 1e-7 absolute (about 100 times the rounding of a step). With
// --sync-batch-norm the statistics are the whole batch's, and the same bound holds. With per-rank
// batch norm each rank normalises its share with the share's statistics (as PyTorch's DDP does
// without SyncBatchNorm): a different computation, bounded only by Adam's step size. Each Adam
// step moves a weight by at most lr (1 - beta1) / sqrt(1 - beta2) = 3.2 lr, so two runs of S steps
// are at most 2 x 3.2 x S x lr apart; we check that bound and, more tightly, that the two runs'
// losses agree to 1e-3 relative.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "engine/communicator.h"
#include "nets/checkpoint.h"
#include "nets/ednn_cnn.h"
#include "tests/test_helpers.h"

using namespace ednn;
namespace fs = std::filesystem;
using ednn::test::read_bytes;
using ednn::test::run_command;

namespace {

// OpenMPI refuses to start as root (CI) without these; two ranks on two cores, one thread each.
const std::string kMpirun = std::string("env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ") +
                            EDNN_MPIRUN + " -np 2 --oversubscribe --mca btl self,vader -x OMP_NUM_THREADS=1 ";
const std::string kOne = "env OMP_NUM_THREADS=1 ";

struct Fixture {
  ednn::test::TempDir dir{"train_mpi"};
  std::string data = (dir.path / "d64.h5").string();
  fs::path log = dir.path / "log.txt";
  Fixture() {
    // 3 source counts x 8 per n, 6 per n in the train split: 18 samples, 3 steps of 6 per epoch.
    const auto r = run_command(std::string(EDNN_DATAGEN_BIN) + " --out " + data +
                                   " --L 64 --per-n 8 --max-sources 3 --test-fraction 0.25 --seed 3",
                               log);
    REQUIRE(r.status == 0);
  }
  std::string train(const std::string& extra) const {
    return std::string(EDNN_TRAIN_BIN) + " --data " + data +
           " --preset tiny --batch 6 --lr 1e-3 --device cpu --quiet --loss exp-mae:w=1 " + extra;
  }
};

// Every parameter and buffer of a checkpoint, by name.
std::map<std::string, std::vector<float>> weights_of(const fs::path& file, bool batch_norm) {
  nets::NetConfig cfg = nets::preset_config("tiny");
  cfg.batch_norm = batch_norm;
  auto net = nets::build_ednn(cfg, 0);
  nets::load_model(file.string(), *net);
  std::map<std::string, std::vector<float>> w;
  for (const auto& s : net->state()) {
    const float* p = s.tensor->data<float>();
    w[s.name].assign(p, p + s.tensor->numel());
  }
  return w;
}

double max_difference(const fs::path& a, const fs::path& b, bool batch_norm, bool parameters_only = false) {
  const auto wa = weights_of(a, batch_norm), wb = weights_of(b, batch_norm);
  REQUIRE(wa.size() == wb.size());
  double worst = 0;
  for (const auto& [name, va] : wa) {
    if (parameters_only && name.find("running") != std::string::npos) continue;
    const auto& vb = wb.at(name);
    REQUIRE(va.size() == vb.size());
    for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, double(std::abs(va[i] - vb[i])));
  }
  return worst;
}

// The train_loss column of a train_log.csv.
std::vector<double> train_losses(const fs::path& log) {
  std::istringstream in(read_bytes(log));
  std::string line;
  std::getline(in, line);
  std::vector<double> v;
  while (std::getline(in, line)) {
    const auto q = line.find("\",");
    v.push_back(std::stod(line.substr(q + 2)));
  }
  return v;
}

}  // namespace

TEST_CASE("share_of: every item once, in rank order, the shares differing by at most one") {
  for (int size : {1, 2, 3, 7})
    for (std::int64_t total : {0, 1, 5, 6, 50}) {
      std::int64_t next = 0, lo = total, hi = 0;
      for (int r = 0; r < size; ++r) {
        const Share s = share_of(total, r, size);
        CHECK(s.first == next);
        next = s.end;
        lo = std::min(lo, s.count());
        hi = std::max(hi, s.count());
      }
      CHECK(next == total);
      CHECK(hi - lo <= 1);
    }
}

TEST_CASE("train under mpirun -np 2: without batch norm the weights of one process, to rounding") {
  Fixture f;
  const fs::path one = f.dir.path / "one", two = f.dir.path / "two";
  auto r = run_command(kOne + f.train("--no-batch-norm --epochs 2 --out " + one.string()), f.log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = run_command(kMpirun + f.train("--no-batch-norm --epochs 2 --out " + two.string()), f.log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("data parallel over 2 ranks (mpi)") != std::string::npos);
  CHECK(r.output.find("train: done, 2 epochs") != std::string::npos);
  // Rank 0 alone wrote: one log line per epoch, not two.
  CHECK(train_losses(two / "train_log.csv").size() == 2);
  const double d = max_difference(one / "last.safetensors", two / "last.safetensors", false);
  MESSAGE("max |w_one - w_two| without batch norm: ", d);
  CHECK(d <= 1e-7);

  // A run started on 2 ranks and resumed on 1 for its second epoch: the same weights again.
  const fs::path mixed = f.dir.path / "mixed";
  r = run_command(kMpirun + f.train("--no-batch-norm --epochs 1 --out " + mixed.string()), f.log);
  REQUIRE(r.status == 0);
  r = run_command(kOne + f.train("--epochs 2 --resume " + mixed.string()), f.log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(nets::read_metadata((mixed / "last.safetensors").string()).at("batch_norm") == "0");
  CHECK(max_difference(one / "last.safetensors", mixed / "last.safetensors", false) <= 1e-7);
}

TEST_CASE("train under mpirun -np 2 --sync-batch-norm: the weights and statistics of one process, to rounding") {
  Fixture f;
  const fs::path one = f.dir.path / "one", two = f.dir.path / "two";
  REQUIRE(run_command(kOne + f.train("--epochs 2 --out " + one.string()), f.log).status == 0);
  // 18 samples = 3 batches of 6, each split 3 + 3.
  auto r = run_command(kMpirun + f.train("--epochs 2 --sync-batch-norm --out " + two.string()), f.log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("batch norm statistics of the whole batch") != std::string::npos);
  const double d = max_difference(one / "last.safetensors", two / "last.safetensors", true);
  MESSAGE("max |w_one - w_two| with synchronised batch norm: ", d);
  CHECK(d <= 1e-7);

  // A batch of 1 at the end of each epoch (18 = 17 + 1 with batch 17): rank 1 has no sample there
  // and steps on a stand-in of weight 0, left out of the statistics.
  const fs::path one17 = f.dir.path / "one17", two17 = f.dir.path / "two17";
  REQUIRE(run_command(kOne + f.train("--epochs 1 --batch 17 --out " + one17.string()), f.log).status == 0);
  r = run_command(kMpirun + f.train("--epochs 1 --batch 17 --sync-batch-norm --out " + two17.string()), f.log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(max_difference(one17 / "last.safetensors", two17 / "last.safetensors", true) <= 1e-7);
}

TEST_CASE("train under mpirun -np 2: with batch norm per rank, within Adam's bound, losses alike") {
  Fixture f;
  const fs::path one = f.dir.path / "one", two = f.dir.path / "two";
  REQUIRE(run_command(kOne + f.train("--epochs 2 --out " + one.string()), f.log).status == 0);
  const auto r = run_command(kMpirun + f.train("--epochs 2 --out " + two.string()), f.log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const double steps = 6, lr = 1e-3;
  const double d = max_difference(one / "last.safetensors", two / "last.safetensors", true, true);
  MESSAGE("max |w_one - w_two| with per-rank batch norm: ", d);
  CHECK(d <= 2 * 3.2 * steps * lr);
  const auto a = train_losses(one / "train_log.csv"), b = train_losses(two / "train_log.csv");
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 1e-3 * a[i]);
}

TEST_CASE("train under mpirun -np 2: a rank that fails or is killed stops the job, naming the rank") {
  Fixture f;
  // A bad option value fails on every rank: the job ends with the message and the rank.
  auto r = run_command("timeout 60 " + kMpirun + f.train("--epochs 1 --loss exp-mea --out " + (f.dir.path / "bad").string()),
                       f.log);
  CHECK(r.status != 0);
  CHECK(r.status != 124);  // not the timeout: the job stopped by itself
  CHECK(r.output.find("unknown metric 'mea'") != std::string::npos);
  // Both ranks fail; whichever reports first stops the job, so either may be the one named.
  CHECK((r.output.find("(rank 0 of 2; stopping the job)") != std::string::npos ||
         r.output.find("(rank 1 of 2; stopping the job)") != std::string::npos));

  // A rank killed mid-run (SIGKILL, as the out-of-memory killer would): mpirun notices, stops the
  // other rank and exits non-zero, naming the rank; the checkpoints of finished epochs are whole.
  const fs::path out = f.dir.path / "killed", log = f.dir.path / "killed.txt";
  const std::string cmd = "timeout 120 " + kMpirun + f.train("--epochs 100000 --out " + out.string()) + " > " +
                          log.string() + " 2>&1";
  const pid_t job = fork();
  REQUIRE(job >= 0);
  if (job == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for a finished epoch, then kill one training process.
  for (int i = 0; i < 600 && !fs::exists(out / "last.optim.safetensors"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(fs::exists(out / "last.optim.safetensors"));
  // The ranks' command lines start with the train binary (mpirun's, sh's and timeout's do not).
  const auto pids = run_command(std::string("pgrep -f -- '^") + EDNN_TRAIN_BIN + " .*--epochs 100000'", f.dir.path / "p.txt");
  std::istringstream ps(pids.output);
  std::vector<long> ranks;
  for (long p; ps >> p;) ranks.push_back(p);
  REQUIRE(ranks.size() >= 1);
  ::kill(pid_t(ranks.back()), SIGKILL);
  int status = 0;
  waitpid(job, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const std::string output = read_bytes(log);
  INFO(output);
  CHECK(code != 0);
  CHECK(code != 124);  // stopped by mpirun, not by the timeout
  CHECK(output.find("rank") != std::string::npos);
  CHECK(output.find("signal 9") != std::string::npos);
  // The last finished epoch's checkpoint loads.
  CHECK_NOTHROW(weights_of(out / "last.safetensors", true));
}
