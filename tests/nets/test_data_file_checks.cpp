// A data file that lies about itself: a valid datagen file is changed in one way at a time (an
// attribute, a data set's shape, type, rank or row count, a value of the ordering's columns), and
// train, infer and datagen's resume are run on it. Each must stop with exit status 1 and one
// message naming the file and what is wrong, touch no output, and never crash: the suite also runs
// under the sanitizer build, where a read or write past a buffer is reported (and exits 1 as
// well, so the output is checked for the sanitizers' reports too).
#include <doctest/doctest.h>

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "nets/checkpoint.h"
#include "nets/ednn_cnn.h"
#include "solver/datagen.h"
#include "solver/dataset_h5.h"
#include "tests/test_helpers.h"

using namespace ednn;
namespace fs = std::filesystem;

namespace {

// The valid file: L = 64, n = 1..2, 5 samples per n (4 train, 1 test), N = 10.
constexpr int kL = 64, kMaxSources = 2, kPerN = 5, kN = kPerN * kMaxSources;
constexpr std::uint64_t kSeed = 3;
const std::string kDatagenOptions = " --L 64 --max-sources 2 --per-n 5 --test-fraction 0.2 --seed 3 --device cpu";

void write_valid_file(const std::string& path) {
  dataset::DatagenOptions g;
  g.out = path;
  g.solver.L = kL;
  g.solver.max_sources = kMaxSources;
  g.per_n = kPerN;
  g.test_fraction = 0.2;
  g.seed = kSeed;
  dataset::run_datagen(g);
}

// Opens `path` for writing, runs `edit` on the file id, closes it.
void edit_file(const fs::path& path, const std::function<void(hid_t)>& edit) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  edit(f);
  REQUIRE(H5Fclose(f) >= 0);
}

// Overwrites the value of an existing scalar attribute (its type stays).
template <class T>
void set_attribute(hid_t file, const char* name, hid_t memtype, T value) {
  const hid_t a = H5Aopen(file, name, H5P_DEFAULT);
  REQUIRE(a >= 0);
  REQUIRE(H5Awrite(a, memtype, &value) >= 0);
  H5Aclose(a);
}

// Replaces attribute `name` by an array of two int32 values.
void set_array_attribute(hid_t file, const char* name) {
  REQUIRE(H5Adelete(file, name) >= 0);
  const hsize_t two = 2;
  const int values[2] = {kL, kL};
  const hid_t s = H5Screate_simple(1, &two, nullptr);
  const hid_t a = H5Acreate2(file, name, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  REQUIRE(H5Awrite(a, H5T_NATIVE_INT32, values) >= 0);
  H5Aclose(a);
  H5Sclose(s);
}

// Replaces data set `name` by one of another type and shape, filled with `fill` (converted).
void replace_dataset(hid_t file, const char* name, hid_t file_type, std::vector<hsize_t> dims, double fill = 0.5) {
  REQUIRE(H5Ldelete(file, name, H5P_DEFAULT) >= 0);
  const hid_t s = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  const hid_t d = H5Dcreate2(file, name, file_type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(d >= 0);
  hsize_t count = 1;
  for (hsize_t v : dims) count *= v;
  std::vector<double> values(count, fill);
  REQUIRE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  H5Dclose(d);
  H5Sclose(s);
}

// Sets element `index` of a one-dimensional int data set.
void set_element(hid_t file, const char* name, hsize_t index, int value) {
  const hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  REQUIRE(d >= 0);
  const hid_t space = H5Dget_space(d);
  const hsize_t one = 1;
  REQUIRE(H5Sselect_hyperslab(space, H5S_SELECT_SET, &index, nullptr, &one, nullptr) >= 0);
  const hid_t mem = H5Screate_simple(1, &one, nullptr);
  REQUIRE(H5Dwrite(d, H5T_NATIVE_INT, mem, space, H5P_DEFAULT, &value) >= 0);
  H5Sclose(mem);
  H5Sclose(space);
  H5Dclose(d);
}

struct Mutation {
  const char* name;
  std::function<void(hid_t)> edit;
  const char* says;  // what the message must contain
};

std::vector<Mutation> mutations() {
  const hsize_t N = kN, L = kL, M = kMaxSources;
  return {
      // The attributes lie about the data sets (the first was a heap overflow in train).
      {"L smaller than the images", [](hid_t f) { set_attribute(f, "L", H5T_NATIVE_INT32, kL / 2); },
       "data set 'inputs' holds float32 [10, 1, 64, 64], but the attributes (L = 32"},
      {"L larger than the images", [](hid_t f) { set_attribute(f, "L", H5T_NATIVE_INT32, 2 * kL); },
       "data set 'inputs' holds float32 [10, 1, 64, 64], but the attributes (L = 128"},
      {"per_n beyond the rows", [](hid_t f) {
         set_attribute(f, "per_n", H5T_NATIVE_INT32, kPerN + 1);
         set_attribute(f, "train_per_n", H5T_NATIVE_INT32, kPerN);
       }, "N = 12) say float32 [12, 1, 64, 64]"},
      {"max_sources beyond the source rows", [](hid_t f) { set_attribute(f, "max_sources", H5T_NATIVE_INT32, 3); },
       "N = 15) say float32 [15, 1, 64, 64]"},
      {"per_n that does not add up", [](hid_t f) { set_attribute(f, "test_per_n", H5T_NATIVE_INT32, 3); },
       "do not add up"},
      {"completed beyond N", [](hid_t f) { set_attribute(f, "completed", H5T_NATIVE_INT64, std::int64_t(kN + 5)); },
       "attribute completed = 15 outside [0, N = 10]"},
      {"L out of range", [](hid_t f) { set_attribute(f, "L", H5T_NATIVE_INT32, -64); },
       "the attributes describe no valid data set"},
      {"an attribute with two values", [](hid_t f) { set_array_attribute(f, "L"); },
       "attribute 'L' holds 2 values, expected a single value"},
      // The data sets lie about themselves: type, rank, rows.
      {"int32 inputs", [=](hid_t f) { replace_dataset(f, "inputs", H5T_STD_I32LE, {N, 1, L, L}); },
       "data set 'inputs' holds int32 [10, 1, 64, 64], but the attributes"},
      {"float64 targets", [=](hid_t f) { replace_dataset(f, "targets", H5T_IEEE_F64LE, {N, 1, L, L}); },
       "data set 'targets' holds float64 [10, 1, 64, 64]"},
      {"3-D inputs", [=](hid_t f) { replace_dataset(f, "inputs", H5T_IEEE_F32LE, {N, L, L}); },
       "data set 'inputs' holds float32 [10, 64, 64]"},
      {"an extra row of targets", [=](hid_t f) { replace_dataset(f, "targets", H5T_IEEE_F32LE, {N + 1, 1, L, L}); },
       "data set 'targets' holds float32 [11, 1, 64, 64]"},
      {"a missing row of sources", [=](hid_t f) { replace_dataset(f, "sources", H5T_IEEE_F32LE, {N - 1, M, 3}); },
       "data set 'sources' holds float32 [9, 2, 3]"},
      {"int64 n_sources", [=](hid_t f) { replace_dataset(f, "n_sources", H5T_STD_I64LE, {N}, 1); },
       "data set 'n_sources' holds int64 [10]"},
      // The ordering's columns lie (a large n_sources read sources past their row).
      {"an n_sources value", [](hid_t f) { set_element(f, "n_sources", 3, 99); },
       "sample 3 has n_sources = 99, split = 0; the ordering of the attributes says 2, 0"},
      {"a split value", [](hid_t f) { set_element(f, "split", 0, 1); },
       "sample 0 has n_sources = 1, split = 1; the ordering of the attributes says 1, 0"},
  };
}

// What a sanitizer or a signal leaves in the output of a program that crashed.
bool crashed(const std::string& output) {
  for (const char* sign : {"AddressSanitizer", "runtime error:", "LeakSanitizer", "Segmentation", "core dumped"})
    if (output.find(sign) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("data files: the readers check a file against its own description") {
  ednn::test::TempDir tmp("data_checks");
  const fs::path valid = tmp.path / "valid.h5";
  write_valid_file(valid.string());
  REQUIRE(dataset::DatasetReader(valid.string()).info().size() == kN);
  for (const Mutation& m : mutations()) {
    CAPTURE(m.name);
    const fs::path bad = tmp.path / "bad.h5";
    fs::copy_file(valid, bad, fs::copy_options::overwrite_existing);
    edit_file(bad, m.edit);
    const std::string message = ednn::test::error_message([&] { dataset::DatasetReader{bad.string()}; });
    CHECK(message.find("dataset " + bad.string() + ": ") == 0);
    CHECK(message.find(m.says) != std::string::npos);
    CHECK_THROWS_AS(dataset::DatasetWriter::open(bad.string()), dataset::InconsistentFile);
  }
}

TEST_CASE("data files: train, infer and datagen refuse a file that contradicts itself") {
  ednn::test::TempDir tmp("data_programs");
  const fs::path valid = tmp.path / "valid.h5", log = tmp.path / "log.txt";
  write_valid_file(valid.string());
  // A tiny-preset checkpoint for infer (its weights do not matter: infer must stop before using them).
  const nets::NetConfig cfg = nets::preset_config("tiny");
  auto net = nets::build_ednn(cfg, 0);
  const fs::path checkpoint = tmp.path / "tiny.safetensors";
  nets::save_model(checkpoint.string(), *net,
                   {{"preset", cfg.preset}, {"L", std::to_string(cfg.L)}, {"c0", std::to_string(cfg.c0)}});
  const std::string train = EDNN_TRAIN_BIN, infer = EDNN_INFER_BIN, datagen = EDNN_DATAGEN_BIN;

  // The valid file is accepted by each program (so the refusals below are the mutations' doing).
  auto r = ednn::test::run_command(infer + " --checkpoint " + checkpoint.string() + " --data " + valid.string() +
                                       " --device cpu --quiet --pictures 0 --out " + (tmp.path / "ok").string(),
                                   log);
  INFO(r.output);
  REQUIRE(r.status == 0);

  for (const Mutation& m : mutations()) {
    CAPTURE(m.name);
    const fs::path bad = tmp.path / "bad.h5";
    fs::copy_file(valid, bad, fs::copy_options::overwrite_existing);
    edit_file(bad, m.edit);
    const std::string named = "dataset " + bad.string() + ": ";

    r = ednn::test::run_command(train + " --data " + bad.string() + " --preset tiny --epochs 1 --batch 2 --device cpu "
                                "--quiet --out " + (tmp.path / "run").string(), log);
    CAPTURE(r.output);
    CHECK(r.status == 1);
    CHECK(!crashed(r.output));
    CHECK(r.output.find(named) != std::string::npos);
    CHECK(r.output.find(m.says) != std::string::npos);
    CHECK(!fs::exists(tmp.path / "run" / "last.safetensors"));

    r = ednn::test::run_command(infer + " --checkpoint " + checkpoint.string() + " --data " + bad.string() +
                                " --device cpu --quiet --out " + (tmp.path / "inf").string(), log);
    CAPTURE(r.output);
    CHECK(r.status == 1);
    CHECK(!crashed(r.output));
    CHECK(r.output.find(named) != std::string::npos);
    CHECK(r.output.find(m.says) != std::string::npos);
    CHECK(!fs::exists(tmp.path / "inf" / "metrics.json"));

    // datagen continuing the file as its own .partial: refused, the partial kept as it was, nothing renamed.
    const fs::path out = tmp.path / "resumed.h5", partial = dataset::partial_path(out.string());
    fs::copy_file(bad, partial, fs::copy_options::overwrite_existing);
    const std::string before = ednn::test::read_bytes(partial);
    r = ednn::test::run_command(datagen + " --out " + out.string() + kDatagenOptions, log);
    CAPTURE(r.output);
    CHECK(r.status == 1);
    CHECK(!crashed(r.output));
    CHECK(r.output.find(partial.string() + " contradicts its own description") != std::string::npos);
    CHECK(r.output.find(m.says) != std::string::npos);
    CHECK(!fs::exists(out));
    CHECK(ednn::test::read_bytes(partial) == before);
  }
}

TEST_CASE("data files: infer refuses an unfinished datagen file") {
  ednn::test::TempDir tmp("data_partial");
  const fs::path out = tmp.path / "d.h5", log = tmp.path / "log.txt";
  const std::string partial = dataset::partial_path(out.string());
  auto r = ednn::test::run_command(std::string(EDNN_DATAGEN_BIN) + " --out " + out.string() + kDatagenOptions +
                                       " --batch 2 --stop-after 4", log);
  INFO(r.output);
  REQUIRE(fs::exists(partial));
  const nets::NetConfig cfg = nets::preset_config("tiny");
  auto net = nets::build_ednn(cfg, 0);
  const fs::path checkpoint = tmp.path / "tiny.safetensors";
  nets::save_model(checkpoint.string(), *net,
                   {{"preset", cfg.preset}, {"L", std::to_string(cfg.L)}, {"c0", std::to_string(cfg.c0)}});
  r = ednn::test::run_command(std::string(EDNN_INFER_BIN) + " --checkpoint " + checkpoint.string() + " --data " +
                                  partial + " --device cpu --quiet --out " + (tmp.path / "inf").string(), log);
  CAPTURE(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("dataset " + partial + ": unfinished, 4 of 10 samples written") != std::string::npos);
  CHECK(!fs::exists(tmp.path / "inf" / "metrics.json"));
}
