// Models inside tar and zip archives (tar plain or compressed with gzip, bzip2, xz, lzma,
// zstd or lz4), read through libarchive front to back: a member's bytes stream straight
// from the archive into the parser, nothing is extracted to disk, so member paths ("..",
// absolute) are only names.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/formats/format.h"

namespace mln::formats {

struct ArchiveMember {
  std::string name;
  std::optional<uint64_t> size;  ///< from the entry header; unknown for some zip entries
  std::string format;            ///< best bidding model format of its first bytes, or ""
};

/// kArchiveBid when libarchive recognises `head` as a tar or zip archive (its own bidders,
/// through any of the compression filters above; never "raw"), else 0 (also when libarchive
/// cannot be loaded: it is loaded on first use).
constexpr int kArchiveBid = 80;
int BidArchive(std::span<const uint8_t> head);

/// Reads the archive in `src` to its end and lists its regular-file members in archive
/// order, bidding each on its first 64 KiB. Errc::kBadData for a damaged or truncated
/// archive, naming the member.
Result<std::vector<ArchiveMember>> ListArchive(ByteSource& src);

/// Parses the member called `member` of the archive in `src` with `forced_format` (or the
/// format its content bids for). An empty `member` picks the only member that bids as a
/// model; none or several is Errc::kUsage listing the members. From a regular file the
/// members are listed first (a second, independent read); from a pipe the first model
/// member is parsed and the rest of the archive is then read to make sure no other model
/// follows. A member that ends before, or goes on after, the size its header states is
/// Errc::kBadData. Nested archives are not opened.
Result<std::unique_ptr<stream::FrameSource>> ParseArchiveMember(ByteSource& src,
                                                                std::string_view member,
                                                                std::string_view forced_format,
                                                                const ParseOptions& options);

/// The registry's entry point: ParseArchiveMember with no member and no forced format.
Result<std::unique_ptr<stream::FrameSource>> ParseArchive(ByteSource& src,
                                                          const ParseOptions& options);

}  // namespace mln::formats
