// study: runs the paper's experiments end to end. A study file (JSON, docs/STUDY.md) names the data
// set(s) and a grid of training runs; `study` makes the data with `datagen`, trains and evaluates
// every run with the very `train` and `infer` programs (each run a child process, its output in
// the run's train.log), and draws the comparisons of the paper (apps/study_report.h).
//
//   study studies/smoke.json --out runs/smoke [--jobs 2]
//
// Runs already finished are skipped; a run that was interrupted is resumed from its last epoch
// (train --resume); a run whose training finished but whose evaluation did not is evaluated. So
// the same command, run again, continues a study, and a finished study only redraws its report.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "apps/cli.h"
#include "apps/progress.h"
#include "apps/study_plan.h"
#include "apps/study_report.h"
#include "core/error.h"
#include "nets/checkpoint.h"
#include "nets/ednn_cnn.h"
#include "nets/run_directory.h"
#include "nets/run_settings.h"
#include "solver/dataset_h5.h"

extern char** environ;

using namespace ednn;
namespace fs = std::filesystem;

namespace {

// The children now running. Each runs in a process group of its own and the study forwards the
// signals it receives to them: a Ctrl-C, or a scheduler's SIGTERM sent to this process alone (as
// Slurm's scancel or a job timeout does), reaches every child exactly once, so none goes on
// training after the study has stopped.
constexpr int kMaxChildren = 256;
std::atomic<pid_t> g_children[kMaxChildren];
std::atomic<bool> g_interrupted{false};
std::atomic<int> g_signal{0};
extern "C" void on_interrupt(int signal) {  // async-signal-safe: atomics and kill() only
  g_interrupted = true;
  g_signal = signal;
  for (auto& child : g_children)
    if (const pid_t pid = child.load(); pid > 0) ::kill(pid, signal);
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// printf's formatting into a string.
template <class... Args>
std::string text(const char* format, Args... args) {
  std::string s(std::size_t(std::snprintf(nullptr, 0, format, args...)), '\0');
  std::snprintf(s.data(), s.size() + 1, format, args...);
  return s;
}

std::string joined(const std::string& program, const std::vector<std::string>& args) {
  std::string s = program;
  for (const auto& a : args) s += " " + (a.find_first_of(" :,=") == std::string::npos ? a : "'" + a + "'");
  return s;
}

// Runs program with args and waits; its stdout and stderr go to `log` (appended) or, when log is
// empty, to ours. extra_env: "NAME=value" entries added to the environment. Returns the exit status
// (128 + signal when killed by one).
int run_program(const std::string& program, const std::vector<std::string>& args, const std::string& log,
                const std::vector<std::string>& extra_env) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  for (const auto& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);  // its own group: signals come from us, once
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) fail("study: cannot start ", program, ": ", std::strerror(rc));
  std::atomic<pid_t>* slot = nullptr;
  for (auto& child : g_children) {
    pid_t free = 0;
    if (child.compare_exchange_strong(free, pid)) {
      slot = &child;
      break;
    }
  }
  if (g_interrupted) ::kill(pid, g_signal.load() ? g_signal.load() : SIGTERM);  // a signal that came before the slot
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail("study: waiting for ", program, " failed: ", std::strerror(errno));
  if (slot) slot->store(0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// The last line of a log that says "error", for the one-line failure report.
std::string last_error_line(const std::string& log) {
  std::ifstream in(log);
  std::string line, found;
  while (std::getline(in, line))
    if (line.find("error") != std::string::npos) found = line;
  return found;
}

// What a run still needs.
enum class Todo { nothing, infer, resume, train };
struct RunState {
  Todo todo = Todo::train;
  int epochs_done = 0;
};

nets::Metadata metadata_if_exists(const fs::path& path) {
  return fs::exists(path) ? nets::read_metadata(path.string()) : nets::Metadata{};
}

// infer/settings.json: what a run's metrics were made with (data file, split, infer settings).
nlohmann::ordered_json evaluation_record(const study::Study& st, const study::RunSpec& run) {
  nlohmann::ordered_json j;
  j["data"] = st.data_of(run).file;
  j["split"] = "test";
  j["infer"] = study::infer_settings(st, run);
  return j;
}

// The epochs a run trains (train's planned_epochs: --epochs, raised by --min-steps), given its
// number of training samples; a data set not made yet (a dry run) counts as --epochs.
int planned_epochs_of(const study::RunSpec& run, std::int64_t train_samples) {
  nets::RunSettings s;
  s.epochs = std::stoi(run.settings.at("epochs"));  // every run's settings name its epochs and batch
  s.batch = std::stoi(run.settings.at("batch"));
  s.min_steps = run.settings.count("min-steps") ? std::stoi(run.settings.at("min-steps")) : 0;
  return train_samples > 0 ? nets::planned_epochs(s, train_samples) : s.epochs;
}

RunState state_of(const study::Study& st, const study::RunSpec& run, const fs::path& dir, int planned_epochs) {
  RunState s;
  const nets::Metadata last = metadata_if_exists(dir / "last.optim.safetensors");
  // Nothing committed yet: train from the start. (best.safetensors appears only at the first
  // evaluation, which --evals may put many epochs after the first commit.)
  if (!last.count("epoch")) return s;
  s.epochs_done = std::stoi(last.at("epoch"));
  if (s.epochs_done < planned_epochs) {
    s.todo = Todo::resume;
    return s;
  }
  // Finished when the metrics are newer than the best checkpoint and were made as this study asks.
  const fs::path metrics = dir / "infer" / "metrics.json", record = dir / "infer" / "settings.json";
  bool same_evaluation = false;
  if (fs::exists(record)) {
    try {
      std::ifstream in(record);
      same_evaluation = nlohmann::ordered_json::parse(in) == evaluation_record(st, run);
    } catch (const nlohmann::json::exception&) {
    }
  }
  s.todo = same_evaluation && fs::exists(metrics) &&
                   fs::last_write_time(metrics) >= fs::last_write_time(dir / "best.safetensors")
               ? Todo::nothing
               : Todo::infer;
  return s;
}

// The settings a run folder's run.json records, which must be the run's: names list only what
// differs from the study's "train" block, so after that block changes a folder of the same name
// holds a run trained otherwise. Checked for every run, finished or not, before any starts.
void check_folder(const study::RunSpec& run, const fs::path& dir) {
  const fs::path file = dir / "run.json";
  if (!fs::exists(file)) {
    EDNN_CHECK(!fs::exists(dir / nets::run_files::last) && !fs::exists(dir / nets::run_files::record), "study: ",
               dir.string(),
               " holds a trained run but no run.json recording its settings; remove it or give the study another --out");
    return;
  }
  std::ifstream in(file);
  nlohmann::ordered_json old;
  try {
    in >> old;
  } catch (const nlohmann::json::exception&) {
    fail("study: ", file.string(), " is not JSON; remove the folder ", dir.string(), " to start the run again");
  }
  const nlohmann::ordered_json wanted(run.settings);
  EDNN_CHECK(old.value("settings", nlohmann::ordered_json()) == wanted, "study: ", dir.string(),
             " holds a run with other settings (recorded in its run.json: ",
             old.value("settings", nlohmann::ordered_json()).dump(), "; the study now asks for: ", wanted.dump(),
             "); did the study's train block change? remove the folder or give the study another --out");
}

// run.json: the settings a run folder was made for, written when a run first starts there (a
// folder made for other settings is refused by check_folder).
void claim_folder(const study::RunSpec& run, const fs::path& dir) {
  check_folder(run, dir);
  const fs::path file = dir / "run.json";
  if (fs::exists(file)) return;
  nlohmann::ordered_json j;
  j["run"] = run.name;
  j["settings"] = run.settings;
  fs::create_directories(dir);
  nets::write_text_atomically(file.string(), j.dump(2) + "\n");
}

int run(int argc, char** argv) {
  io::Cli cli("study",
              "Runs a grid of train + infer runs and draws the paper's comparisons.\n\n"
              "  study STUDY.json --out DIR [--jobs K]\n"
              "  study --study STUDY.json --out DIR --dry-run\n\n"
              "The study file (JSON; docs/STUDY.md, examples in studies/) names the data set(s) and the runs. "
              "Outputs in DIR: runs/<run>/ (checkpoints, logs, infer/), runs.csv, runs.json, report.md and the "
              "figures (mae_vs_n_*.png, seeds_*.png, size.png, cross_*.png, cross_means_*.png). "
              "Running the same command again skips finished runs and resumes interrupted ones.");
  cli.option("study", "FILE.json", "the study description (may also be given as the argument)");
  cli.positional("study");
  cli.option("out", "DIR", "output folder; relative data paths in the study file are resolved against it");
  cli.integer_option("jobs", "K", "runs at once (each child gets OMP_NUM_THREADS = cores / K unless it is set)", "1", 1,
                     kMaxChildren);
  cli.option("bin", "DIR", "folder holding datagen, train and infer (default: the folder of this program)");
  cli.flag("dry-run", "list the runs, what each still needs and its command lines, then exit");
  cli.flag("report-only", "run nothing: redraw the table, figures and report from the runs finished so far");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version
  const std::string study_file = cli.get("study");
  if (study_file.empty()) throw io::UsageError("give the study file (study STUDY.json --out DIR; see --help)");
  if (!cli.has("out")) throw io::UsageError("--out DIR is required (see --help)");
  const fs::path out = cli.get("out");
  const int jobs = int(cli.integer("jobs"));
  const fs::path bin = cli.has("bin") ? fs::path(cli.get("bin")) : fs::read_symlink("/proc/self/exe").parent_path();
  for (const char* p : {"datagen", "train", "infer"})
    EDNN_CHECK(fs::exists(bin / p), "study: ", (bin / p).string(), " not found (build all programs, or give --bin DIR)");

  const study::Study st = study::load_study(study_file, out.string());
  const bool dry = cli.has("dry-run"), report_only = cli.has("report-only");
  // A dry run writes nothing; report-only writes only its report. study.json is the copy of the
  // study file the runs were made for, so only a call that runs them writes it.
  std::error_code ec;
  if (!dry) fs::create_directories(report_only ? out : out / "runs", ec);
  if (ec) fail("study: cannot create output folder ", out.string(), ": ", ec.message());
  if (!dry && !report_only) nets::write_text_atomically((out / "study.json").string(), st.source_text);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);

  // ---- 1. the data sets ----
  std::map<std::string, dataset::DatasetInfo> info;
  for (const auto& d : st.data) {
    bool used = false;
    for (const auto& r : st.runs) used = used || &st.data_of(r) == &d;
    if (!used) continue;
    if (!d.datagen.empty() && !report_only) {
      const auto args = study::datagen_arguments(d);
      std::printf("study: data '%s': %s\n", d.name.c_str(), joined("datagen", args).c_str());
      std::fflush(stdout);
      if (!dry) {
        fs::create_directories(fs::path(d.file).parent_path(), ec);
        if (ec) fail("study: cannot create the folder of ", d.file, ": ", ec.message());
        const int rc = run_program((bin / "datagen").string(), args, "", {});
        if (g_interrupted || rc == 130) fail("study: interrupted while making ", d.file, "; run the same command again to continue");
        EDNN_CHECK(rc == 0, "study: datagen failed for data '", d.name, "' (", d.file, ", exit status ", rc, ")");
      }
    }
    if (fs::exists(d.file)) info[d.name] = dataset::DatasetReader(d.file).info();
    else if (report_only) std::printf("study: data '%s': %s does not exist yet (--report-only makes none)\n", d.name.c_str(), d.file.c_str());
    else EDNN_CHECK(dry, "study: data '", d.name, "': ", d.file, " does not exist and the study gives no datagen settings");
  }
  // Each run's training samples, once (0 for a data set that does not exist yet, in a dry run).
  std::vector<std::int64_t> sample_counts;
  for (const auto& r : st.runs) {
    auto it = info.find(st.data_of(r).name);
    const nets::NetConfig net = nets::preset_config(r.settings.at("preset"));
    EDNN_CHECK(it == info.end() || it->second.solver.L == net.L, "study: run ", r.name, ": preset ", net.preset,
               " takes L = ", net.L, " but ", st.data_of(r).file, " has L = ", it->second.solver.L);
    try {
      sample_counts.push_back(
          it == info.end() ? 0 : std::int64_t(dataset::train_indices(it->second, r.fraction(), r.train_n(), r.subset()).size()));
    } catch (const Error& e) {
      fail("study: run ", r.name, ": ", e.what());
    }
  }
  auto train_samples = [&](const study::RunSpec& r) { return sample_counts[std::size_t(&r - st.runs.data())]; };


  // ---- 2. what each run needs ----
  struct Job {
    const study::RunSpec* run;
    fs::path dir;
    RunState state;
    double work;  // for the ETA: samples the run still passes through the network
  };
  // An epoch trains on the run's samples; an evaluation (every epoch, or --evals of them) passes the
  // splits it scores, a forward pass costing about a third of a training step; the evaluation at
  // the end passes the test split once more.
  auto work_of = [&](const study::RunSpec& r, const RunState& s) {
    auto it = info.find(st.data_of(r).name);
    if (it == info.end()) return 1.0;
    const double test = double(dataset::test_indices(it->second).size()) / 3,
                 validation = double(dataset::validation_indices(it->second).size()) / 3;
    const std::string rule = r.settings.count("select-on") ? r.settings.at("select-on") : "auto";
    const bool on_validation = rule == "validation" || (rule == "auto" && validation > 0);
    const bool log_test = r.settings.count("log-test") && r.settings.at("log-test") == "true";
    const double per_evaluation = on_validation ? validation + (log_test ? test : 0) : test;
    const int planned = planned_epochs_of(r, train_samples(r));
    const int evals = r.settings.count("evals") ? std::stoi(r.settings.at("evals")) : 0;
    const int epochs_left = s.todo == Todo::infer ? 0 : planned - s.epochs_done;
    const double evaluations_left = evals > 0 && evals < planned ? double(evals) * epochs_left / planned : epochs_left;
    return std::max(1.0, epochs_left * double(train_samples(r)) + evaluations_left * per_evaluation + test);
  };
  std::vector<Job> todo;
  std::vector<RunState> states;
  int finished = 0;
  for (const auto& r : st.runs) {
    const fs::path dir = out / "runs" / r.name;
    EDNN_CHECK(train_samples(r) > 0 || info.empty(), "study: run ", r.name, " selects no training samples from ",
               st.data_of(r).file, "; give a larger fraction or a bigger data set");
    check_folder(r, dir);
    const RunState s = states.emplace_back(state_of(st, r, dir, planned_epochs_of(r, train_samples(r))));
    if (s.todo == Todo::nothing) ++finished;
    else todo.push_back({&r, dir, s, work_of(r, s)});
  }
  std::printf("study '%s': %zu runs (%d finished, %zu to do) in %s\n", st.name.c_str(), st.runs.size(), finished,
              todo.size(), (out / "runs").string().c_str());
  if (dry) {
    for (const auto& r : st.runs) {
      const fs::path dir = out / "runs" / r.name;
      const RunState& s = states[std::size_t(&r - st.runs.data())];
      const char* what[] = {"finished", "evaluate", "resume", "train"};
      std::printf("  %-9s %s  (%lld train samples; groups", what[int(s.todo)], r.name.c_str(), (long long)train_samples(r));
      for (const auto& g : r.groups) std::printf(" %s", g.c_str());
      std::printf(")\n");
      if (s.todo == Todo::train || s.todo == Todo::resume)
        std::printf("            %s\n", joined("train", study::train_arguments(st, r, dir.string(), s.todo == Todo::resume)).c_str());
      if (s.todo != Todo::nothing)
        std::printf("            %s\n", joined("infer", study::infer_arguments(st, r, dir.string())).c_str());
    }
    return 0;
  }

  // ---- 3. the runs, `jobs` at a time ----
  std::vector<std::string> env;
  if (jobs > 1 && !std::getenv("OMP_NUM_THREADS"))
    env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1u, std::thread::hardware_concurrency() / unsigned(jobs))));
  std::mutex lock;
  std::size_t next = 0, done = 0;
  double work_done = 0, work_total = 0;
  for (const Job& j : todo) work_total += j.work;
  std::vector<std::string> failures;
  const double start = now_s();
  // The bar counts the samples the runs pass through the network (Job::work), so that its time
  // left weighs a large run more than a small one; the lines of the runs are printed above it.
  io::ProgressBar bar;
  auto runs_text = [&] { return text(" runs %zu/%zu", done, todo.size()); };
  auto worker = [&]() {
    for (;;) {
      std::size_t k;
      {
        std::lock_guard<std::mutex> g(lock);
        if (next == todo.size() || g_interrupted) return;
        k = next++;
      }
      const Job& job = todo[k];
      const std::string log = (job.dir / "train.log").string();
      const double t0 = now_s();
      std::string error;
      try {
        claim_folder(*job.run, job.dir);
        {
          std::lock_guard<std::mutex> g(lock);
          bar.print(stdout, text("[%zu/%zu] start %s: %s", k + 1, todo.size(), job.run->name.c_str(),
                                 job.state.todo == Todo::train    ? "train"
                                 : job.state.todo == Todo::resume
                                     ? ("resume after epoch " + std::to_string(job.state.epochs_done)).c_str()
                                     : "evaluate"));
        }
        if (job.state.todo == Todo::train || job.state.todo == Todo::resume) {
          const auto args = study::train_arguments(st, *job.run, job.dir.string(), job.state.todo == Todo::resume);
          std::ofstream(log, std::ios::app) << "$ " << joined("train", args) << "\n";
          const int rc = run_program((bin / "train").string(), args, log, env);
          if (rc != 0) error = "train exited with status " + std::to_string(rc);
        }
        if (error.empty() && !g_interrupted) {
          const auto args = study::infer_arguments(st, *job.run, job.dir.string());
          std::ofstream(log, std::ios::app) << "$ " << joined("infer", args) << "\n";
          const int rc = run_program((bin / "infer").string(), args, log, env);
          if (rc != 0) error = "infer exited with status " + std::to_string(rc);
          else nets::write_text_atomically((job.dir / "infer" / "settings.json").string(),
                                           evaluation_record(st, *job.run).dump(2) + "\n");
        }
      } catch (const Error& e) {
        error = e.what();
      }
      std::lock_guard<std::mutex> g(lock);
      if (g_interrupted) return;
      ++done;
      work_done += job.work;
      if (!error.empty()) {
        const std::string why = last_error_line(log);
        failures.push_back(job.run->name + ": " + error + (why.empty() ? "" : " (" + why + ")") + "; log " + log);
        bar.print(stdout, text("[%zu/%zu] FAILED %s: %s; see %s", k + 1, todo.size(), job.run->name.c_str(),
                               error.c_str(), log.c_str()));
      } else {
        try {
          const auto r = study::read_run_result(*job.run, job.dir.string(), train_samples(*job.run));
          bar.print(stdout, text("[%zu/%zu] done %s: best epoch %d/%d, test MAE %.4g, %s", k + 1, todo.size(),
                                 job.run->name.c_str(), r.best_epoch, r.epochs, r.mae[nets::kAll],
                                 io::format_duration(now_s() - t0).c_str()));
        } catch (const Error& e) {
          failures.push_back(job.run->name + ": " + e.what());
        }
      }
      bar.update(std::int64_t(work_done), runs_text());
    }
  };
  if (!report_only && !todo.empty()) {
    bar.start("study", std::int64_t(work_total), "samples");
    bar.update(0, runs_text());
    std::vector<std::thread> workers;
    for (int j = 0; j < std::min<int>(jobs, int(todo.size())); ++j) workers.emplace_back(worker);
    for (auto& t : workers) t.join();
    bar.finish(runs_text());
    if (g_interrupted) {
      std::fprintf(stderr, "study: interrupted after %s; run the same command again to continue (finished runs are kept, "
                           "interrupted ones resume from their last epoch)\n", io::format_duration(now_s() - start).c_str());
      return 130;
    }
  }

  // ---- 4. the table, figures and report ----
  std::vector<study::RunResult> results;
  std::vector<std::string> unfinished;
  for (const auto& r : st.runs) {
    const fs::path dir = out / "runs" / r.name;
    if (state_of(st, r, dir, planned_epochs_of(r, train_samples(r))).todo != Todo::nothing) {
      unfinished.push_back(r.name);
      continue;
    }
    results.push_back(study::read_run_result(r, dir.string(), train_samples(r)));
  }
  const auto written = study::write_report(st, results, out.string(), unfinished, io::provenance(argc, argv));
  std::printf("study '%s': %zu of %zu runs finished%s.\n  outputs in %s:\n", st.name.c_str(), results.size(),
              st.runs.size(), report_only || todo.empty() ? "" : (", this call took " + io::format_duration(now_s() - start)).c_str(),
              out.string().c_str());
  for (const auto& w : written) std::printf("    %s\n", w.c_str());
  if (!failures.empty()) {
    std::fprintf(stderr, "study: %zu runs failed:\n", failures.size());
    for (const auto& f : failures) std::fprintf(stderr, "  %s\n", f.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("study", run, argc, argv); }
