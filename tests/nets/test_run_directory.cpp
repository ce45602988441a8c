// A run directory never loses a run: `train --out` onto a run is refused and leaves it
// byte-identical; an epoch's four files are committed as one unit, so `train` killed (SIGKILL) at
// every instant of the commit that the test hook can reach resumes to the files of an
// uninterrupted run, bit for bit (the checkpoints' tensors and metadata, all but the provenance
// of the command that wrote them); files that do not belong together are named, not used.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nets/checkpoint.h"
#include "nets/run_settings.h"
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

// Two checkpoints hold the same tensors, bit for bit, and the same metadata but for `provenance`
// (the command line and date of the process that wrote each): "" or the first difference.
std::string checkpoint_difference(const fs::path& a, const fs::path& b) {
  const nets::SafetensorsFile fa = nets::read_safetensors(a.string()), fb = nets::read_safetensors(b.string());
  if (fa.tensors.size() != fb.tensors.size()) return "tensor counts differ";
  for (std::size_t i = 0; i < fa.tensors.size(); ++i) {
    const nets::NamedArray &x = fa.tensors[i], &y = fb.tensors[i];
    if (x.name != y.name || x.integer != y.integer) return "tensor " + x.name + " differs";
    if (x.tensor.defined() && x.tensor.to_vector() != y.tensor.to_vector()) return "tensor " + x.name + " differs";
  }
  nets::Metadata ma = fa.metadata, mb = fb.metadata;
  if (ma.erase("provenance") + mb.erase("provenance") != 2) return "provenance missing";
  for (const auto& [key, value] : ma)
    if (!mb.count(key) || mb.at(key) != value) return "metadata " + key + " differs";
  return ma.size() == mb.size() ? "" : "metadata keys differ";
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
    REQUIRE(cells.size() == 10);
    cells.erase(cells.begin() + 7, cells.begin() + 9);
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
  CHECK(r.status == 2);  // a usage error
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

  int killed = 0, resumes_completing = 0, resumes_discarding = 0;  // resumes that said what they recovered
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
    if (committed) {
      resumes_completing += r.output.find("completed the interrupted commit of epoch") != std::string::npos;
      resumes_discarding += r.output.find("left by an epoch that was never committed") != std::string::npos;
    }
    for (const char* f : {nets::run_files::best, nets::run_files::last, nets::run_files::last_optim})
      CHECK_MESSAGE(checkpoint_difference(dir / f, reference / f) == "", f);
    CHECK(log_without_timing(dir / nets::run_files::log) == log_without_timing(reference / nets::run_files::log));
    for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().extension() != ".next");
  }
  // Each of the two commits has 7 points (9 when best.safetensors changes too): all were reached.
  CHECK(killed >= 14);
  // A resume says what it completed (a kill after the record, before the renames) and what it
  // removed (a kill while the second epoch was staged).
  CHECK(resumes_completing >= 1);
  CHECK(resumes_discarding >= 1);
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

TEST_CASE("run settings: numerics recorded in the checkpoint, honoured by infer and --resume; resume on other data refused") {
  ednn::test::TempDir tmp("run_numerics");
  const std::string data = (tmp.path / "d.h5").string();
  write_data(data);
  const fs::path run = tmp.path / "run", log = tmp.path / "log.txt";
  auto r = run_command(train_command(data) + " --epochs 1 --tf32 --conv-algo 3 --no-fusion --out " + run.string(), log);
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* f : {"best.safetensors", "last.safetensors"}) {
    const nets::Metadata m = nets::read_metadata((run / f).string());
    CHECK(m.at("conv_algo") == "large-tiles");
    CHECK(m.at("tf32") == "1");
    CHECK(m.at("fusion") == "0");
    const nets::RunSettings s = nets::RunSettings::from_metadata(m, f);
    CHECK(s.numerics.conv_algo == ConvAlgo::large_tiles);
    CHECK(s.numerics.conv_version() == 3);
    CHECK(s.solver.has_value());  // the data's solver, for infer --sources
    CHECK(s.solver->max_sources == 2);
  }
  // infer takes the checkpoint's numerics, and the command line's over them.
  const std::string infer = std::string(EDNN_INFER_BIN) + " --checkpoint " + (run / "best.safetensors").string() +
                            " --data " + data + " --device cpu --quiet --pictures 0";
  r = run_command(infer + " --out " + (tmp.path / "i1").string(), log);
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  auto timing = nlohmann::json::parse(read_bytes(tmp.path / "i1" / "timing.json"));
  CHECK(timing["conv_algo"] == "large-tiles");
  CHECK(timing["fusion"] == false);
  // Every output says where it came from: version, commit, command, date, device; metrics their split.
  const auto metrics = nlohmann::json::parse(read_bytes(tmp.path / "i1" / "metrics.json"));
  CHECK(metrics["split"] == "all");
  for (const auto& origin : {timing["provenance"], metrics["provenance"]}) {
    CHECK(origin["ednn_version"] == EDNN_VERSION);
    CHECK(origin["git_commit"].get<std::string>().size() >= 7);
    CHECK(origin["command"].get<std::string>().find("infer --checkpoint " + (run / "best.safetensors").string()) !=
          std::string::npos);
    CHECK(origin["date"].get<std::string>().size() == 20);  // 2026-12-06T12:00:00Z
    CHECK(origin["device"] == "cpu");
  }
  r = run_command(infer + " --conv-algo winograd --no-fusion=false --out " + (tmp.path / "i2").string(), log);
  REQUIRE(r.status == 0);
  timing = nlohmann::json::parse(read_bytes(tmp.path / "i2" / "timing.json"));
  CHECK(timing["conv_algo"] == "winograd");
  CHECK(timing["fusion"] == true);

  // --resume keeps them; a numerics option given again changes them (documented), and is recorded.
  r = run_command(train_command(data) + " --epochs 2 --resume " + run.string(), log);
  REQUIRE(r.status == 0);
  CHECK(nets::read_metadata((run / "last.safetensors").string()).at("conv_algo") == "large-tiles");
  r = run_command(train_command(data) + " --epochs 3 --conv-algo 2 --tf32=false --resume " + run.string(), log);
  REQUIRE(r.status == 0);
  const nets::Metadata m = nets::read_metadata((run / "last.safetensors").string());
  CHECK(m.at("conv_algo") == "tiled");
  CHECK(m.at("tf32") == "0");
  CHECK(m.at("fusion") == "0");

  // Other data, another fraction, another transform: refused unless asked for; the run untouched.
  const std::string before = read_bytes(run / "last.safetensors");
  const std::string other = (tmp.path / "other.h5").string();
  fs::copy_file(data, other);
  for (const std::string& change : std::vector<std::string>{"--data " + other, "--fraction 0.5", "--transform sqrt"}) {
    CAPTURE(change);
    r = run_command(train_command(data) + " --epochs 4 " + change + " --resume " + run.string(), log);
    CAPTURE(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find("--allow-other-data") != std::string::npos);
    CHECK(read_bytes(run / "last.safetensors") == before);
  }
  r = run_command(train_command(data) + " --epochs 4 --data " + other + " --allow-other-data --resume " + run.string(), log);
  CAPTURE(r.output);
  CHECK(r.status == 0);
  CHECK(nets::read_metadata((run / "last.safetensors").string()).at("data").find("other.h5") != std::string::npos);
  // Another network on resume: refused.
  r = run_command(train_command(other) + " --epochs 5 --no-batch-norm --resume " + run.string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("batch norm on, this command gives off") != std::string::npos);
}

TEST_CASE("train: options that would do nothing in their context are usage errors, as is --max-steps 0") {
  ednn::test::TempDir tmp("train_context");
  const std::string data = (tmp.path / "d.h5").string();
  write_data(data);
  const fs::path log = tmp.path / "log.txt";
  const std::string train = std::string(EDNN_TRAIN_BIN) + " --preset tiny --device cpu --quiet --out " +
                            (tmp.path / "run").string();
  for (const auto& [options, says] : std::vector<std::pair<std::string, std::string>>{
           {"--online --data " + data + " --fraction 0.5", "--fraction selects training samples of --data"},
           {"--online --subset 1", "--subset selects training samples of --data"},
           {"--data " + data + " --online-per-epoch 10", "--online-per-epoch applies to --online only"},
           {"--online --data " + data + " --max-sources 3", "--max-sources applies to --online without --data"},
           {"--online --data " + data + " --online-test 5", "--online-test applies to --online without --data"},
           {"--data " + data + " --toggle-every 2", "--toggle-every needs --loss-toggle"},
           {"--data " + data + " --random-p 0.3", "--random-p needs --loss-random"},
           {"--data " + data + " --max-steps 0", "--max-steps 0 would take no step"},
           {"--data " + data + " --allow-other-data", "--allow-other-data applies to --resume only"},
           {"--data " + data + " --epochs 0", "--epochs expects an integer in 1.."},
           {"--data " + data + " --select-on validation", "--select-on validation needs data with a validation split"},
           {"--data " + data + " --log-test", "--log-test logs the test split beside the validation split"},
           {"--online --log-test", "--log-test needs --data"}}) {
    CAPTURE(options);
    const auto r = run_command(train + " " + options, log);
    CAPTURE(r.output);
    CHECK(r.status == 2);
    CHECK(r.output.find("train: error: " + says) != std::string::npos);
    CHECK(!fs::exists(tmp.path / "run"));
  }
}

TEST_CASE("infer --sources solves with the solver the network's data was made with, as its checkpoint records") {
  ednn::test::TempDir tmp("infer_sources_solver");
  dataset::DatagenOptions g;
  g.out = (tmp.path / "d.h5").string();
  g.solver.L = 64;
  g.solver.max_sources = 2;
  g.solver.gamma = 0.01;
  g.solver.radius = 3;
  g.per_n = 5;
  g.test_fraction = 0.2;
  dataset::run_datagen(g);
  const fs::path log = tmp.path / "log.txt";
  auto r = run_command(train_command(g.out) + " --epochs 1 --out " + (tmp.path / "run").string(), log);
  REQUIRE(r.status == 0);
  ednn::test::write_bytes(tmp.path / "s.csv", "x,y,value\n20,30,1\n40,41,0.5\n");
  r = run_command(std::string(EDNN_INFER_BIN) + " --checkpoint " + (tmp.path / "run" / "best.safetensors").string() +
                      " --sources " + (tmp.path / "s.csv").string() + " --device cpu --quiet --out " +
                      (tmp.path / "i").string(),
                  log);
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("solved with the training data's (checkpoint) solver settings: model clamp, D 1, gamma 0.01, "
                      "radius 3") != std::string::npos);
  // A checkpoint without the record (written before it existed): SPEC's defaults, said so.
  nets::SafetensorsFile best = nets::read_safetensors((tmp.path / "run" / "best.safetensors").string());
  for (auto it = best.metadata.begin(); it != best.metadata.end();)
    it = it->first.rfind("solver_", 0) == 0 ? best.metadata.erase(it) : std::next(it);
  nets::write_safetensors((tmp.path / "old.safetensors").string(), best.tensors, best.metadata);
  r = run_command(std::string(EDNN_INFER_BIN) + " --checkpoint " + (tmp.path / "old.safetensors").string() +
                      " --sources " + (tmp.path / "s.csv").string() + " --device cpu --quiet --out " +
                      (tmp.path / "i2").string(),
                  log);
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("solved with SPEC's default solver settings: model clamp, D 1, gamma 0.0025, radius 5") !=
        std::string::npos);
}

TEST_CASE("train on data with a validation split: selects on it by default, logs the test split on request, and a "
          "resume keeps the rule") {
  ednn::test::TempDir tmp("train_validation");
  dataset::DatagenOptions g;
  g.out = (tmp.path / "d.h5").string();
  g.solver.L = 64;
  g.solver.max_sources = 2;
  g.per_n = 6;
  g.test_fraction = 1.0 / 6;
  g.validation_fraction = 1.0 / 6;
  dataset::run_datagen(g);
  const fs::path log = tmp.path / "log.txt", run = tmp.path / "run";
  auto r = run_command(train_command(g.out) + " --epochs 3 --log-test --out " + run.string(), log);
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("2 validation (selects the best epoch), 2 test (logged)") != std::string::npos);
  CHECK(r.output.find("Best validation MAE") != std::string::npos);
  const nets::Metadata m = nets::read_metadata((run / "best.safetensors").string());
  CHECK(m.at("select_on") == "validation");
  CHECK(m.count("validation_mae") == 1);
  CHECK(m.count("test_mae") == 1);
  // The paper's rule on resume: refused, naming both; the run untouched.
  const std::string before = read_bytes(run / "last.safetensors");
  r = run_command(train_command(g.out) + " --epochs 4 --select-on test --resume " + run.string(), log);
  CHECK(r.status == 1);
  CHECK(r.output.find("--select-on validation, this command gives test") != std::string::npos);
  CHECK(read_bytes(run / "last.safetensors") == before);
  // --select-on test on the same data: the paper's rule, recorded.
  r = run_command(train_command(g.out) + " --epochs 1 --select-on test --out " + (tmp.path / "paper").string(), log);
  REQUIRE(r.status == 0);
  CHECK(nets::read_metadata((tmp.path / "paper" / "best.safetensors").string()).at("select_on") == "test");
  // infer --split validation reads the validation samples: 2 of them.
  r = run_command(std::string(EDNN_INFER_BIN) + " --checkpoint " + (run / "best.safetensors").string() + " --data " +
                      g.out + " --split validation --device cpu --quiet --pictures 0 --out " + (tmp.path / "i").string(),
                  log);
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  const auto metrics = nlohmann::json::parse(read_bytes(tmp.path / "i" / "metrics.json"));
  CHECK(metrics["split"] == "validation");
  CHECK(std::fabs(metrics["overall"]["all"]["mae"].get<double>() - std::stod(m.at("validation_mae"))) <=
        1e-5 * std::stod(m.at("validation_mae")));
}
