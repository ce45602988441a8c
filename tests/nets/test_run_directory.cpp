// A run directory never loses a run: `train --out` onto a run is refused and leaves it
// byte-identical; an epoch's four files are committed as one unit, so `train` killed (SIGKILL) at
// every instant of the commit that the test hook can reach resumes to the files of an
// uninterrupted run, bit for bit; files that do not belong together are named, not used.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "nets/checkpoint.h"
#include "nets/run_directory.h"
#include "solver/datagen.h"
#include "tests/test_helpers.h"

using namespace ednn;
namespace fs = std::filesystem;
using ednn::test::read_bytes;
using ednn::test::run_command;

namespace {

// 8 train and 2 test samples at L = 64.
void write_data(const std::string& path) {
  dataset::DatagenOptions g;
  g.out = path;
  g.solver.L = 64;
  g.solver.max_sources = 2;
  g.per_n = 5;
  g.test_fraction = 0.2;
  g.seed = 5;
  dataset::run_datagen(g);
}

// One thread: float sums over threads differ with their count, and runs are compared bitwise.
std::string train_command(const std::string& data) {
  return std::string("OMP_NUM_THREADS=1 ") + EDNN_TRAIN_BIN + " --data " + data +
         " --preset tiny --epochs 2 --batch 4 --max-steps 2 --lr 1e-3 --device cpu --quiet";
}

// The log without its timing columns (samples_per_s, seconds), which differ from run to run.
std::string log_without_timing(const fs::path& path) {
  std::istringstream in(read_bytes(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream cells_in(line);
    while (std::getline(cells_in, cell, ',')) cells.push_back(cell);
    REQUIRE(cells.size() == 8);
    cells.erase(cells.begin() + 5, cells.begin() + 7);
    for (const std::string& c : cells) kept += c + ",";
    kept += "\n";
  }
  return kept;
}

}  // namespace

TEST_CASE("run directory: train --out onto a run is refused and changes nothing; --overwrite replaces it") {
  ednn::test::TempDir tmp("run_refuse");
  const std::string data = (tmp.path / "d.h5").string();
  write_data(data);
  const fs::path run = tmp.path / "run", log = tmp.path / "log.txt";
  auto r = run_command(train_command(data) + " --out " + run.string(), log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  std::vector<std::pair<fs::path, std::string>> before;
  for (const auto& entry : fs::directory_iterator(run)) before.emplace_back(entry.path(), read_bytes(entry.path()));
  REQUIRE(before.size() == 5);  // best, last, last.optim, train_log.csv, checkpoint.json

  // Another run's settings into the same folder: refused, naming both ways out.
  r = run_command(train_command(data) + " --seed 7 --out " + run.string(), log);
  CAPTURE(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find(run.string() + " holds a training run (committed through epoch 2); "
                      "continue it with --resume " + run.string() + ", or replace it with --overwrite") !=
        std::string::npos);
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(run)) {
    ++files;
    bool same = false;
    for (const auto& [path, bytes] : before) same = same || (path == entry.path() && bytes == read_bytes(path));
    CHECK_MESSAGE(same, entry.path().string());
  }
  CHECK(files == before.size());

  // --overwrite: a new run in its place (the seed is in the checkpoint's metadata).
  r = run_command(train_command(data) + " --seed 7 --overwrite --out " + run.string(), log);
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  CHECK(nets::read_metadata((run / "last.safetensors").string()).at("seed") == "7");
  r = run_command(train_command(data) + " --overwrite --resume " + run.string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("choose one") != std::string::npos);
}

TEST_CASE("run directory: a kill at every point of a checkpoint commit resumes bit-identically") {
  ednn::test::TempDir tmp("run_kill");
  const std::string data = (tmp.path / "d.h5").string();
  write_data(data);
  const fs::path reference = tmp.path / "reference", log = tmp.path / "log.txt";
  auto r = run_command(train_command(data) + " --out " + reference.string(), log);
  INFO(r.output);
  REQUIRE(r.status == 0);

  int killed = 0;
  for (int point = 1; point < 40; ++point) {
    CAPTURE(point);
    const fs::path dir = tmp.path / ("killed_" + std::to_string(point));
    r = run_command("EDNN_CHECKPOINT_KILL_AT=" + std::to_string(point) + " " + train_command(data) + " --out " +
                        dir.string(),
                    log);
    if (r.status == 0) break;  // past the last kill point of the run's two commits
    REQUIRE(r.status == 128 + 9);  // SIGKILL, as the shell reports it
    ++killed;
    // Resume when an epoch was committed (its record exists), else start the same run again:
    // either way no --overwrite is needed and no file of the interrupted epoch is used unchecked.
    const bool committed = fs::exists(dir / nets::run_files::record);
    r = run_command(committed ? train_command(data) + " --resume " + dir.string()
                              : train_command(data) + " --out " + dir.string(),
                    log);
    CAPTURE(r.output);
    REQUIRE(r.status == 0);
    for (const char* f : {nets::run_files::best, nets::run_files::last, nets::run_files::last_optim})
      CHECK_MESSAGE(read_bytes(dir / f) == read_bytes(reference / f), f);
    CHECK(log_without_timing(dir / nets::run_files::log) == log_without_timing(reference / nets::run_files::log));
    for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().extension() != ".next");
  }
  // Each of the two commits has 7 points (9 when best.safetensors changes too): all were reached.
  CHECK(killed >= 14);
}

TEST_CASE("run directory: files that do not belong together are named, not resumed") {
  ednn::test::TempDir tmp("run_mixed");
  const std::string data = (tmp.path / "d.h5").string();
  write_data(data);
  const fs::path a = tmp.path / "a", b = tmp.path / "b", log = tmp.path / "log.txt";
  REQUIRE(run_command(train_command(data) + " --out " + a.string(), log).status == 0);
  REQUIRE(run_command(train_command(data) + " --seed 3 --out " + b.string(), log).status == 0);

  // Another run's optimiser state copied in: refused by the record.
  fs::copy_file(b / nets::run_files::last_optim, a / nets::run_files::last_optim, fs::copy_options::overwrite_existing);
  const std::string message = ednn::test::error_message([&] { nets::recover(a.string()); });
  CHECK(message.find((a / nets::run_files::last_optim).string() + " is not the file committed for epoch 2") !=
        std::string::npos);
  auto r = run_command(train_command(data) + " --epochs 3 --resume " + a.string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("does not belong with the run's other files") != std::string::npos);

  // A directory from before the record existed, killed between its two files: named as such.
  fs::remove(b / nets::run_files::record);
  nets::Metadata meta = nets::read_safetensors((b / nets::run_files::last_optim).string()).metadata;
  CHECK_NOTHROW(nets::recover(b.string()));
  const nets::SafetensorsFile optim = nets::read_safetensors((b / nets::run_files::last_optim).string());
  meta["epoch"] = "1";
  nets::write_safetensors((b / nets::run_files::last_optim).string(), optim.tensors, meta);
  CHECK(ednn::test::error_message([&] { nets::recover(b.string()); }).find("is of epoch 2 but") != std::string::npos);
}

TEST_CASE("run directory: infer --out onto earlier results is refused and changes nothing; --overwrite replaces them") {
  ednn::test::TempDir tmp("infer_refuse");
  const std::string data = (tmp.path / "d.h5").string();
  write_data(data);
  const fs::path run = tmp.path / "run", out = tmp.path / "infer", log = tmp.path / "log.txt";
  REQUIRE(run_command(train_command(data) + " --out " + run.string(), log).status == 0);
  const std::string infer = std::string(EDNN_INFER_BIN) + " --checkpoint " + (run / "best.safetensors").string() +
                            " --data " + data + " --device cpu --quiet --pictures 0 --out " + out.string();
  auto r = run_command(infer, log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const std::string metrics = read_bytes(out / "metrics.json"), predictions = read_bytes(out / "predictions.h5");
  r = run_command(infer + " --split test", log);
  CAPTURE(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find(out.string() + " holds the results of an earlier evaluation") != std::string::npos);
  CHECK(read_bytes(out / "metrics.json") == metrics);
  CHECK(read_bytes(out / "predictions.h5") == predictions);
  r = run_command(infer + " --split test --overwrite", log);
  CHECK(r.status == 0);
  CHECK(read_bytes(out / "metrics.json") != metrics);  // the test split alone: other numbers
}
