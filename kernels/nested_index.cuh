// NestedIndex: a flat index walked as the digits of nested loops, by additions and carries instead
// of divisions. Shared by the implicit-GEMM kernels (conv2d_gemm.cu) and Winograd's weight gradient
// (conv2d_winograd.cu). Device code: include from a .cu after simt.h.
#pragma once
#include "kernels/simt.h"

namespace ednn::kernels {

// The indices (hi, mid, lo) of three nested loops, lo running fastest (mid < mid_radix,
// lo < lo_radix): the im2col row k = (c, p, q) (radices kH, kW), or the pixel k = (n, i, j)
// (radices H, W), or Winograd's tile t = (n, tile row, tile column). The loads follow k as it grows
// by a fixed amount (from one load of a thread to its next, and from one K step to the next) with
// advance(), which only adds and carries.
// Decoding every k with / and % instead costs two or three integer divisions per loaded element,
// each about 20 instructions on a GPU (the divisor is known only at run time): in the first
// versions of these kernels that was most of what the K loop issued (bench/ptx_loop_mix.py).
struct NestedIndex {
  int hi, mid, lo;
  // k = (hi mid_radix + mid) lo_radix + lo. Divides: for use before the K loop.
  __device__ static NestedIndex of(int k, int mid_radix, int lo_radix) {
    const int rest = k / lo_radix;
    return {rest / mid_radix, rest % mid_radix, k % lo_radix};
  }
  // this += step, step itself made by of() with the same radices (step.mid < mid_radix,
  // step.lo < lo_radix), so each digit carries at most once.
  __device__ void advance(const NestedIndex& step, int mid_radix, int lo_radix) {
    lo += step.lo;
    const int carry_lo = lo >= lo_radix;
    lo -= carry_lo * lo_radix;
    mid += step.mid + carry_lo;
    const int carry_mid = mid >= mid_radix;
    mid -= carry_mid * mid_radix;
    hi += step.hi + carry_mid;
  }
};

}  // namespace ednn::kernels
