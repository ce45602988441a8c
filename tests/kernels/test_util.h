// Helpers shared by the kernel tests: the three schedules, comparison against a host reference,
// and running a kernel that must abort in a child process.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/simt_host.h"

namespace ednn::test {

// Runs body once per thread order of the emulation (on a GPU, three times in the GPU's order),
// then restores the order the process started with (EDNN_SIMT_ORDER or forward).
inline void for_each_schedule(const std::function<void(simt::Schedule)>& body) {
  const simt::Schedule initial = simt::schedule();
  const simt::Schedule orders[] = {simt::Schedule::forward, simt::Schedule::reverse, simt::Schedule::random};
  for (simt::Schedule s : orders) {
    simt::set_schedule(s, 12345);
    const std::string name = simt::schedule_name(s);  // INFO keeps a reference: a named string
    INFO("schedule ", name);
    body(s);
  }
  simt::set_schedule(initial, 1);
}

inline std::vector<float> random_floats(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Every got[i] within tol + rel * |want[i]| of want[i]; the first mismatches are reported.
template <class T, class U>
void check_close(const std::vector<T>& got, const std::vector<U>& want, double tol, double rel = 0.0) {
  REQUIRE(got.size() == want.size());
  std::ostringstream first;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (!(std::fabs(g - w) <= tol + rel * std::fabs(w))) {
      if (bad < 5) first << "  [" << i << "] got " << g << ", want " << w << "\n";
      ++bad;
    }
  }
  INFO(bad, " of ", got.size(), " elements differ; first:\n", first.str());
  CHECK(bad == 0);
}

struct ChildResult {
  bool aborted = false;  // killed by SIGABRT
  int exit_code = -1;    // when it exited
  std::string err;       // what it wrote to stderr
};

// Runs fn in a forked child with stderr captured: for kernels that must make the emulation abort.
inline ChildResult run_in_child(const std::function<void()>& fn) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, SIG_DFL);  // not doctest's handlers
    fn();
    _exit(0);
  }
  close(fds[1]);
  ChildResult result;
  char buf[4096];
  for (ssize_t got; (got = read(fds[0], buf, sizeof buf)) > 0;) result.err.append(buf, static_cast<std::size_t>(got));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace ednn::test
