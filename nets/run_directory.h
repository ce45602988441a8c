// A training run's directory, and how the state of an epoch is committed to it as one unit.
//
// A run directory holds best.safetensors (lowest test MAE), last.safetensors (the model after the
// last epoch), last.optim.safetensors (Adam's moments and step, the best-so-far bookkeeping) and
// train_log.csv. An epoch's state is all four together: weights without their Adam moments, or a
// log that stops an epoch early, resume into a different run. Each file alone is replaced
// atomically (written beside, renamed over), but four renames are four instants, and a kill (an
// out-of-memory kill, a node failure, Ctrl-C twice) can fall between any two. So an epoch is
// committed like a database transaction with a redo record:
//
//   1. stage:  write every changed file as NAME.next (fsync'd); the committed files are untouched;
//   2. commit: write checkpoint.json (atomically: .tmp, fsync, rename, fsync of the directory)
//              naming the epoch and, for each of the four files, its size and FNV-1a 64 hash;
//   3. apply:  rename each NAME.next over NAME.
//
// recover() brings a directory to its last committed epoch: a NAME.next whose hash is the record's
// was committed and is moved into place (a kill during step 3); any other NAME.next belongs to an
// epoch whose record was never written (a kill during step 1) and is deleted. Then every file must
// hash to the record; one that does not (a copy from another run, a file edited by hand) is an
// error that names it. So a kill at any instant leaves the previous epoch's state or the new one,
// never a mix. Directories written before checkpoint.json existed are checked the old way: the
// epoch recorded in last.safetensors and in last.optim.safetensors must agree.
//
// The hashes detect accidents, not tampering.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ednn::nets {

namespace run_files {
inline constexpr const char* best = "best.safetensors";
inline constexpr const char* last = "last.safetensors";
inline constexpr const char* last_optim = "last.optim.safetensors";
inline constexpr const char* log = "train_log.csv";
inline constexpr const char* record = "checkpoint.json";
}  // namespace run_files

// Whether `dir` holds (part of) a training run: any of the files above, committed or staged.
bool holds_run(const std::string& dir);

// Removes the run's files from `dir` (for train --overwrite); other files are left alone.
void remove_run(const std::string& dir);

// One epoch's state on its way into the directory. Stage every file that changed, then commit().
class EpochCommit {
public:
  EpochCommit(std::string dir, int epoch);
  // The path to write NAME's new content to (DIR/NAME.next); the caller writes it completely.
  std::string stage(const std::string& name);
  // Steps 2 and 3. Files not staged keep their committed content, which the record vouches for.
  void commit();

private:
  std::string dir_;
  int epoch_;
  std::vector<std::string> staged_;
};

// What recover() found and did.
struct Recovery {
  int epoch = -1;                       // the committed epoch; -1: no record (none yet, or an old directory)
  std::vector<std::string> rolled_forward;  // files moved into place from NAME.next
  std::vector<std::string> discarded;       // uncommitted NAME.next files deleted

  // One line per file recovered, "PROGRAM: DIR: completed the interrupted commit of epoch E (FILE)"
  // or "...: removed FILE, left by an epoch that was never committed", for the user.
  std::vector<std::string> report(const std::string& program, const std::string& dir) const;
};

// Brings `dir` to its last committed epoch and checks that its files belong together (see above);
// throws ednn::Error naming the file that does not.
Recovery recover(const std::string& dir);

// The 64-bit FNV-1a hash of a file's bytes, as 16 hex digits.
std::string file_hash(const std::string& path);

// Test hook: when the environment variable EDNN_CHECKPOINT_KILL_AT is k >= 1, the process kills
// itself (SIGKILL, as the kernel's out-of-memory killer would) at the k-th step of the next
// commits: after each staged file is written, after the record, after each rename. For the test
// that resumes from every such instant; no effect otherwise.
void checkpoint_kill_point();

}  // namespace ednn::nets
