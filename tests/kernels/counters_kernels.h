// The small kernels of the memory counters' known-answer tests (counters_test.cpp), compiled for
// counting (counters_kernels.cu through ednn_counted_emulation_sources). Each launcher takes
// device pointers and runs one launch.
#pragma once

namespace counters_test {

// out[i] = in[i] for i < n: grid ceil(n / block) of `block` threads.
void copy_floats(const float* in, float* out, int n, int block);
// out[i] = in[32 i] for i < n (in holds 32 n floats): blocks of 128.
void gather_stride_32(const float* in, float* out, int n);
// out[i] = in[i] as float4 (16-byte loads and stores) for i < n float4s: blocks of 128.
void copy_float4s(const float* in, float* out, int n);
// One warp, a 32 x 32 float tile in dynamic shared memory with rows `stride` floats apart (32 or
// 33): thread t writes row element t of each row j (tile[j stride + t] = in[32 j + t]), a
// barrier, then reads its row's element `column`: out[t] = tile[t stride + column].
void shared_column(const float* in, float* out, int stride, int column);
// One warp: tile[t] = in[t], a barrier, then every lane reads tile[word]: out[t] = tile[word].
void shared_broadcast(const float* in, float* out, int word);
// One warp: a shared array of `bytes_per_lane`-byte elements (8: double, 16: float4) written and
// read back by lane t at element t (out[t]: the element's floats summed, or the double).
void shared_wide(const float* in, float* out, int bytes_per_lane);
// One warp: lane t copies float4 t of `in` into shared memory with simt::copy_async_16 (cp.async),
// waits, a barrier, then out (float4s) gets the shared float4 t.
void copy_async_float4s(const float* in, float* out);

}  // namespace counters_test
