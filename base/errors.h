// The project's error taxonomy, in one place. Tools map it to exit codes in base/cli.h's run_main:
//   InputError (and UsageError, NewerFormatError)  bad input from the user or from disk  -> exit 2
//   DivergedError, NonFiniteError                  training produced NaN/Inf              -> exit 1
//   CudaError                                      a CUDA call failed                     -> exit 1
//   std::logic_error                               a bug in this program                  -> exit 1
// Every message is one line that names the file, flag or layer concerned. Notes and warnings are
// not errors: library code sends them through base/log.h, never to stderr itself.
#pragma once
#include <stdexcept>

namespace cvg {

// Bad input from the user or from disk (a flag, a file, a shape, a mismatched net).
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A command line that cannot be run: an unknown flag, a missing argument, a value out of range.
struct UsageError : InputError {
  using InputError::InputError;
};
// A checkpoint of a format version newer than this build reads: never "damaged", never overwritten.
struct NewerFormatError : InputError {
  using InputError::InputError;
};
// A CUDA call failed: carries the failing call, file:line and CUDA's own message (kernels/common.h).
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Parameters or momentum hold NaN/Inf, so no checkpoint is written from them.
struct NonFiniteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The training loss became NaN/Inf or exploded; the message names the iteration and the last good
// checkpoint (which is kept).
struct DivergedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace cvg
