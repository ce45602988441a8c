// The programs' frame (apps/cli.h, apps/progress.h) in-process: the parser's forms and refusals,
// help wrapped to a width, run_main's lines and exit statuses, and the progress bar's text. Every
// expected value is written out here, not computed by the code under test.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "apps/progress.h"
#include "tests/test_helpers.h"

using ednn::io::Cli;
using ednn::io::UsageError;
using ednn::test::error_message;

namespace {

// A parser with one option of each kind, like a program's.
Cli example() {
  Cli cli("prog", "Does things.\n\n  prog --out DIR");
  cli.option("out", "DIR", "output directory");
  cli.integer_option("epochs", "E", "number of epochs", "100", 0, 2147483647);
  cli.integer_option("max-steps", "N", "steps per epoch (-1: all)", "-1", -1, INT64_MAX);
  cli.unsigned_option("seed", "S", "random stream", "0");
  cli.number_option("lr", "LR", "learning rate", "1e-4");
  cli.choice_option("device", {"cpu", "cuda", "auto"}, "where to run", "auto");
  cli.flag("quiet", "no progress bar");
  cli.flag("no-batch-norm", "without batch norm");
  return cli;
}

// Parses `args` (after the program's name); returns the parser.
Cli parsed(const std::vector<std::string>& args, Cli cli = example()) {
  std::vector<std::string> storage{"prog"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  REQUIRE(cli.parse(int(argv.size()), argv.data()));
  return cli;
}

// The UsageError message parsing `args` gives, or "(no error)".
std::string usage_error(const std::vector<std::string>& args, Cli cli = example()) {
  std::vector<std::string> storage{"prog"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  try {
    cli.parse(int(argv.size()), argv.data());
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

// What f() writes on stderr (fd 2), and its result.
template <class F>
std::pair<int, std::string> with_stderr(F&& f) {
  const ednn::test::TempDir dir("cli_stderr");
  const std::string path = (dir.path / "err.txt").string();
  std::fflush(stderr);
  const int saved = ::dup(2);
  std::FILE* file = std::fopen(path.c_str(), "w");
  ::dup2(::fileno(file), 2);
  const int result = f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::fclose(file);
  return {result, ednn::test::read_bytes(path)};
}

}  // namespace

TEST_CASE("cli: --opt value and --opt=value give the same value; defaults when not given") {
  const Cli a = parsed({"--out", "runs/a", "--epochs", "7", "--lr", "2.5e-3", "--device", "cpu", "--seed", "9"});
  const Cli b = parsed({"--out=runs/a", "--epochs=7", "--lr=2.5e-3", "--device=cpu", "--seed=9"});
  for (const Cli* c : {&a, &b}) {
    CHECK(c->get("out") == "runs/a");
    CHECK(c->integer("epochs") == 7);
    CHECK(c->number("lr") == 2.5e-3);
    CHECK(c->get("device") == "cpu");
    CHECK(c->unsigned_integer("seed") == 9u);
    CHECK(c->has("out"));
    CHECK_FALSE(c->has("quiet"));
  }
  const Cli d = parsed({});
  CHECK_FALSE(d.has("out"));
  CHECK(d.get("out") == "");
  CHECK_FALSE(d.has("epochs"));
  CHECK(d.integer("epochs") == 100);
  CHECK(d.integer("max-steps") == -1);
  CHECK(d.number("lr") == 1e-4);
  CHECK(d.get("device") == "auto");
  // A value may start with one dash (a negative number), and = keeps everything after the first =.
  CHECK(parsed({"--max-steps", "-1"}).integer("max-steps") == -1);
  CHECK(parsed({"--out=a=b"}).get("out") == "a=b");
  // A value that reads like a flag's is a value ("false" is a folder name here).
  CHECK(parsed({"--out", "false"}).has("out"));
  CHECK(parsed({"--out=false"}).get("out") == "false");
  // The last of a repeated option counts.
  CHECK(parsed({"--epochs", "3", "--epochs", "4"}).integer("epochs") == 4);
}

TEST_CASE("cli: a flag is set alone or by true|1|yes, cleared by false|0|no, and refuses other values") {
  CHECK(parsed({"--quiet"}).has("quiet"));
  for (const char* on : {"--no-batch-norm=true", "--no-batch-norm=1", "--no-batch-norm=yes"})
    CHECK(parsed({on}).has("no-batch-norm"));
  // --no-batch-norm=false once turned the flag on.
  for (const char* off : {"--no-batch-norm=false", "--no-batch-norm=0", "--no-batch-norm=no"})
    CHECK_FALSE(parsed({off}).has("no-batch-norm"));
  CHECK(parsed({"--quiet", "--quiet=false"}).has("quiet") == false);
  CHECK(usage_error({"--quiet=maybe"}) ==
        "--quiet is a flag: give it alone, or =true, =false, =1, =0, =yes or =no; got 'maybe'");
  CHECK(usage_error({"--quiet="}) == "--quiet is a flag: give it alone, or =true, =false, =1, =0, =yes or =no; got ''");
  // A flag never takes the next argument: "--quiet true" leaves "true" as an (unexpected) argument.
  CHECK(usage_error({"--quiet", "true"}) == "unexpected argument 'true' (see --help)");
}

TEST_CASE("cli: integers are range-checked before they are converted, and must be whole") {
  CHECK(parsed({"--epochs", "2147483647"}).integer("epochs") == 2147483647);
  CHECK(parsed({"--epochs", "0"}).integer("epochs") == 0);
  const std::string range = " expects an integer in 0..2147483647, got '";
  CHECK(usage_error({"--epochs", "4294967297"}) == "--epochs" + range + "4294967297'");  // 2^32 + 1: once wrapped to 1
  CHECK(usage_error({"--epochs", "2147483648"}) == "--epochs" + range + "2147483648'");
  CHECK(usage_error({"--epochs", "-1"}) == "--epochs" + range + "-1'");
  CHECK(usage_error({"--epochs", "99999999999999999999"}) == "--epochs" + range + "99999999999999999999'");
  for (const char* bad : {"12abc", "1.5", "1e3", "+3", " 3", "0x10", "abc"})
    CHECK(usage_error({"--epochs", bad}) == "--epochs" + range + bad + "'");
  CHECK(usage_error({"--max-steps", "-2"}) == "--max-steps expects an integer in -1..9223372036854775807, got '-2'");
  // Unsigned 64 bits: the whole range, nothing beyond, no sign.
  CHECK(parsed({"--seed", "18446744073709551615"}).unsigned_integer("seed") == 18446744073709551615ull);
  CHECK(usage_error({"--seed", "18446744073709551616"}) ==
        "--seed expects an integer in 0..18446744073709551615, got '18446744073709551616'");
  CHECK(usage_error({"--seed", "-1"}) == "--seed expects an integer in 0..18446744073709551615, got '-1'");
}

TEST_CASE("cli: numbers parse completely and are finite; choices are one of their words") {
  CHECK(parsed({"--lr", "1e-3"}).number("lr") == 1e-3);
  CHECK(parsed({"--lr", "-0.5"}).number("lr") == -0.5);
  for (const char* bad : {"1e-3x", "inf", "nan", "1e999", "", "0.1.2", "one"}) {
    CAPTURE(bad);
    const std::string message = usage_error({std::string("--lr=") + bad});
    if (std::string(bad).empty()) CHECK(message == "--lr needs a value (LR), got an empty one");
    else CHECK(message == std::string("--lr expects a finite number, got '") + bad + "'");
  }
  CHECK(usage_error({"--device", "gpu"}) == "--device expects one of cpu, cuda, auto; got 'gpu'");
}

TEST_CASE("cli: unknown options, missing values, --, and arguments") {
  CHECK(usage_error({"--bogus"}) == "unknown option '--bogus' (see --help)");
  CHECK(usage_error({"--bogus=1"}) == "unknown option '--bogus' (see --help)");
  CHECK(usage_error({"-x"}) == "unknown option '-x' (see --help)");
  // A missing value: at the end, or where the next argument is an option.
  CHECK(usage_error({"--out"}) == "--out needs a value (DIR)");
  CHECK(usage_error({"--out", "--quiet"}) == "--out needs a value (DIR)");
  CHECK(usage_error({"--epochs", "--", "5"}) == "--epochs needs a value (E)");
  // Without a declared argument, a bare word is refused; after --, so is anything.
  CHECK(usage_error({"file.json"}) == "unexpected argument 'file.json' (see --help)");
  CHECK(usage_error({"--", "--out"}) == "unexpected argument '--out' (see --help)");
  // With one: it fills its option, before or after --, but only once.
  auto with_argument = [] {
    Cli cli("prog", "Reads a file.");
    cli.option("study", "FILE.json", "the study file");
    cli.positional("study");
    cli.flag("dry-run", "list only");
    return cli;
  };
  CHECK(parsed({"s.json", "--dry-run"}, with_argument()).get("study") == "s.json");
  CHECK(parsed({"--dry-run", "--", "--s.json"}, with_argument()).get("study") == "--s.json");
  CHECK(parsed({"--", "--dry-run"}, with_argument()).get("study") == "--dry-run");
  CHECK_FALSE(parsed({"--", "--dry-run"}, with_argument()).has("dry-run"));
  CHECK(parsed({"--study", "t.json"}, with_argument()).get("study") == "t.json");
  CHECK(usage_error({"a.json", "b.json"}, with_argument()) == "unexpected argument 'b.json' (see --help)");
  CHECK(usage_error({"a.json", "--study", "b.json"}, with_argument()) ==
        "FILE.json given twice: as the argument 'a.json' and as --study b.json");
}

TEST_CASE("cli: --help and --version end the parse wherever they are, not after --") {
  auto parse = [](std::vector<std::string> args) {
    Cli cli = example();
    args.insert(args.begin(), "prog");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::fflush(stdout);
    const int saved = ::dup(1);
    std::FILE* null = std::fopen("/dev/null", "w");
    ::dup2(::fileno(null), 1);
    auto restore = [&] {
      std::fflush(stdout);
      ::dup2(saved, 1);
      ::close(saved);
      std::fclose(null);
    };
    try {
      const bool go_on = cli.parse(int(argv.size()), argv.data());
      restore();
      return go_on;
    } catch (...) {
      restore();
      throw;
    }
  };
  CHECK_FALSE(parse({"--help"}));
  CHECK_FALSE(parse({"-h"}));
  CHECK_FALSE(parse({"--version"}));
  CHECK_FALSE(parse({"--bogus", "--help"}));  // help answers even on a bad line
  CHECK(parse({"--out", "x", "--", }));
  CHECK_THROWS_AS(parse({"--", "--help"}), UsageError);  // after --, it is an argument
}

TEST_CASE("cli: declarations check their defaults and names") {
  Cli cli("prog", "");
  CHECK(error_message([&] { cli.integer_option("n", "N", "a count", "300", 0, 255); }) ==
        "prog: internal: the default of --n: --n expects an integer in 0..255, got '300'");
  CHECK(error_message([&] { cli.choice_option("c", {"a", "b"}, "a choice", "d"); }) ==
        "prog: internal: the default of --c: --c expects one of a, b; got 'd'");
  cli.flag("quiet", "q");
  CHECK(error_message([&] { cli.flag("quiet", "again"); }) == "prog: internal: option --quiet declared twice");
  CHECK(error_message([&] { cli.flag("help", "mine"); }) == "prog: internal: --help is the frame's own");
  CHECK(error_message([&] { (void)cli.integer("quiet"); }) == "prog: internal: --quiet read as another kind than declared");
  CHECK(error_message([&] { (void)cli.get("nothing"); }) == "prog: internal: undeclared option --nothing");
}

TEST_CASE("cli: wrap breaks at spaces within the width, indents, and cuts a word longer than a line") {
  using ednn::io::wrap;
  CHECK(wrap("the quick brown fox jumps", 12, 2, 4) ==
        std::vector<std::string>{"  the quick", "    brown", "    fox", "    jumps"});
  CHECK(wrap("aaaaaaaaaaaaaaa b", 10, 0, 2) == std::vector<std::string>{"aaaaaaaaaa", "  aaaaa b"});
  CHECK(wrap("one  two\nthree", 80, 0, 0) == std::vector<std::string>{"one two three"});
  CHECK(wrap("", 80, 6, 6) == std::vector<std::string>{""});
}

TEST_CASE("cli: help names every option with its default and fits the width") {
  const Cli cli = example();
  for (int width : {20, 33, 50, 80, 132}) {
    CAPTURE(width);
    const std::string help = cli.help(width);
    std::istringstream lines(help);
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) CHECK(line.size() <= std::size_t(width));
    CHECK(count > 20);
  }
  const std::string help = cli.help(80);
  for (const char* head : {"  --out DIR\n", "  --epochs E (default 100)\n", "  --max-steps N (default -1)\n",
                           "  --seed S (default 0)\n", "  --lr LR (default 1e-4)\n",
                           "  --device cpu|cuda|auto (default auto)\n", "  --quiet\n", "  --no-batch-norm\n",
                           "  -h, --help\n", "  --version\n"})
    CHECK_MESSAGE(help.find(head) != std::string::npos, head);
  CHECK(help.rfind("usage: prog [options]\n\nDoes things.\n\n  prog --out DIR\n\noptions:\n", 0) == 0);
  CHECK(cli.help(200).find("\nexit status: 0 success, 1 an error while running, 2 a bad command line, 130 "
                           "interrupted (Ctrl-C).\n") != std::string::npos);
}

TEST_CASE("cli: the terminal width comes from COLUMNS, else 80 off a terminal; never under 20") {
  const char* before = std::getenv("COLUMNS");
  const std::string saved = before ? before : "";
  const int fd = ::open("/dev/null", 0);  // not a terminal
  ::setenv("COLUMNS", "57", 1);
  CHECK(ednn::io::terminal_width(fd) == 57);
  ::setenv("COLUMNS", "5", 1);
  CHECK(ednn::io::terminal_width(fd) == 20);
  ::setenv("COLUMNS", "wide", 1);
  CHECK(ednn::io::terminal_width(fd) == 80);
  ::unsetenv("COLUMNS");
  CHECK(ednn::io::terminal_width(fd) == 80);
  ::close(fd);
  if (before) ::setenv("COLUMNS", saved.c_str(), 1);
}

TEST_CASE("cli: run_main prints one line, names the program once, and returns 0, 1, 2 or the body's status") {
  auto run = [](int (*body)(int, char**)) {
    char name[] = "prog";
    char* argv[] = {name, nullptr};
    return with_stderr([&] { return ednn::io::run_main("prog", body, 1, argv); });
  };
  CHECK(run([](int, char**) { return 0; }) == std::pair<int, std::string>{0, ""});
  CHECK(run([](int, char**) { return 130; }) == std::pair<int, std::string>{130, ""});
  CHECK(run([](int, char**) -> int { throw UsageError("--x needs a value (N)"); }) ==
        std::pair<int, std::string>{2, "prog: error: --x needs a value (N)\n"});
  CHECK(run([](int, char**) -> int { ednn::fail("prog: cannot read f.h5"); }) ==
        std::pair<int, std::string>{1, "prog: error: cannot read f.h5\n"});
  CHECK(run([](int, char**) -> int { ednn::fail("dataset f.h5: truncated"); }) ==
        std::pair<int, std::string>{1, "prog: error: dataset f.h5: truncated\n"});
  CHECK(run([](int, char**) -> int { throw std::runtime_error("program: not this one"); }) ==
        std::pair<int, std::string>{1, "prog: error: program: not this one\n"});
}

TEST_CASE("progress: one duration format and one line format") {
  using ednn::io::format_duration;
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(59.4) == "0:59");
  CHECK(format_duration(59.6) == "1:00");
  CHECK(format_duration(754) == "12:34");
  CHECK(format_duration(3600) == "1:00:00");
  CHECK(format_duration(3725) == "1:02:05");
  CHECK(format_duration(-1) == "?");
  CHECK(format_duration(NAN) == "?");
  using ednn::io::progress_line;
  // 25 of 100 at 5/s: 15 s left; a quarter of the 24 marks.
  CHECK(progress_line("epoch 1/3", 25, 100, "samples", 5, 5, false, " loss 0.5") ==
        "epoch 1/3 [######..................] 25/100 5.0 samples/s ETA 0:15 loss 0.5");
  CHECK(progress_line("infer", 100, 100, "samples", 12.24, 8.2, true, "") ==
        "infer [########################] 100/100 12.2 samples/s in 0:08");
  CHECK(progress_line("datagen", 0, 10, "samples", 0, 1, false, "") ==
        "datagen [........................] 0/10 0.0 samples/s ETA ?");
}

TEST_CASE("progress: the bar off a terminal prints each tenth once and the final line") {
  const auto [status, text] = with_stderr([] {
    ednn::io::ProgressBar bar;
    bar.start("task", 100, "items");
    for (int done = 1; done <= 100; ++done) bar.update(done, "");
    bar.print(stderr, "a line between");
    bar.finish(" end");
    return 0;
  });
  REQUIRE(status == 0);
  std::istringstream lines(text);
  std::vector<std::string> seen;
  for (std::string line; std::getline(lines, line);) seen.push_back(line);
  // Tenths 1..9 (the whole task is finish()'s line), the printed line, the final line.
  REQUIRE(seen.size() == 11);
  for (int k = 0; k < 9; ++k) {
    const std::string done = std::to_string(10 * (k + 1));
    CHECK(seen[std::size_t(k)].find(" " + done + "/100 ") != std::string::npos);
    CHECK(seen[std::size_t(k)].find(" items/s ETA ") != std::string::npos);
  }
  CHECK(seen[9] == "a line between");
  CHECK(seen[10].rfind("task [########################] 100/100 ", 0) == 0);
  CHECK(seen[10].find(" items/s in 0:00 end") != std::string::npos);
  // A disabled bar prints nothing.
  CHECK(with_stderr([] {
          ednn::io::ProgressBar bar(false);
          bar.start("task", 10, "items");
          bar.update(5, "");
          bar.finish("");
          return 0;
        }).second.empty());
}
