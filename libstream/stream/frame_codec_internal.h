// Wire encoding of frame headers and the fixed-size parts of the stream layout
// (man/mln-stream.5). The only includer of the flatc-generated header.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "libstream/base/status.h"
#include "libstream/stream/frame.h"

namespace mln::stream::internal {

/// "\x89MLN\r\n\x1a\n": a non-ASCII first byte and CR LF / ^Z catch text-mode mangling.
inline constexpr uint8_t kStreamMagic[8] = {0x89, 'M', 'L', 'N', '\r', '\n', 0x1a, '\n'};
inline constexpr uint16_t kVersionMajor = 1;
inline constexpr uint16_t kVersionMinor = 0;
inline constexpr size_t kStreamHeaderSize = 16;  // magic, u16 major, u16 minor, u32 flags

/// Frame prefix: u32 magic "MLNF", u32 header length, u64 stored payload length,
/// u64 XXH3-64 of (the first 16 prefix bytes + the header bytes).
inline constexpr uint32_t kFrameMagic = 0x464E4C4D;  // bytes 'M' 'L' 'N' 'F'
inline constexpr size_t kFramePrefixSize = 24;

/// Limits a reader enforces before allocating anything.
inline constexpr uint32_t kMaxHeaderBytes = 1u << 20;
inline constexpr int kMaxVerifierDepth = 16;
inline constexpr int kMaxVerifierTables = 100000;

std::vector<uint8_t> EncodeHeader(const FrameHeader& header);
/// Verifies the FlatBuffer (depth and table limits) and decodes it.
Result<FrameHeader> DecodeHeader(std::span<const uint8_t> bytes);

}  // namespace mln::stream::internal
