// Error values for the whole library: Result<T> = std::expected<T, Error>.
//
// No exceptions cross libstream's public API; the parallel pipeline converts its internal
// abort exception back into an Error (stream/pipeline.cc), and cli::RunMain is the last
// resort for anything else.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <utility>

namespace mln {

/// What went wrong, coarse enough to map to one exit code (cli/exit.cc).
enum class Errc : uint8_t {
  kRejected,      ///< a clean "no": policy or comparison answered negatively (exit 1)
  kUsage,         ///< bad flags or option combination (64)
  kBadData,       ///< corrupt, truncated or hostile input; checksum mismatch (65)
  kNoInput,       ///< input missing or unreadable (66)
  kUnsupported,   ///< a version, type or codec this build cannot act on (69)
  kInternal,      ///< broken invariant (70)
  kOs,            ///< allocation or thread failure (71)
  kCantCreate,    ///< cannot create the output (73)
  kIo,            ///< read or write failure (74)
};

/// An error with enough context for a one-line diagnostic:
/// "<file>: frame 12 'blk.0.attn_q.weight' @0x1f400: <message>".
struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  std::string file;                    ///< input or output name, filled by the caller who knows it
  std::optional<uint64_t> frame;       ///< frame index in a stream
  std::optional<uint64_t> offset;      ///< byte offset in the file or stream
  std::string tensor;                  ///< tensor or frame name

  /// The diagnostic line without the program name.
  std::string ToString() const;

  Error&& WithFile(std::string f) && {
    if (file.empty()) file = std::move(f);
    return std::move(*this);
  }
  Error&& WithFrame(uint64_t index, std::string name = {}) && {
    if (!frame) frame = index;
    if (tensor.empty()) tensor = std::move(name);
    return std::move(*this);
  }
  Error&& WithOffset(uint64_t off) && {
    if (!offset) offset = off;
    return std::move(*this);
  }
};

template <typename T>
using Result = std::expected<T, Error>;

/// Makes an unexpected Error; `return Fail(Errc::kBadData, "...")`.
inline std::unexpected<Error> Fail(Errc code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}
inline std::unexpected<Error> Fail(Error e) { return std::unexpected(std::move(e)); }

}  // namespace mln

#define MLN_CONCAT_INNER_(a, b) a##b
#define MLN_CONCAT_(a, b) MLN_CONCAT_INNER_(a, b)

/// Evaluates `expr` (a Result<void>), returning its error from the enclosing function.
#define MLN_RETURN_IF_ERROR(expr)                                   \
  do {                                                              \
    auto&& mln_status_ = (expr);                                    \
    if (!mln_status_) return std::unexpected(std::move(mln_status_).error()); \
  } while (0)

#define MLN_TRY_IMPL_(tmp, lhs, expr)                     \
  auto tmp = (expr);                                      \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)

/// `MLN_TRY(auto x, ReadThing());` assigns the value or returns the error.
#define MLN_TRY(lhs, expr) MLN_TRY_IMPL_(MLN_CONCAT_(mln_try_, __LINE__), lhs, expr)
