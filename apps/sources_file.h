// Lists of sources for `infer --sources`: JSON ([{"x": .., "y": .., "value": ..}, ...], [[x, y, value], ...]
// or {"sources": [...]}) or CSV (x,y,value rows; the first line may be the header x,y,value; blank
// lines and lines starting with '#' are skipped; anything else is an error naming the line). x is
// the column and y the row of the disk's centre, whole numbers; value in (0, 1].
#pragma once
#include <string>
#include <vector>

#include "solver/solver.h"

namespace ednn::io {

// Reads and checks the sources (centres keep the disk inside the L x L lattice, values in (0, 1]).
std::vector<solver::Source> read_sources_file(const std::string& path, const solver::SolverConfig& config);

}  // namespace ednn::io
