// Lists of sources for `infer --sources`: JSON ([{"x": .., "y": .., "value": ..}, ...], [[x, y, value], ...]
// or {"sources": [...]}) or CSV (x,y,value rows, an optional header line). x is the column and y
// the row of the disk's centre, value in (0, 1].
#pragma once
#include <string>
#include <vector>

#include "solver/solver.h"

namespace ednn::io {

// Reads and checks the sources (centres keep the disk inside the L x L lattice, values in (0, 1]).
std::vector<solver::Source> read_sources_file(const std::string& path, const solver::SolverConfig& config);

}  // namespace ednn::io
