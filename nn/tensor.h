// Array<T>: an owning, move-only buffer of T on one Device. Tensor: a float Array with a shape.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nn/device.h"

namespace cvg {

template <class T>
class Array {
 public:
  Array() = default;
  Array(const Device& d, size_t n) : dev_(d), n_(n), p_(static_cast<T*>(device_alloc(d, n * sizeof(T)))) {}
  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;
  Array(Array&& o) noexcept { swap(o); }
  Array& operator=(Array&& o) noexcept {
    Array t(std::move(o));
    swap(t);
    return *this;
  }
  ~Array() { device_free(dev_, p_); }

  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }
  const Device& device() const { return dev_; }
  bool empty() const { return n_ == 0; }

  void zero() { device_memset0(dev_, p_, bytes()); }
  std::vector<T> to_host() const {
    std::vector<T> h(n_);
    device_copy(h.data(), Device::cpu(), p_, dev_, bytes());
    return h;
  }
  void from_host(const T* src, size_t n) {
    if (n != n_) throw std::logic_error("Array::from_host: size " + std::to_string(n) + " != " + std::to_string(n_));
    device_copy(p_, dev_, src, Device::cpu(), bytes());
  }
  void from_host(const std::vector<T>& v) { from_host(v.data(), v.size()); }
  void copy_from(const Array& o) {
    if (o.n_ != n_) throw std::logic_error("Array::copy_from: size mismatch");
    device_copy(p_, dev_, o.p_, o.dev_, bytes());
  }
  Array to(const Device& d) const {
    Array a(d, n_);
    a.copy_from(*this);
    return a;
  }

 private:
  void swap(Array& o) noexcept {
    std::swap(dev_, o.dev_);
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
  }
  Device dev_;
  size_t n_ = 0;
  T* p_ = nullptr;
};

struct Tensor {
  std::vector<int> shape;
  Array<float> data;

  Tensor() = default;
  Tensor(const Device& d, std::vector<int> s) : shape(std::move(s)), data(d, numel_of(shape)) {}
  static size_t numel_of(const std::vector<int>& s) {
    size_t n = 1;
    for (int v : s) n *= (size_t)v;
    return s.empty() ? 0 : n;
  }
  size_t numel() const { return data.size(); }
  int dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  const Device& device() const { return data.device(); }
  std::string shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

}  // namespace cvg
