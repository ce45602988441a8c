// datagen under mpirun (solver/datagen.h, "Several processes"): two and three ranks write the very
// file one process writes (every data set and every attribute, bit for bit), a job stopped with
// --stop-after resumes with any number of ranks to that same file, and an error on any rank stops
// the whole job, promptly, with its rank named. The programs run as they would for a user: the
// datagen binary under the mpirun that CMake found (EDNN_DATAGEN_BINARY, EDNN_MPIRUN).
#include <doctest/doctest.h>
#include <hdf5.h>

#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "solver/datagen.h"
#include "solver/dataset_h5.h"
#include "tests/test_helpers.h"

namespace fs = std::filesystem;
using ednn::test::CommandResult;
using ednn::test::TempDir;

namespace {

// OpenMPI refuses to run as root (CI does) without the two variables; --oversubscribe lets three
// ranks share a two-core machine; the shared-memory transport only (self, vader, without the
// single-copy mechanism that containers often forbid) keeps it from probing networks; timeout
// turns a job that hangs into a failure instead of a stuck test.
const std::string kMpirun =
    "timeout 60 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " EDNN_MPIRUN
    " --oversubscribe --bind-to none --mca btl self,vader --mca btl_vader_single_copy_mechanism none";

// The test's data set: 18 samples at L = 64 (n = 1..3, 6 each), one thread per process.
std::string datagen(const fs::path& out, const std::string& extra = "") {
  return std::string(EDNN_DATAGEN_BINARY) + " --out '" + out.string() +
         "' --L 64 --per-n 6 --max-sources 3 --seed 9 --test-fraction 0.34 --threads 1 " + extra;
}
std::string under_mpirun(int ranks, const std::string& command) {
  return kMpirun + " -np " + std::to_string(ranks) + " " + command;
}

int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Every data set's raw values and every attribute's value in a file, by name (variable-length
// strings as their text, everything else as the bytes of its native type). The group
// `provenance` (the command line and date of the run that finished the file) is left out: it is
// the one part that differs between a one-process, a multi-rank and a resumed run.
std::map<std::string, std::string> everything_in(const fs::path& path) {
  std::map<std::string, std::string> found;
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE_MESSAGE(file >= 0, "cannot open ", path);
  auto add_dataset = [](hid_t group, const char* name, const H5L_info_t*, void* out) -> herr_t {
    if (std::string(name) == "provenance") return 0;
    const hid_t set = H5Dopen2(group, name, H5P_DEFAULT);
    const hid_t type = H5Dget_type(set), native = H5Tget_native_type(type, H5T_DIR_ASCEND);
    const hid_t space = H5Dget_space(set);
    std::string bytes(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)) * H5Tget_size(native), '\0');
    const herr_t status = H5Dread(set, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
    (*static_cast<std::map<std::string, std::string>*>(out))[std::string("data set ") + name] = bytes;
    H5Sclose(space);
    H5Tclose(native);
    H5Tclose(type);
    H5Dclose(set);
    return status;
  };
  auto add_attribute = [](hid_t location, const char* name, const H5A_info_t*, void* out) -> herr_t {
    const hid_t attr = H5Aopen(location, name, H5P_DEFAULT);
    const hid_t type = H5Aget_type(attr);
    std::string value;
    herr_t status = 0;
    if (H5Tis_variable_str(type) > 0) {
      char* text = nullptr;
      status = H5Aread(attr, type, &text);
      value = text ? text : "";
      H5free_memory(text);
    } else {
      const hid_t native = H5Tget_native_type(type, H5T_DIR_ASCEND);
      const hid_t space = H5Aget_space(attr);
      value.resize(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)) * H5Tget_size(native));
      status = H5Aread(attr, native, value.data());
      H5Sclose(space);
      H5Tclose(native);
    }
    (*static_cast<std::map<std::string, std::string>*>(out))[std::string("attribute ") + name] = value;
    H5Tclose(type);
    H5Aclose(attr);
    return status;
  };
  CHECK(H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, add_dataset, &found) >= 0);
  CHECK(H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, add_attribute, &found) >= 0);
  H5Fclose(file);
  return found;
}

// The two files hold the same data sets and attributes, bit for bit (reported name by name).
void check_same_file(const fs::path& made, const fs::path& reference) {
  const auto a = everything_in(made), b = everything_in(reference);
  for (const char* name : {"inputs", "targets", "n_sources", "sources", "split", "sweeps", "residual"})
    CHECK_MESSAGE(b.count(std::string("data set ") + name) == 1, "the reference lacks the data set ", name);
  CHECK(b.size() > 20);  // the data sets and the attributes of solver/dataset_h5.h
  for (const auto& [name, value] : b) {
    CAPTURE(name);
    REQUIRE(a.count(name) == 1);
    CHECK(a.at(name) == value);
  }
  CHECK(a.size() == b.size());
}

}  // namespace

TEST_CASE("solver_datagen_mpi: two and three ranks write the very file one process writes") {
  TempDir dir("datagen_mpi");
  const fs::path one = dir.path / "one.h5", two = dir.path / "two.h5", three = dir.path / "three.h5";
  const CommandResult single = ednn::test::run_command(datagen(one, "--batch 5"), dir.path / "one.log");
  REQUIRE_MESSAGE(single.status == 0, single.output);

  // Batches of 5: shares of 3 and 2 samples, then 2 and 1 in the last batch of 3.
  const CommandResult r2 = ednn::test::run_command(under_mpirun(2, datagen(two, "--batch 5")), dir.path / "two.log");
  REQUIRE_MESSAGE(r2.status == 0, r2.output);
  check_same_file(two, one);
  // Only rank 0 prints: one header naming the backend and the ranks, one summary.
  CHECK_MESSAGE(occurrences(r2.output, "ranks=2 (mpi)") == 1, r2.output);
  CHECK_MESSAGE(occurrences(r2.output, "data set written to") == 1, r2.output);
  CHECK_MESSAGE(occurrences(r2.output, "datagen: " + two.string()) == 1, r2.output);

  // Batches of 2 over three ranks: rank 2 has nothing to solve in any batch, and the file is the
  // same whatever the batch size.
  const CommandResult r3 =
      ednn::test::run_command(under_mpirun(3, datagen(three, "--batch 2")), dir.path / "three.log");
  REQUIRE_MESSAGE(r3.status == 0, r3.output);
  check_same_file(three, one);
  CHECK(occurrences(r3.output, "data set written to") == 1);

  // Rerunning a finished job has nothing to do, and says so once.
  const CommandResult again = ednn::test::run_command(under_mpirun(2, datagen(two)), dir.path / "again.log");
  CHECK_MESSAGE(again.status == 0, again.output);
  CHECK_MESSAGE(occurrences(again.output, "already complete") == 1, again.output);
}

TEST_CASE("solver_datagen_mpi: a stopped job resumes, with any number of ranks, to the same file") {
  TempDir dir("datagen_mpi_resume");
  const fs::path one = dir.path / "one.h5", resumed = dir.path / "resumed.h5";
  const std::string partial = ednn::dataset::partial_path(resumed.string());
  REQUIRE(ednn::test::run_command(datagen(one), dir.path / "one.log").status == 0);

  const CommandResult first =
      ednn::test::run_command(under_mpirun(2, datagen(resumed, "--batch 3 --stop-after 4")), dir.path / "1.log");
  REQUIRE_MESSAGE(first.status == 0, first.output);
  CHECK_FALSE(fs::exists(resumed));
  CHECK(ednn::dataset::DatasetReader(partial, true).info().completed == 4);
  CHECK(occurrences(first.output, "stopped early") == 1);

  const CommandResult second =
      ednn::test::run_command(under_mpirun(3, datagen(resumed, "--batch 3 --stop-after 7")), dir.path / "2.log");
  REQUIRE_MESSAGE(second.status == 0, second.output);
  CHECK(ednn::dataset::DatasetReader(partial, true).info().completed == 11);
  CHECK_MESSAGE(occurrences(second.output, "resumed after 4 samples") == 1, second.output);

  const CommandResult last = ednn::test::run_command(under_mpirun(2, datagen(resumed)), dir.path / "3.log");
  REQUIRE_MESSAGE(last.status == 0, last.output);
  CHECK_FALSE(fs::exists(partial));
  check_same_file(resumed, one);
}

TEST_CASE("solver_datagen_mpi: an error on any rank stops the whole job and names the rank") {
  TempDir dir("datagen_mpi_errors");
  const std::regex rank_named(R"(\(rank [01] of 2; stopping the job\))");

  // Rank 0 cannot create the file: the others, told before they solve anything, do not wait.
  const CommandResult no_dir =
      ednn::test::run_command(under_mpirun(2, datagen(dir.path / "missing" / "x.h5")), dir.path / "no_dir.log");
  CHECK_MESSAGE(no_dir.status != 0, no_dir.output);
  CHECK_MESSAGE(no_dir.status != 124, "the job hung: ", no_dir.output);  // timeout's status
  CHECK_MESSAGE(occurrences(no_dir.output, "does not exist") == 1, no_dir.output);
  CHECK_MESSAGE(no_dir.output.find("(rank 0 of 2; stopping the job)") != std::string::npos, no_dir.output);

  // Rank 0 refuses to overwrite a file made with other parameters, and leaves it as it was.
  const fs::path other = dir.path / "other.h5";
  REQUIRE(ednn::test::run_command(datagen(other), dir.path / "other.log").status == 0);
  const std::string before = ednn::test::read_bytes(other);
  const CommandResult refused =
      ednn::test::run_command(under_mpirun(2, datagen(other, "--seed 10")), dir.path / "refused.log");
  CHECK(refused.status != 0);
  CHECK(refused.status != 124);
  CHECK_MESSAGE(occurrences(refused.output, "made with other parameters") == 1, refused.output);
  CHECK_MESSAGE(refused.output.find("(rank 0 of 2; stopping the job)") != std::string::npos, refused.output);
  CHECK(ednn::test::read_bytes(other) == before);

  // Every rank's solve fails (3 sweeps cannot converge): whichever fails first stops the job.
  const CommandResult diverged =
      ednn::test::run_command(under_mpirun(2, datagen(dir.path / "d.h5", "--max-sweeps 3")), dir.path / "d.log");
  CHECK(diverged.status != 0);
  CHECK(diverged.status != 124);
  CHECK_MESSAGE(diverged.output.find("no convergence after 3 sweeps") != std::string::npos, diverged.output);
  CHECK_MESSAGE(std::regex_search(diverged.output, rank_named), diverged.output);

  // A bad command line is the same on every rank: reported once, by rank 0, exit status 2.
  const CommandResult usage =
      ednn::test::run_command(under_mpirun(2, datagen(dir.path / "u.h5", "--bogus 1")), dir.path / "u.log");
  CHECK(usage.status == 2);
  CHECK_MESSAGE(occurrences(usage.output, "unknown option '--bogus'") == 1, usage.output);
}
