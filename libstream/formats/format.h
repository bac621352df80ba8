// The registry of model formats: each bids on the first bytes of its input and parses a
// ByteSource into frames (libarchive's bid-and-register pattern).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "libstream/base/byte_io.h"
#include "libstream/stream/chunker.h"
#include "libstream/stream/frame_io.h"

namespace mln::formats {

struct ParseOptions {
  size_t chunk_size = stream::kDefaultChunkSize;
  /// Largest header (metadata, tensor table) a parser holds in memory.
  uint64_t max_header = 256ull << 20;
  /// Sees the frames ParseToStream writes (progress); not owned; null for none.
  stream::FrameObserver* progress = nullptr;
};

struct FormatHandler {
  std::string_view name;
  /// Confidence 0..100 that `head` (the first bytes, up to 64 KiB) starts this format.
  int (*bid)(std::span<const uint8_t> head);
  /// Parses from the start of `src`; the FrameSource keeps a reference to `src`.
  Result<std::unique_ptr<stream::FrameSource>> (*parse)(ByteSource& src,
                                                        const ParseOptions& options);
  /// The most `bid` ever returns: it is not asked when another format bid that much.
  int max_bid = 100;
};

/// Every format this build reads.
std::span<const FormatHandler> AllFormats();
/// The handler called `name`, or nullptr.
const FormatHandler* FindFormat(std::string_view name);
/// Comma-separated names, for help texts and errors.
std::string FormatNames();
/// The format that bids highest on `head` (the first to bid it on a tie), among those
/// `allowed` accepts (all when null); nullptr when none bids.
const FormatHandler* BestBid(std::span<const uint8_t> head,
                             bool (*allowed)(const FormatHandler&) = nullptr);

/// Picks the format by content (or by `forced_format` when not empty) and starts parsing.
/// An mln stream or unknown content fails with Errc::kBadData naming what was seen.
Result<std::unique_ptr<stream::FrameSource>> OpenModel(ByteSource& src,
                                                       std::string_view forced_format,
                                                       const ParseOptions& options);

}  // namespace mln::formats
