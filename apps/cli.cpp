#include "apps/cli.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>

#include "ednn_git_commit.h"  // EDNN_GIT_COMMIT, generated at build time (cmake/GitCommit.cmake)
#include "engine/communicator.h"

namespace ednn::io {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string joined(const std::vector<std::string>& words, const std::string& separator) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : separator) + w;
  return s;
}

// A flag's value: true|false|1|0|yes|no.
bool flag_value(const std::string& name, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  throw UsageError(detail::concat("--", name, " is a flag: give it alone, or =true, =false, =1, =0, =yes or =no; got '",
                                  value, "'"));
}

}  // namespace

Cli::Cli(std::string program, std::string about) : program_(std::move(program)), about_(std::move(about)) {}

void Cli::declare(const std::string& name, Opt opt) {
  EDNN_CHECK(name != "help" && name != "version", program_, ": internal: --", name, " is the frame's own");
  EDNN_CHECK(!opts_.count(name), program_, ": internal: option --", name, " declared twice");
  if (!opt.def.empty()) {
    try {
      check_value(name, opt, opt.def);
    } catch (const UsageError& e) {
      fail(program_, ": internal: the default of --", name, ": ", e.what());
    }
  }
  order_.push_back(name);
  opts_[name] = std::move(opt);
}

void Cli::option(const std::string& name, const std::string& value_name, const std::string& help,
                 const std::string& def) {
  declare(name, {Kind::text, value_name, help, def, {}, 0, 0});
}
void Cli::choice_option(const std::string& name, const std::vector<std::string>& choices, const std::string& help,
                        const std::string& def) {
  declare(name, {Kind::choice, joined(choices, "|"), help, def, choices, 0, 0});
}
void Cli::integer_option(const std::string& name, const std::string& value_name, const std::string& help,
                         const std::string& def, std::int64_t min, std::int64_t max) {
  declare(name, {Kind::integer, value_name, help, def, {}, min, max});
}
void Cli::unsigned_option(const std::string& name, const std::string& value_name, const std::string& help,
                          const std::string& def) {
  declare(name, {Kind::unsigned_integer, value_name, help, def, {}, 0, 0});
}
void Cli::number_option(const std::string& name, const std::string& value_name, const std::string& help,
                        const std::string& def) {
  declare(name, {Kind::number, value_name, help, def, {}, 0, 0});
}
void Cli::flag(const std::string& name, const std::string& help) { declare(name, {Kind::flag, "", help, "", {}, 0, 0}); }
void Cli::positional(const std::string& name) {
  EDNN_CHECK(opts_.count(name) && opts_.at(name).kind != Kind::flag, program_, ": internal: positional --", name,
             " is not a declared option with a value");
  positionals_.push_back(name);
}

void Cli::check_value(const std::string& name, const Opt& o, const std::string& v) const {
  const char* first = v.data();
  const char* last = v.data() + v.size();
  switch (o.kind) {
  case Kind::text:
  case Kind::flag:
    return;
  case Kind::choice:
    for (const auto& c : o.choices)
      if (v == c) return;
    throw UsageError(detail::concat("--", name, " expects one of ", joined(o.choices, ", "), "; got '", v, "'"));
  case Kind::integer: {
    // from_chars reads into 64 bits and says when the text is out of that range; the declared range
    // is checked on the 64-bit value, before the program narrows it.
    std::int64_t x = 0;
    const auto [end, ec] = std::from_chars(first, last, x);
    if (ec == std::errc() && end == last && x >= o.min && x <= o.max) return;
    throw UsageError(detail::concat("--", name, " expects an integer in ", o.min, "..", o.max, ", got '", v, "'"));
  }
  case Kind::unsigned_integer: {
    std::uint64_t x = 0;
    const auto [end, ec] = std::from_chars(first, last, x);
    if (ec == std::errc() && end == last) return;
    throw UsageError(detail::concat("--", name, " expects an integer in 0..", UINT64_MAX, ", got '", v, "'"));
  }
  case Kind::number: {
    double x = 0;
    const auto [end, ec] = std::from_chars(first, last, x);
    if (ec == std::errc() && end == last && std::isfinite(x)) return;
    throw UsageError(detail::concat("--", name, " expects a finite number, got '", v, "'"));
  }
  }
}

bool Cli::parse(int argc, char** argv) {
  // --help and --version first, wherever they are: they answer even on an otherwise bad line.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg != "--help" && arg != "-h" && arg != "--version") continue;
    if (launcher_rank() == 0) {
      const std::string text = arg == "--version" ? version_text(program_) + "\n" : help(terminal_width(STDOUT_FILENO));
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    }
    return false;
  }
  std::vector<std::string> arguments;
  bool options_ended = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (options_ended || arg == "-" || arg.empty() || arg[0] != '-') {
      arguments.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    if (!starts_with(arg, "--")) throw UsageError("unknown option '" + arg + "' (see --help)");
    std::string name = arg.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const auto it = opts_.find(name);
    if (it == opts_.end()) throw UsageError("unknown option '--" + name + "' (see --help)");
    const Opt& o = it->second;
    if (o.kind == Kind::flag) {
      given_[name] = !inline_value || flag_value(name, value) ? "true" : "false";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc || starts_with(argv[i + 1], "--"))
        throw UsageError("--" + name + " needs a value (" + o.value_name + ")");
      value = argv[++i];
    }
    if (value.empty()) throw UsageError("--" + name + " needs a value (" + o.value_name + "), got an empty one");
    check_value(name, o, value);
    given_[name] = value;
  }
  if (arguments.size() > positionals_.size())
    throw UsageError("unexpected argument '" + arguments[positionals_.size()] + "' (see --help)");
  for (std::size_t k = 0; k < arguments.size(); ++k) {
    const std::string& name = positionals_[k];
    const Opt& o = opts_.at(name);
    if (given_.count(name))
      throw UsageError(detail::concat(o.value_name, " given twice: as the argument '", arguments[k], "' and as --",
                                      name, " ", given_.at(name)));
    if (arguments[k].empty()) throw UsageError(o.value_name + " is empty");
    check_value(name, o, arguments[k]);
    given_[name] = arguments[k];
  }
  return true;
}

const Cli::Opt& Cli::declared(const std::string& name, Kind kind) const {
  const auto it = opts_.find(name);
  EDNN_CHECK(it != opts_.end(), program_, ": internal: undeclared option --", name);
  EDNN_CHECK(it->second.kind == kind, program_, ": internal: --", name, " read as another kind than declared");
  return it->second;
}

bool Cli::has(const std::string& name) const {
  const auto o = opts_.find(name);
  EDNN_CHECK(o != opts_.end(), program_, ": internal: undeclared option --", name);
  const auto g = given_.find(name);
  return g != given_.end() && (o->second.kind != Kind::flag || g->second == "true");
}

bool Cli::given(const std::string& name) const {
  EDNN_CHECK(opts_.count(name), program_, ": internal: undeclared option --", name);
  return given_.count(name) > 0;
}

std::string Cli::get(const std::string& name) const {
  const auto o = opts_.find(name);
  EDNN_CHECK(o != opts_.end(), program_, ": internal: undeclared option --", name);
  const auto g = given_.find(name);
  return g != given_.end() ? g->second : o->second.def;
}

std::int64_t Cli::integer(const std::string& name) const {
  declared(name, Kind::integer);
  const std::string v = get(name);
  EDNN_CHECK(!v.empty(), program_, ": internal: --", name, " has no value and no default");
  std::int64_t x = 0;
  std::from_chars(v.data(), v.data() + v.size(), x);  // checked by parse (or declare, for the default)
  return x;
}

std::uint64_t Cli::unsigned_integer(const std::string& name) const {
  declared(name, Kind::unsigned_integer);
  const std::string v = get(name);
  EDNN_CHECK(!v.empty(), program_, ": internal: --", name, " has no value and no default");
  std::uint64_t x = 0;
  std::from_chars(v.data(), v.data() + v.size(), x);
  return x;
}

double Cli::number(const std::string& name) const {
  declared(name, Kind::number);
  const std::string v = get(name);
  EDNN_CHECK(!v.empty(), program_, ": internal: --", name, " has no value and no default");
  double x = 0;
  std::from_chars(v.data(), v.data() + v.size(), x);
  return x;
}

std::vector<std::string> wrap(const std::string& text, int width, int first_indent, int indent) {
  std::vector<std::string> lines;
  std::string line(std::size_t(first_indent), ' ');
  bool empty = true;  // no word on `line` yet
  auto room = [&] { return std::size_t(width) > line.size() ? std::size_t(width) - line.size() : 0; };
  std::size_t at = 0;
  while (at < text.size()) {
    if (text[at] == ' ' || text[at] == '\n') {
      ++at;
      continue;
    }
    std::size_t end = text.find_first_of(" \n", at);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(at, end - at);
    at = end;
    while (!word.empty()) {
      const std::size_t need = word.size() + (empty ? 0 : 1);
      if (need <= room()) {
        line += (empty ? "" : " ") + word;
        empty = false;
        break;
      }
      if (!empty) {  // the word goes to the next line
        lines.push_back(line);
        line.assign(std::size_t(indent), ' ');
        empty = true;
        continue;
      }
      // Longer than a whole line: cut it.
      const std::size_t fits = std::max<std::size_t>(room(), 1);
      line += word.substr(0, fits);
      word.erase(0, fits);
      lines.push_back(line);
      line.assign(std::size_t(indent), ' ');
    }
  }
  if (!empty || lines.empty()) lines.push_back(empty ? std::string() : line);
  return lines;
}

std::string Cli::help(int width) const {
  width = std::max(width, 20);
  std::string out;
  auto add = [&](const std::vector<std::string>& lines) {
    for (const auto& l : lines) out += l + "\n";
  };
  std::string usage = "usage: " + program_ + " [options]";
  for (const auto& p : positionals_) usage += " [" + opts_.at(p).value_name + "]";
  add(wrap(usage, width, 0, 7));
  // The description: paragraphs re-wrapped, indented lines (examples) kept.
  std::size_t at = 0;
  while (at <= about_.size() && !about_.empty()) {
    std::size_t end = about_.find("\n\n", at);
    if (end == std::string::npos) end = about_.size();
    const std::string paragraph = about_.substr(at, end - at);
    at = end + 2;
    if (paragraph.empty()) continue;
    out += "\n";
    if (paragraph[0] == ' ') {
      std::size_t line_at = 0;
      while (line_at < paragraph.size()) {
        std::size_t line_end = paragraph.find('\n', line_at);
        if (line_end == std::string::npos) line_end = paragraph.size();
        const std::string line = paragraph.substr(line_at, line_end - line_at);
        line_at = line_end + 1;
        const int lead = int(line.find_first_not_of(' '));
        if (lead < 0) continue;
        add(wrap(line.substr(std::size_t(lead)), width, lead, lead + 4));
      }
    } else {
      add(wrap(paragraph, width, 0, 0));
    }
  }
  out += "\noptions:\n";
  for (const auto& name : order_) {
    const Opt& o = opts_.at(name);
    std::string head = "--" + name + (o.kind == Kind::flag ? "" : " " + o.value_name);
    if (!o.def.empty()) head += " (default " + o.def + ")";
    add(wrap(head, width, 2, 8));
    add(wrap(o.help, width, 6, 6));
  }
  add(wrap("-h, --help", width, 2, 8));
  add(wrap("this text", width, 6, 6));
  add(wrap("--version", width, 2, 8));
  add(wrap("the program's name, ednn's version and the git commit it was built from", width, 6, 6));
  out += "\n";
  add(wrap("exit status: 0 success, 1 an error while running, 2 a bad command line, 130 interrupted (Ctrl-C).",
           width, 0, 0));
  return out;
}

std::string version_text(const std::string& program) {
  return program + " (ednn " EDNN_VERSION ", git " EDNN_GIT_COMMIT ")";
}

std::vector<std::pair<std::string, std::string>> provenance(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789-_./=:,+@%") == std::string::npos;
    std::string quoted = "'";
    for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += (i ? " " : "") + (plain ? arg : quoted + "'");
  }
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {{"ednn_version", EDNN_VERSION}, {"git_commit", EDNN_GIT_COMMIT}, {"command", command}, {"date", date}};
}

int terminal_width(int fd) {
  int width = 0;
  if (const char* columns = std::getenv("COLUMNS")) {
    const std::string_view text(columns);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), width);
    if (ec != std::errc() || end != text.data() + text.size()) width = 0;
  }
  winsize size{};
  if (width <= 0 && ::isatty(fd) && ::ioctl(fd, TIOCGWINSZ, &size) == 0) width = size.ws_col;
  if (width <= 0) width = 80;
  return std::max(width, 20);
}

int run_main(const char* program, int (*body)(int, char**), int argc, char** argv) {
  // "train: error: train: ..." says the program's name twice: a message may start with it.
  auto line = [&](const std::exception& e) {
    std::string message = e.what();
    const std::string prefix = std::string(program) + ": ";
    while (starts_with(message, prefix)) message.erase(0, prefix.size());
    return prefix + "error: " + message;
  };
  try {
    return body(argc, argv);
  } catch (const UsageError& e) {
    // Read before any collective, the command line is the same on every rank: rank 0 says what is
    // wrong with it and every rank exits. (After a job's communicator exists, as any error below.)
    if (Communicator* job = active_communicator()) job->abort(line(e));
    if (launcher_rank() == 0) std::fprintf(stderr, "%s\n", line(e).c_str());
    return 2;
  } catch (const std::exception& e) {
    // In a job of several processes the others would wait for this one in their next collective:
    // stop them all, naming this rank.
    if (Communicator* job = active_communicator()) job->abort(line(e));
    std::fprintf(stderr, "%s\n", line(e).c_str());
  }
  return 1;
}

}  // namespace ednn::io
