// Random access to a whole input, for formats whose structure cannot be read front to back
// (FlatBuffers, protobuf): a regular file is memory-mapped (the page cache holds it, not
// the heap); a pipe is read into memory up to a limit.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "libstream/base/byte_io.h"

namespace mln {

struct WholeInput {
  std::span<const uint8_t> bytes;
  std::shared_ptr<const void> owner;  ///< keeps `bytes` alive (mapping or buffer)
  bool mapped = false;
};

/// Maps or reads all of `src` from its start. `src` must not have been read from (Peek is
/// fine); afterwards it counts as consumed. A pipe longer than `max_pipe_bytes` fails with
/// Errc::kUnsupported naming the limit.
Result<WholeInput> ReadWholeInput(ByteSource& src, uint64_t max_pipe_bytes);

}  // namespace mln
