// Errors: one exception type, thrown with the operation and what was expected, caught once in main.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ednn {

// Every error the engine raises. The message names the operation and the expected and
// actual values, e.g. "conv2d: input has 3 channels, weight expects 64".
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// Throws ednn::Error with the streamed arguments as its message.
template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(detail::concat(args...));
}

}  // namespace ednn

// Checks a condition and throws ednn::Error with the streamed message when it does not hold.
#define EDNN_CHECK(cond, ...)                  \
  do {                                         \
    if (!(cond)) ::ednn::fail(__VA_ARGS__);    \
  } while (0)
