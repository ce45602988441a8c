// The red-black storage both SOR solvers (solver/sor_cpu.cpp, solver/sor_kernel.cu) use.
//
// Pixel (i, j) of an L x L lattice is red (c = 0) when i + j is even, black (c = 1) otherwise.
// Each colour is a (L + 2) x stride array: row i of colour c holds the columns j = 2k + p,
// p = (i + c) % 2, k = 0 .. count(i, c) - 1, at offset (i + 1) * stride + 1 + k. Row -1, row L,
// slot 0 and the slots after count(i, c) are ghosts that stay zero: the absorbing boundary.
// Seen from pixel k of row i of colour c, its four neighbours are in the other colour at
//     left  = row(i) + p - 1 + k,   right = left + 1,   up = row(i - 1) + k,   down = row(i + 1) + k
// (j - 1 and j + 1 have half-indices k - 1 + p and k + p; j in rows i +- 1 has half-index k).
// So a colour's pixels in a row are contiguous: unit-stride loops on the CPU, coalesced loads on
// a GPU, and the 5-point stencil costs four loads of the other colour.
#pragma once
#include <cstddef>

#include "core/host_device.h"

namespace ednn::solver {

struct RedBlackLayout {
  int L = 0;
  int stride = 0;  // half-row plus two ghosts, rounded up to 8 elements (32 bytes of float)

  EDNN_HOST_DEVICE explicit RedBlackLayout(int L_) : L(L_), stride(((L_ + 1) / 2 + 2 + 7) / 8 * 8) {}
  // Elements of one colour, ghosts included.
  EDNN_HOST_DEVICE std::size_t colour_size() const { return static_cast<std::size_t>(L + 2) * stride; }
  EDNN_HOST_DEVICE int parity(int i, int c) const { return (i + c) & 1; }
  // Pixels of colour c in row i.
  EDNN_HOST_DEVICE int count(int i, int c) const { return (L - parity(i, c) + 1) / 2; }
  // Most pixels a colour has in one row.
  EDNN_HOST_DEVICE int half_width() const { return (L + 1) / 2; }
  // Offset of half-index k = 0 of row i (i = -1 and i = L are the ghost rows).
  EDNN_HOST_DEVICE std::size_t row(int i) const { return static_cast<std::size_t>(i + 1) * stride + 1; }
  // Colour and offset of lattice pixel (i, j).
  EDNN_HOST_DEVICE int colour_of(int i, int j) const { return (i + j) & 1; }
  EDNN_HOST_DEVICE std::size_t at(int i, int j) const { return row(i) + static_cast<std::size_t>(j >> 1); }
};

}  // namespace ednn::solver
