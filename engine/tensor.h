// Tensor: an n-dimensional array (NCHW for images), float32 or float64, on the CPU or a CUDA device,
// with reference-counted storage and the hooks the autograd graph needs.
//
// A Tensor is a handle: copying it shares the data and the gradient. Copies between devices or
// types are explicit (to(), to_dtype(), clone()). Tensors are always contiguous, row-major.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/geometry.h"  // Dims, dims_str

namespace ednn {

enum class DType : std::uint8_t { f32, f64 };
enum class Device : std::uint8_t { cpu, cuda };

std::size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }

using Shape = Dims;                             // std::vector<std::int64_t>
std::string shape_str(const Shape& s);          // "[2, 3, 4]" (dims_str)
std::int64_t shape_numel(const Shape& s);

// A block of memory on one device, freed when the last tensor using it goes away.
// CUDA memory comes from the device's caching allocator (see engine/device.h).
struct Storage {
  void* data = nullptr;
  std::size_t bytes = 0;
  Device device = Device::cpu;
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;  // engine/autograd.h

// The shared state behind a Tensor handle.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;   // accumulated by backward() for leaves that require grad
  std::shared_ptr<Node> grad_fn;      // the operation that produced this tensor, if recorded
};

class Tensor {
public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation (uninitialised, zeros, constant, from host values) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape);

  // ---- description ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim(int i) const;  // negative i counts from the end
  int ndim() const { return static_cast<int>(shape().size()); }
  std::int64_t numel() const { return shape_numel(shape()); }
  DType dtype() const;
  Device device() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }
  std::string describe() const;  // "float32[2, 3] on cpu"

  // ---- raw data (checked: the type must match the dtype) ----
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw_data();
  const void* raw_data() const;

  // ---- explicit copies ----
  Tensor to(Device device) const;        // a copy on another device (or this tensor if already there)
  Tensor to_dtype(DType dtype) const;    // a converted copy (CPU only)
  Tensor clone() const;                  // a deep copy on the same device
  Tensor reshape(const Shape& shape) const;  // shares data; numel must match
  std::vector<double> to_vector() const;     // host copy of the values as double
  void copy_from(const Tensor& src);         // same shape and dtype, any devices
  void fill(double value);
  double item() const;                       // the value of a one-element tensor

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool value = true);
  Tensor grad() const;                       // undefined until backward() reached this leaf
  void zero_grad();                          // drops the accumulated gradient
  void set_grad(const Tensor& g);
  void backward() const;                     // for a one-element tensor: d(this)/d(leaves)
  void backward(const Tensor& grad_output) const;
  Tensor detach() const;                     // shares data, no graph
  const std::shared_ptr<Node>& grad_fn() const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  bool same_as(const Tensor& other) const { return impl_ == other.impl_; }

private:
  const TensorImpl& checked() const;
  TensorImpl& checked();
  std::shared_ptr<TensorImpl> impl_;
};

// Throws unless t has exactly `ndim` dimensions; `what` names the operation and argument.
void check_ndim(const Tensor& t, int ndim, const char* what);
// Throws unless the two tensors share dtype and device.
void check_same_kind(const Tensor& a, const Tensor& b, const char* what);

}  // namespace ednn
