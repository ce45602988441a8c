// Every program in the frame of apps/cli.h, run as a user runs it: datagen, train, infer, study and
// the five benchmarks (those this build has; bench_sor_kernel needs CUDA). For each:
//   --version   exit 0, "<program> (ednn <version>, git <commit>)" with the version read from the
//               top CMakeLists.txt and the commit from git itself;
//   --help      exit 0, no line wider than COLUMNS (80, then 40), every option of the run below listed;
//   --bogus     exit 2, exactly one line on stderr, "<program>: error: unknown option '--bogus' ...";
//   a bad value exit 2, one line naming the option and what it expects;
//   --opt=value the values taken (what the program then prints shows them), not refused.
// Then datagen's Ctrl-C (exit 130, the partial file kept), train's --no-batch-norm=false (once it
// turned the flag on), and a runtime error printed once, the program named once.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_helpers.h"

extern char** environ;

namespace fs = std::filesystem;
using ednn::test::read_bytes;

namespace {

struct Program {
  std::string name, path;
  std::string run;                   // arguments in --opt=value form; {dir} is a fresh folder
  std::vector<int> statuses;         // what the run may exit with
  std::vector<std::string> says;     // one of them in its output: the values were taken
  std::string bad, bad_says;         // a bad value and the error it gives
};

std::vector<Program> programs() {
  std::vector<Program> p;
  auto add = [&](const char* name, const char* path, Program program) {
    program.name = name;
    program.path = path ? path : "";
    p.push_back(program);
  };
#ifdef EDNN_PROGRAM_datagen
  add("datagen", EDNN_PROGRAM_datagen,
      {"", "", "--out={dir}/d.h5 --L=64 --per-n=1 --max-sources=1 --test-fraction=0 --threads=1", {0},
       {"data set written to {dir}/d.h5"}, "--L=abc", "--L expects an integer in 1..2147483647, got 'abc'"});
#endif
#ifdef EDNN_PROGRAM_train
  add("train", EDNN_PROGRAM_train,
      {"", "", "--preset=tiny --summary --seed=3", {0}, {"ED-CNN preset tiny (L 64, c0 4)"}, "--epochs=4294967297",
       "--epochs expects an integer in 1..2147483647, got '4294967297'"});
#endif
#ifdef EDNN_PROGRAM_infer
  // No checkpoint: the values reach the program, which names the file it was given.
  add("infer", EDNN_PROGRAM_infer,
      {"", "", "--checkpoint={dir}/none.safetensors --data={dir}/none.h5 --out={dir}/inf --device=cpu --batch=2", {1},
       {"infer: error: checkpoint {dir}/none.safetensors does not exist"}, "--batch=0",
       "--batch expects an integer in 1..2147483647, got '0'"});
#endif
#ifdef EDNN_PROGRAM_study
  add("study", EDNN_PROGRAM_study,
      {"", "", "--out={dir}/st --jobs=2 --dry-run {dir}/s.json", {0}, {"study 'frame': 1 runs (0 finished, 1 to do)"},
       "--jobs=1.5", "--jobs expects an integer in 1..256, got '1.5'"});
#endif
#ifdef EDNN_PROGRAM_bench_conv
  // A layer filter that keeps nothing: refused, naming the filter it was given.
  add("bench_conv", EDNN_PROGRAM_bench_conv,
      {"", "", "--preset=small --layer=no-such-layer --runs=1 --csv={dir}/c.csv", {1},
       {"--layer no-such-layer: no layer of preset small"}, "--runs=0",
       "--runs expects an integer in 1..2147483647, got '0'"});
#endif
#ifdef EDNN_PROGRAM_bench_ops
  add("bench_ops", EDNN_PROGRAM_bench_ops,
      {"", "", "--preset=small --op=no-such-op --runs=1 --csv={dir}/o.csv", {0}, {"0 rows written to {dir}/o.csv"},
       "--preset=huge", "--preset expects one of paper, small, all; got 'huge'"});
#endif
#ifdef EDNN_PROGRAM_bench_solver
  add("bench_solver", EDNN_PROGRAM_bench_solver,
      {"", "", "--L=64 --samples=1 --seed=3 --model=production", {0}, {"bench_solver: L=64 model=production"},
       "--samples=1.5", "--samples expects an integer in 1..2147483647, got '1.5'"});
#endif
#ifdef EDNN_PROGRAM_bench_sor_kernel
  // Without a GPU it stops after reading its command line, saying so.
  add("bench_sor_kernel", EDNN_PROGRAM_bench_sor_kernel,
      {"", "", "--L=64 --batch=2", {0, 1}, {"L=64 model=clamp tol=1e-06 batch=2", "no usable GPU"}, "--batch=abc",
       "--batch expects an integer in 1..2147483647, got 'abc'"});
#endif
#ifdef EDNN_PROGRAM_bench_train_step
  add("bench_train_step", EDNN_PROGRAM_bench_train_step,
      {"", "", "--preset=tiny --batch=1 --steps=1 --device=cpu", {0}, {"preset tiny (L 64, c0 4"}, "--steps=-1",
       "--steps expects an integer in 1..2147483647, got '-1'"});
#endif
  return p;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

struct Result {
  int status;
  std::string out, err;
};
// A shell command's exit status, stdout and stderr, each on its own.
Result run(const std::string& command, const fs::path& dir) {
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const int rc = std::system((command + " > '" + out.string() + "' 2> '" + err.string() + "'").c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, read_bytes(out), read_bytes(err)};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The version of project(ednn VERSION x.y.z) in the top CMakeLists.txt.
std::string project_version() {
  const std::string text = read_bytes(fs::path(EDNN_SOURCE_DIR) / "CMakeLists.txt");
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex(R"(project\(ednn VERSION ([0-9.]+))")));
  return m[1];
}

// git's short name of the source tree's commit, "unknown" where git cannot tell.
std::string source_commit(const fs::path& dir) {
  const Result r = run("git -C '" EDNN_SOURCE_DIR "' rev-parse --short HEAD", dir);
  const auto lines = lines_of(r.out);
  return r.status == 0 && lines.size() == 1 && !lines[0].empty() ? lines[0] : "unknown";
}

}  // namespace

TEST_CASE("programs: --version, --help, an unknown option, a bad value and --opt=value, in every program") {
  const auto all = programs();
  MESSAGE(all.size(), " programs in this build");
  REQUIRE(all.size() >= 5);  // datagen, train, infer and study need HDF5; bench_sor_kernel needs CUDA
  const ednn::test::TempDir tmp("programs");
  const std::string version = project_version(), commit = source_commit(tmp.path);
  for (const Program& p : all) {
    CAPTURE(p.name);
    const ednn::test::TempDir dir(p.name);
    const std::string d = dir.path.string();
    ednn::test::write_bytes(dir.path / "s.json", R"({"name": "frame", "data": {"d": {"file": "d.h5", "datagen":
        {"L": 64, "per-n": 2, "max-sources": 1, "test-fraction": 0.5}}}, "train": {"preset": "tiny", "epochs": 1},
        "groups": [{}]})");

    Result r = run(p.path + " --version", dir.path);
    CHECK(r.status == 0);
    CHECK(r.out == p.name + " (ednn " + version + ", git " + commit + ")\n");
    CHECK(r.err == "");

    r = run(p.path + " --bogus", dir.path);
    CHECK(r.status == 2);
    CHECK(r.err == p.name + ": error: unknown option '--bogus' (see --help)\n");
    CHECK(r.out == "");

    r = run(p.path + " " + p.bad, dir.path);
    CHECK(r.status == 2);
    CHECK(r.err == p.name + ": error: " + p.bad_says + "\n");

    for (int columns : {80, 40}) {
      CAPTURE(columns);
      r = run("COLUMNS=" + std::to_string(columns) + " " + p.path + " --help", dir.path);
      CHECK(r.status == 0);
      CHECK(r.err == "");
      CHECK(r.out.rfind("usage: " + p.name + " [options]", 0) == 0);
      CHECK(r.out.find("\n  --version\n") != std::string::npos);
      std::size_t widest = 0;
      for (const auto& line : lines_of(r.out)) widest = std::max(widest, line.size());
      CHECK(widest <= std::size_t(columns));
      // Every option of the run below is listed.
      const std::regex option("--([a-zA-Z-]+)=");
      for (std::sregex_iterator it(p.run.begin(), p.run.end(), option), end; it != end; ++it)
        CHECK_MESSAGE(r.out.find("\n  --" + (*it)[1].str() + " ") != std::string::npos, (*it)[1].str());
    }

    const std::string args = replaced(p.run, "{dir}", d);
    r = run(p.path + " " + args, dir.path);
    INFO(args, "\n", r.out, r.err);
    CHECK(std::find(p.statuses.begin(), p.statuses.end(), r.status) != p.statuses.end());
    bool said = false;
    for (const auto& s : p.says) said = said || (r.out + r.err).find(replaced(s, "{dir}", d)) != std::string::npos;
    CHECK(said);
    // An error is one line, the program named once.
    for (const auto& line : lines_of(r.err))
      CHECK(line.find(p.name + ": error: " + p.name + ":") == std::string::npos);
  }
}

#ifdef EDNN_PROGRAM_train
TEST_CASE("programs: train --no-batch-norm=false keeps the batch norm, =true or alone drops it") {
  const ednn::test::TempDir dir("batch_norm_flag");
  const std::string train = EDNN_PROGRAM_train;
  auto has_batch_norm = [&](const std::string& flag) {
    const Result r = run(train + " --preset tiny --summary " + flag, dir.path);
    REQUIRE(r.status == 0);
    return r.out.find("BatchNorm2d") != std::string::npos;
  };
  CHECK(has_batch_norm(""));
  CHECK(has_batch_norm("--no-batch-norm=false"));
  CHECK(has_batch_norm("--no-batch-norm=0"));
  CHECK_FALSE(has_batch_norm("--no-batch-norm"));
  CHECK_FALSE(has_batch_norm("--no-batch-norm=true"));
  CHECK_FALSE(has_batch_norm("--no-batch-norm=yes"));
  const Result r = run(train + " --preset tiny --summary --no-batch-norm=off", dir.path);
  CHECK(r.status == 2);
  CHECK(r.err == "train: error: --no-batch-norm is a flag: give it alone, or =true, =false, =1, =0, =yes or =no; got 'off'\n");
}
#endif

TEST_CASE("programs: values issue 23 found accepted are refused: infer --limit -3, bench_solver --samples 0") {
  const ednn::test::TempDir dir("refused_values");
#ifdef EDNN_PROGRAM_infer
  const Result limit = run(std::string(EDNN_PROGRAM_infer) + " --checkpoint c --data d --out o --limit -3", dir.path);
  CHECK(limit.status == 2);
  CHECK(limit.err == "infer: error: --limit expects an integer in 0..9223372036854775807, got '-3'\n");
#endif
#ifdef EDNN_PROGRAM_bench_solver
  const Result samples = run(std::string(EDNN_PROGRAM_bench_solver) + " --samples 0", dir.path);
  CHECK(samples.status == 2);  // it printed inf and exited 0
  CHECK(samples.err == "bench_solver: error: --samples expects an integer in 1..2147483647, got '0'\n");
#endif
}

#ifdef EDNN_PROGRAM_datagen
TEST_CASE("programs: datagen's thread count is capped (100000 threads crashed the OpenMP runtime)") {
  const ednn::test::TempDir dir("threads_cap");
  const Result r = run(std::string(EDNN_PROGRAM_datagen) + " --out " + (dir.path / "d.h5").string() +
                           " --L 64 --per-n 1 --threads 100000", dir.path);
  CHECK(r.status == 2);
  CHECK(r.err == "datagen: error: --threads expects an integer in 1..1024, got '100000'\n");
  CHECK(!fs::exists(dir.path / "d.h5.partial"));
}

TEST_CASE("programs: datagen stops on Ctrl-C with exit status 130 and keeps its partial file") {
  const ednn::test::TempDir dir("datagen_interrupt");
  const fs::path out = dir.path / "big.h5", partial = dir.path / "big.h5.partial", log = dir.path / "log.txt";
  // 20,000 samples one at a time: far longer than the test waits.
  std::vector<std::string> args{EDNN_PROGRAM_datagen, "--out", out.string(), "--L", "64", "--per-n", "20000",
                                "--max-sources", "1", "--batch", "1", "--threads", "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  // The partial file exists once the Ctrl-C handler is in place and the first batch is solving.
  for (int i = 0; i < 600 && !fs::exists(partial); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const bool started = fs::exists(partial);
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const std::string output = read_bytes(log);
  INFO(output);
  REQUIRE(started);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(output.find("stopped early; the samples so far are in " + partial.string()) != std::string::npos);
  CHECK(fs::exists(partial));
  CHECK_FALSE(fs::exists(out));
}
#endif
