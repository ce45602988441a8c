#include "engine/tensor.h"

#include <algorithm>
#include <sstream>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/device.h"

namespace ednn {

std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 8; }
const char* dtype_name(DType t) { return t == DType::f32 ? "float32" : "float64"; }
const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

std::string shape_str(const Shape& s) { return dims_str(s); }

std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Storage::Storage(std::size_t bytes_, Device device_) : bytes(bytes_), device(device_) {
  data = device_alloc(device, bytes);
}
Storage::~Storage() { device_free(device, data, bytes); }

// ---- creation ----------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape)
    EDNN_CHECK(d >= 0, "tensor: negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  device_zero(t.raw_data(), device, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill(value);
  return t;
}

template <class T>
static Tensor from_values(const std::vector<T>& values, const Shape& shape) {
  EDNN_CHECK(static_cast<std::int64_t>(values.size()) == shape_numel(shape), "from_vector: ",
             values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) { return from_values(v, s); }
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s) { return from_values(v, s); }

// ---- description -------------------------------------------------------------------------------

const TensorImpl& Tensor::checked() const {
  EDNN_CHECK(impl_, "tensor: use of an undefined tensor");
  return *impl_;
}
TensorImpl& Tensor::checked() {
  EDNN_CHECK(impl_, "tensor: use of an undefined tensor");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }
std::int64_t Tensor::dim(int i) const {
  const Shape& s = shape();
  int n = static_cast<int>(s.size());
  int k = i < 0 ? i + n : i;
  EDNN_CHECK(k >= 0 && k < n, "tensor: dimension ", i, " out of range for shape ", shape_str(s));
  return s[k];
}
DType Tensor::dtype() const { return checked().dtype; }
Device Tensor::device() const { return checked().storage->device; }

std::string Tensor::describe() const {
  if (!impl_) return "undefined tensor";
  return detail::concat(dtype_name(dtype()), shape_str(shape()), " on ", device_name(device()));
}

template <class T> T* Tensor::data() {
  EDNN_CHECK(dtype() == dtype_of<T>(), "tensor: data<", dtype_name(dtype_of<T>()), ">() on a ", describe());
  return static_cast<T*>(checked().storage->data);
}
template <class T> const T* Tensor::data() const {
  EDNN_CHECK(dtype() == dtype_of<T>(), "tensor: data<", dtype_name(dtype_of<T>()), ">() on a ", describe());
  return static_cast<const T*>(checked().storage->data);
}
template float* Tensor::data<float>();
template double* Tensor::data<double>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
void* Tensor::raw_data() { return checked().storage->data; }
const void* Tensor::raw_data() const { return checked().storage->data; }

// ---- copies ------------------------------------------------------------------------------------

Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor out = empty(shape(), dtype(), device);
  device_copy(out.raw_data(), device, raw_data(), this->device(), nbytes());
  return out;
}

Tensor Tensor::to_dtype(DType target) const {
  if (dtype() == target) return clone();
  EDNN_CHECK(device() == Device::cpu, "to_dtype: only on the cpu, tensor is ", describe());
  Tensor out = empty(shape(), target);
  const std::int64_t n = numel();
  if (target == DType::f64) {
    const float* s = data<float>();
    double* d = out.data<double>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    const double* s = data<double>();
    float* d = out.data<float>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(s[i]);
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  device_copy(out.raw_data(), device(), raw_data(), device(), nbytes());
  return out;
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  EDNN_CHECK(shape_numel(new_shape) == numel(), "reshape: cannot view ", describe(), " as ",
             shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked().storage;
  impl->shape = new_shape;
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

std::vector<double> Tensor::to_vector() const {
  Tensor host = to(Device::cpu);
  std::vector<double> out(static_cast<std::size_t>(numel()));
  if (dtype() == DType::f32) std::copy(host.data<float>(), host.data<float>() + numel(), out.begin());
  else std::copy(host.data<double>(), host.data<double>() + numel(), out.begin());
  return out;
}

void Tensor::copy_from(const Tensor& src) {
  EDNN_CHECK(shape() == src.shape() && dtype() == src.dtype(), "copy_from: destination ", describe(),
             " does not match source ", src.describe());
  device_copy(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

void Tensor::fill(double value) { backend_for(device()).fill(*this, value); }

double Tensor::item() const {
  EDNN_CHECK(numel() == 1, "item: tensor has ", numel(), " elements, expected 1 (", describe(), ")");
  return to_vector()[0];
}

// ---- autograd ----------------------------------------------------------------------------------

bool Tensor::requires_grad() const { return checked().requires_grad || checked().grad_fn != nullptr; }
Tensor& Tensor::set_requires_grad(bool value) {
  EDNN_CHECK(!checked().grad_fn, "set_requires_grad: only leaf tensors can be marked");
  checked().requires_grad = value;
  return *this;
}
Tensor Tensor::grad() const { return Tensor(checked().grad); }
void Tensor::zero_grad() { checked().grad.reset(); }
void Tensor::set_grad(const Tensor& g) {
  EDNN_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient ", g.describe(),
             " does not match ", describe());
  checked().grad = g.impl();
}
void Tensor::backward() const {
  EDNN_CHECK(numel() == 1, "backward: called on ", describe(), "; pass a gradient for non-scalars");
  run_backward(*this, Tensor::full(shape(), 1.0, dtype(), device()));
}
void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }
Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked().storage;
  impl->shape = shape();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

// ---- argument checks shared by the operations ---------------------------------------------------

void check_ndim(const Tensor& t, int ndim, const char* what) {
  EDNN_CHECK(t.defined(), what, ": tensor is undefined");
  EDNN_CHECK(t.ndim() == ndim, what, ": expected ", ndim, " dimensions, got ", t.describe());
}

void check_same_kind(const Tensor& a, const Tensor& b, const char* what) {
  EDNN_CHECK(a.dtype() == b.dtype() && a.device() == b.device(), what, ": mixed tensors ",
             a.describe(), " and ", b.describe());
}

}  // namespace ednn
