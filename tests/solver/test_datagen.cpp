// datagen and the HDF5 data set files: round trip, ordering and nested subsets, resume after a
// clean stop and after kill -9, and refusal to overwrite.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "solver/datagen.h"
#include "solver/dataset_h5.h"
#include "tests/test_helpers.h"
#include "tests/solver/direct_solve.h"

using namespace ednn::dataset;
using ednn::solver::SolverConfig;
namespace fs = std::filesystem;

namespace {

using ednn::test::TempDir;
std::string file_bytes(const std::string& path) { return ednn::test::read_bytes(path); }
std::string error_of(const DatagenOptions& o) { return ednn::test::error_message([&] { run_datagen(o); }); }


DatagenOptions tiny_options(const fs::path& out) {
  DatagenOptions o;
  o.out = out.string();
  o.solver.L = 32;
  o.solver.min_sources = 1;
  o.solver.max_sources = 3;
  o.per_n = 2;
  o.test_fraction = 0.5;
  o.seed = 77;
  return o;
}

// Everything a reader sees in a file, sample by sample.
struct Contents {
  std::vector<float> inputs, targets, sources;
  std::vector<int> n_sources, split, sweeps;
  std::vector<double> residual;
  bool operator==(const Contents&) const = default;
};

Contents read_all(const std::string& path) {
  DatasetReader r(path);
  Contents c;
  const size_t pixels = static_cast<size_t>(r.L()) * r.L();
  std::vector<float> image(pixels);
  for (std::int64_t i = 0; i < r.size(); ++i) {
    r.read_input(i, image);
    c.inputs.insert(c.inputs.end(), image.begin(), image.end());
    r.read_target(i, image);
    c.targets.insert(c.targets.end(), image.begin(), image.end());
    for (const auto& s : r.sources(i)) c.sources.insert(c.sources.end(), {s.x, s.y, s.value});
    c.n_sources.push_back(r.n_sources(i));
    c.split.push_back(r.split(i));
    c.sweeps.push_back(r.stats(i).sweeps);
    c.residual.push_back(r.stats(i).residual);
  }
  return c;
}


}  // namespace

TEST_CASE("solver_datagen: the ordering makes the nested subsets prefixes, equal per n") {
  SolverConfig c;
  c.L = 64;
  const DatasetInfo info = make_dataset_info(c, 1, 20000, 0.2, false);
  CHECK(info.size() == 400000);
  CHECK(info.train_per_n == 16000);
  CHECK(info.test_per_n == 4000);
  std::vector<std::int64_t> previous;
  for (double fraction : {0.0125, 0.025, 0.05, 0.125, 0.25, 0.5, 1.0}) {
    const std::vector<std::int64_t> train = train_indices(info, fraction);
    const std::int64_t k = std::llround(fraction * 16000);
    REQUIRE(static_cast<std::int64_t>(train.size()) == 20 * k);
    std::vector<std::int64_t> prefix(train.size());
    std::iota(prefix.begin(), prefix.end(), 0);
    CHECK(train == prefix);  // a prefix of the file...
    CHECK(std::equal(previous.begin(), previous.end(), train.begin()));  // ...containing the smaller ones
    std::vector<int> per_n(21, 0);
    for (std::int64_t i : train) {
      const SampleSlot slot = slot_of(info, i);
      CHECK(slot.split == Split::train);
      ++per_n[slot.n_sources];
    }
    CHECK(std::count(per_n.begin() + 1, per_n.end(), k) == 20);  // equal numbers per n
    previous = train;
  }
  const std::vector<std::int64_t> test = test_indices(info);
  CHECK(test.size() == 80000);
  CHECK(test.front() == 320000);
  CHECK(test.back() == 399999);
  const std::vector<std::int64_t> only7 = train_indices(info, 0.0125, 7);
  CHECK(only7.size() == 200);
  for (std::int64_t i : only7) CHECK(slot_of(info, i).n_sources == 7);
  CHECK(index_of(info, 7, 3) == 3 * 20 + 6);
  CHECK_THROWS_AS(make_dataset_info(c, 1, 10, 1.0, false), ednn::Error);

  // Disjoint subsets of one size (the paper's sets A, B, C): block J holds ranks [J k, (J + 1) k)
  // of every n, so blocks share nothing and block 0 is the nested prefix.
  const std::int64_t k = 200;  // 0.0125 of 16000
  std::vector<std::int64_t> seen;
  for (int subset = 0; subset < 3; ++subset) {
    const std::vector<std::int64_t> block = train_indices(info, 0.0125, 0, subset);
    REQUIRE(static_cast<std::int64_t>(block.size()) == 20 * k);
    for (std::int64_t i : block) {
      const SampleSlot slot = slot_of(info, i);
      CHECK((slot.rank >= subset * k && slot.rank < (subset + 1) * k && slot.split == Split::train));
    }
    seen.insert(seen.end(), block.begin(), block.end());
  }
  CHECK(train_indices(info, 0.0125, 0, 0) == train_indices(info, 0.0125));
  std::sort(seen.begin(), seen.end());
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  CHECK(train_indices(info, 0.0125, 7, 2).front() == index_of(info, 7, 2 * 200));
  // 0.5 fits twice in the train split, not three times.
  CHECK(train_indices(info, 0.5, 0, 1).back() == index_of(info, 20, 16000 - 1));
  CHECK(ednn::test::error_message([&] { train_indices(info, 0.5, 0, 2); }).find("needs 24000 train samples per n") !=
        std::string::npos);
}

TEST_CASE("solver_datagen: a written file holds exactly the samples the solver makes") {
  TempDir dir;
  DatagenOptions o = tiny_options(dir.path / "tiny.h5");
  const DatagenSummary summary = run_datagen(o);
  CHECK(summary.finished);
  CHECK(summary.path == o.out);
  CHECK(fs::exists(o.out));
  CHECK_FALSE(fs::exists(partial_path(o.out)));
  CHECK(summary.samples == 6);
  CHECK(summary.worst_residual <= o.solver.tol);

  DatasetReader r(o.out);
  const DatasetInfo& info = r.info();
  CHECK(info.solver.L == 32);
  CHECK(info.seed == 77);
  CHECK(info.solver.omega == ednn::solver::optimal_omega(32, 1.0, 1.0 / 400));
  CHECK(info.engine_version == EDNN_VERSION);
  CHECK(info.finished());
  std::vector<float> input(32 * 32), target(32 * 32), expected(32 * 32);
  for (std::int64_t i = 0; i < r.size(); ++i) {
    CAPTURE(i);
    const SampleSlot slot = slot_of(info, i);
    CHECK(r.n_sources(i) == 1 + i % 3);
    CHECK(r.split(i) == (i < 3 ? 0 : 1));
    const auto sources = ednn::solver::sample_sources(info.solver, 77, static_cast<std::uint64_t>(i), slot.n_sources);
    const auto stored = r.sources(i);
    REQUIRE(stored.size() == sources.size());
    for (size_t s = 0; s < sources.size(); ++s) {
      CHECK(stored[s].x == sources[s].x);
      CHECK(stored[s].y == sources[s].y);
      CHECK(stored[s].value == sources[s].value);
    }
    r.read_input(i, input);
    ednn::solver::render_input(info.solver, sources, expected);
    CHECK(input == expected);
    r.read_target(i, target);
    const std::vector<double> direct = ednn::solver::testing::direct_solve(info.solver, input);
    CHECK(ednn::solver::testing::max_abs_difference(direct, target) <= 1e-4);
    CHECK(r.stats(i).residual <= info.solver.tol);
    CHECK(r.stats(i).sweeps > 0);
  }
  CHECK_THROWS_AS(r.read_input(6, input), ednn::Error);
}

TEST_CASE("solver_datagen: a validation split comes after the test split and changes no train or test sample") {
  TempDir dir;
  // per_n 6, test 1/6, validation 1/6: ranks 0..3 train, 4 test, 5 validation; the same train and
  // test samples as per_n 5 with test fraction 0.2 (ranks 0..3 train, 4 test).
  DatagenOptions with = tiny_options(dir.path / "with.h5");
  with.per_n = 6;
  with.test_fraction = 1.0 / 6;
  with.validation_fraction = 1.0 / 6;
  DatagenOptions without = tiny_options(dir.path / "without.h5");
  without.per_n = 5;
  without.test_fraction = 0.2;
  run_datagen(with);
  run_datagen(without);
  const Contents a = read_all(with.out), b = read_all(without.out);
  const DatasetInfo info = DatasetReader(with.out).info();
  CHECK(info.train_per_n == 4);
  CHECK(info.test_per_n == 1);
  CHECK(info.validation_per_n == 1);
  CHECK(DatasetReader(without.out).info().validation_per_n == 0);
  // Samples 0..14 (ranks 0..4 of n = 1..3) are the same in both files, split codes included.
  const std::size_t px = 32 * 32;
  CHECK(std::equal(b.targets.begin(), b.targets.end(), a.targets.begin()));
  CHECK(std::equal(b.inputs.begin(), b.inputs.end(), a.inputs.begin()));
  CHECK(std::equal(b.split.begin(), b.split.end(), a.split.begin()));
  CHECK(a.targets.size() == 18 * px);
  // The last rank of every n is validation, code 2, and the index lists agree with the codes.
  const std::vector<int> expected_split = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
  CHECK(a.split == expected_split);
  CHECK(validation_indices(info) == std::vector<std::int64_t>{15, 16, 17});
  CHECK(test_indices(info) == std::vector<std::int64_t>{12, 13, 14});
  CHECK(validation_indices(info, 2) == std::vector<std::int64_t>{16});
  CHECK(validation_indices(DatasetReader(without.out).info()).empty());
  for (std::int64_t i : validation_indices(info)) CHECK(slot_of(info, i).split == Split::validation);
  // Resuming or re-running with another validation fraction is another data set: refused.
  DatagenOptions other = with;
  other.validation_fraction = 0;
  other.per_n = 6;
  CHECK(error_of(other).find("validation_fraction") != std::string::npos);
}

TEST_CASE("solver_datagen: string attributes are variable-length UTF-8 (h5py reads them as str)") {
  TempDir dir;
  DatagenOptions o = tiny_options(dir.path / "tiny.h5");
  run_datagen(o);
  const hid_t file = H5Fopen(o.out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(file >= 0);
  for (const char* name : {"model", "engine_version", "device"}) {
    CAPTURE(name);
    const hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
    REQUIRE(attr >= 0);
    const hid_t type = H5Aget_type(attr);
    CHECK(H5Tget_class(type) == H5T_STRING);
    CHECK(H5Tis_variable_str(type) > 0);
    CHECK(H5Tget_cset(type) == H5T_CSET_UTF8);
    char* text = nullptr;
    CHECK(H5Aread(attr, type, &text) >= 0);
    const std::string value = text ? text : "";
    H5free_memory(text);
    if (std::string(name) == "engine_version") CHECK(value == EDNN_VERSION);
    else CHECK_FALSE(value.empty());
    H5Tclose(type);
    H5Aclose(attr);
  }
  H5Fclose(file);
  // And the reader gets the same text back.
  CHECK(DatasetReader(o.out).info().engine_version == EDNN_VERSION);
}

TEST_CASE("solver_datagen: the file describes itself: dimension labels, split codes, source fields") {
  TempDir dir;
  DatagenOptions o = tiny_options(dir.path / "tiny.h5");
  run_datagen(o);
  const hid_t file = H5Fopen(o.out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(file >= 0);
  auto text_attribute = [](hid_t object, const char* name) {
    const hid_t attr = H5Aopen(object, name, H5P_DEFAULT);
    REQUIRE(attr >= 0);
    const hid_t type = H5Aget_type(attr);
    char* text = nullptr;
    REQUIRE(H5Aread(attr, type, &text) >= 0);
    const std::string value = text ? text : "";
    H5free_memory(text);
    H5Tclose(type);
    H5Aclose(attr);
    return value;
  };
  const std::vector<std::pair<const char*, std::vector<std::string>>> expected = {
      {"inputs", {"sample", "channel", "y", "x"}}, {"targets", {"sample", "channel", "y", "x"}},
      {"sources", {"sample", "source", "field"}},  {"n_sources", {"sample"}},
      {"split", {"sample"}},                       {"sweeps", {"sample"}},
      {"residual", {"sample"}}};
  for (const auto& [name, labels] : expected) {
    CAPTURE(name);
    const hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    REQUIRE(d >= 0);
    for (std::size_t k = 0; k < labels.size(); ++k) {
      char label[32] = {};
      REQUIRE(H5DSget_label(d, unsigned(k), label, sizeof label) > 0);
      CHECK(std::string(label) == labels[k]);
    }
    CHECK_FALSE(text_attribute(d, "description").empty());
    if (std::string(name) == "split") CHECK(text_attribute(d, "codes") == "0: train, 1: test, 2: validation");
    if (std::string(name) == "sources") CHECK(text_attribute(d, "fields") == "x, y, value");
    H5Dclose(d);
  }
  H5Fclose(file);
  CHECK(DatasetReader(o.out).info().size() > 0);  // and the reader, which checks shapes, still reads it
}

TEST_CASE("solver_datagen: a stopped run resumes to the same file as an uninterrupted one") {
  TempDir dir;
  DatagenOptions whole = tiny_options(dir.path / "whole.h5");
  run_datagen(whole);

  DatagenOptions part = tiny_options(dir.path / "resumed.h5");
  part.batch = 1;
  part.stop_after = 2;
  DatagenSummary first = run_datagen(part);
  CHECK_FALSE(first.finished);
  CHECK_FALSE(fs::exists(part.out));
  REQUIRE(fs::exists(partial_path(part.out)));
  {
    DatasetReader partial(partial_path(part.out), true);
    CHECK(partial.info().completed == 2);
    CHECK_THROWS_AS(DatasetReader(partial_path(part.out)), ednn::Error);  // unfinished without the flag
  }
  part.stop_after = 1;
  CHECK(run_datagen(part).resumed_from == 2);
  part.stop_after = -1;
  part.batch = 0;
  const DatagenSummary last = run_datagen(part);
  CHECK(last.finished);
  CHECK(last.resumed_from == 3);
  CHECK(last.generated == 3);
  CHECK(read_all(part.out) == read_all(whole.out));
  CHECK(file_bytes(part.out) == file_bytes(whole.out));
  // Running it again finds the file complete.
  CHECK(run_datagen(part).was_already_finished);
}

TEST_CASE("solver_datagen: existing files made with other parameters are never overwritten") {
  TempDir dir;
  DatagenOptions o = tiny_options(dir.path / "data.h5");
  run_datagen(o);
  const std::string before = file_bytes(o.out);
  DatagenOptions other = o;
  other.seed = 78;
  CHECK(error_of(other).find("seed: file has 77, requested 78") != std::string::npos);
  other = o;
  other.solver.tol = 1e-5;
  CHECK(error_of(other).find("refusing to overwrite") != std::string::npos);
  CHECK(file_bytes(o.out) == before);

  // Not an HDF5 file at all.
  DatagenOptions text = tiny_options(dir.path / "notes.h5");
  std::ofstream(text.out) << "not a data set";
  CHECK(error_of(text).find("refusing to overwrite") != std::string::npos);

  // A partial file of other parameters.
  DatagenOptions partial = tiny_options(dir.path / "p.h5");
  partial.stop_after = 1;
  partial.batch = 1;
  run_datagen(partial);
  partial.stop_after = -1;
  partial.per_n = 3;
  CHECK(error_of(partial).find("partial data set made with other parameters") != std::string::npos);

  DatagenOptions nowhere = tiny_options(dir.path / "missing_dir" / "x.h5");
  CHECK(error_of(nowhere).find("does not exist") != std::string::npos);
  DatagenOptions bad = tiny_options(dir.path / "bad.h5");
  bad.solver.tol = 1.5;
  CHECK(error_of(bad).find("expected 0 < tol < 1") != std::string::npos);
  bad = tiny_options(dir.path / "bad.h5");
  bad.solver.L = 8;
  CHECK(error_of(bad).find("too small") != std::string::npos);
}

#ifdef EDNN_DATAGEN_BINARY
TEST_CASE("solver_datagen: kill -9 leaves a readable partial file, and rerunning finishes it identically") {
  TempDir dir;
  auto args_for = [](const fs::path& out) {
    return std::vector<std::string>{EDNN_DATAGEN_BINARY, "--out", out.string(), "--L", "64", "--per-n", "40",
                                    "--max-sources", "5", "--seed", "5", "--batch", "2", "--threads", "1"};
  };
  auto spawn = [](const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  };
  auto wait_for = [](pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  };
  const fs::path whole = dir.path / "whole.h5", killed = dir.path / "killed.h5";
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(WEXITSTATUS(wait_for(spawn(args_for(whole)))) == 0);
  const double full_run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Kill at fractions of an uninterrupted run's time, each rerun continuing the partial file.
  int kills = 0;
  for (double fraction : {0.2, 0.3, 0.3}) {
    const pid_t pid = spawn(args_for(killed));
    std::this_thread::sleep_for(std::chrono::duration<double>(fraction * full_run_s));
    if (kill(pid, SIGKILL) == 0) ++kills;
    const int status = wait_for(pid);
    if (WIFSIGNALED(status) && fs::exists(partial_path(killed.string()))) {
      DatasetReader partial(partial_path(killed.string()), true);  // opens, as h5py must
      CHECK(partial.info().completed <= partial.size());
    }
  }
  CHECK(kills > 0);
  REQUIRE(WEXITSTATUS(wait_for(spawn(args_for(killed)))) == 0);
  CHECK(read_all(killed.string()) == read_all(whole.string()));
}
#endif
