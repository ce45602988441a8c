// Break-even accounting (apps/break_even.h).
#include "apps/break_even.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace ednn::io {

namespace {

std::optional<double> solves_to_break_even(double upfront, double solver, double surrogate) {
  if (!(surrogate < solver)) return std::nullopt;
  return upfront / (solver - surrogate);
}

std::string seconds_text(double s) {
  char text[64];
  if (s < 1.0)
    std::snprintf(text, sizeof text, "%.3g ms", 1000 * s);
  else if (s < 3600.0)
    std::snprintf(text, sizeof text, "%.3g s", s);
  else
    std::snprintf(text, sizeof text, "%.3g h", s / 3600.0);
  return text;
}

std::string solves_text(const std::optional<double>& k) {
  if (!k) return "never (it is no faster than the solver)";
  char text[64];
  std::snprintf(text, sizeof text, "after %.0f solves", std::ceil(*k));
  return text;
}

}  // namespace

BreakEven break_even(const BreakEvenInputs& in) {
  EDNN_CHECK(in.solver_seconds > 0 && in.network_seconds > 0 && in.data_seconds >= 0 &&
                 (!in.polish_seconds || *in.polish_seconds >= 0) && (!in.training_seconds || *in.training_seconds >= 0),
             "break_even: seconds per sample must be > 0 (solver ", in.solver_seconds, ", network ", in.network_seconds,
             ") and the costs >= 0 (data ", in.data_seconds, ")");
  BreakEven out;
  out.upfront_seconds = in.data_seconds + in.training_seconds.value_or(0.0);
  out.network_solves = solves_to_break_even(out.upfront_seconds, in.solver_seconds, in.network_seconds);
  if (in.polish_seconds)
    out.polished_solves =
        solves_to_break_even(out.upfront_seconds, in.solver_seconds, in.network_seconds + *in.polish_seconds);
  return out;
}

std::string describe(const BreakEvenInputs& in, const BreakEven& out) {
  std::string text = "per sample: solver " + seconds_text(in.solver_seconds) + ", network " +
                     seconds_text(in.network_seconds);
  if (in.polish_seconds)
    text += ", network + polish to the solver's tolerance " + seconds_text(in.network_seconds + *in.polish_seconds);
  text += "; upfront " + seconds_text(out.upfront_seconds) + " = data " + seconds_text(in.data_seconds) + " (" +
          in.data_source + ") + training " +
          (in.training_seconds ? seconds_text(*in.training_seconds) : std::string("unknown, counted 0")) + " (" +
          in.training_source + "); the network pays for itself " + solves_text(out.network_solves);
  if (in.polish_seconds) text += ", network + polish " + solves_text(out.polished_solves);
  return text;
}

std::optional<double> training_seconds_from_log(const std::string& path, std::string& why) {
  std::ifstream file(path);
  if (!file) {
    why = path + " not found";
    return std::nullopt;
  }
  std::string line;
  EDNN_CHECK(static_cast<bool>(std::getline(file, line)), "train log ", path, " is empty, expected a header line");
  std::vector<std::string> header;
  {
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) header.push_back(cell);
  }
  int column = -1;
  for (std::size_t c = 0; c < header.size(); ++c)
    if (header[c] == "seconds") column = int(c);
  EDNN_CHECK(column >= 0, "train log ", path, " has no 'seconds' column (header: ", line, ")");
  double total = 0;
  int rows = 0;
  while (std::getline(file, line)) {
    if (line.empty()) continue;
    std::stringstream cells(line);
    std::string cell;
    for (int c = 0; c <= column && std::getline(cells, cell, ','); ++c) {
    }
    char* end = nullptr;
    const double seconds = std::strtod(cell.c_str(), &end);
    EDNN_CHECK(end != cell.c_str() && std::isfinite(seconds) && seconds >= 0, "train log ", path, ", row ", rows + 1,
               ": 'seconds' is '", cell, "', expected a number >= 0");
    total += seconds;
    ++rows;
  }
  why = path + ", " + std::to_string(rows) + " epochs (training only, evaluation excluded)";
  return total;
}

}  // namespace ednn::io
