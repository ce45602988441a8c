#include "apps/sources_file.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace ednn::io {

std::vector<solver::Source> read_sources_file(const std::string& path, const solver::SolverConfig& config) {
  std::ifstream in(path);
  if (!in) fail("sources ", path, ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<solver::Source> out;
  const bool is_json = path.size() >= 5 && path.substr(path.size() - 5) == ".json";
  if (is_json) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
      if (j.is_object() && j.contains("sources")) j = j["sources"];
      EDNN_CHECK(j.is_array(), "sources ", path, ": expected a JSON array of sources");
      for (const auto& s : j) {
        if (s.is_array()) {
          EDNN_CHECK(s.size() == 3, "sources ", path, ": each source needs [x, y, value]");
          out.push_back({s[0].get<float>(), s[1].get<float>(), s[2].get<float>()});
        } else {
          out.push_back({s.at("x").get<float>(), s.at("y").get<float>(), s.at("value").get<float>()});
        }
      }
    } catch (const nlohmann::json::exception& e) {
      fail("sources ", path, ": bad JSON: ", e.what());
    }
  } else {
    // Strict: blank lines and '#' comments aside, every line is three numbers and nothing else,
    // except a first such line that is exactly the header x,y,value.
    std::istringstream lines(text);
    std::string line;
    int row = 0;
    bool header_seen = false;
    while (std::getline(lines, line)) {
      ++row;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
      std::string compact;
      for (char ch : line)
        if (ch != ' ' && ch != '\t') compact += ch;
      const bool first = out.empty() && !header_seen;
      if (first && compact == "x,y,value") {
        header_seen = true;
        continue;
      }
      float x, y, v;
      char c1, c2;
      std::istringstream ls(line);
      if (!(ls >> x >> c1 >> y >> c2 >> v) || c1 != ',' || c2 != ',' || !(ls >> std::ws).eof())
        fail("sources ", path, ": line ", row, " is not 'x,y,value' (three numbers", row == 1 ? ", or the header x,y,value" : "",
             "): ", line);
      out.push_back({x, y, v});
    }
  }
  EDNN_CHECK(!out.empty(), "sources ", path, ": no sources");
  const float lo = float(config.radius), hi = float(config.L - 1 - config.radius);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto& s = out[i];
    EDNN_CHECK(s.x == std::floor(s.x) && s.y == std::floor(s.y), "sources ", path, ": source ", i + 1, " at (", s.x,
               ", ", s.y, ") is not on a lattice site: centres are whole numbers (column, row), as datagen draws them");
    EDNN_CHECK(s.x >= lo && s.x <= hi && s.y >= lo && s.y <= hi, "sources ", path, ": source ", i + 1, " at (", s.x,
               ", ", s.y, ") does not keep its disk of radius ", config.radius, " inside the ", config.L, " x ",
               config.L, " lattice (centres must be in [", lo, ", ", hi, "])");
    EDNN_CHECK(s.value > 0 && s.value <= 1, "sources ", path, ": source ", i + 1, " has value ", s.value,
               ", expected (0, 1]");
  }
  return out;
}

}  // namespace ednn::io
