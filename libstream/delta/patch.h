// The patch stream: what mln-diff writes and mln-apply reads (layout in man/mln-stream.5).
//
// A patch is an ordinary mln stream, so it can be compressed, signed and verified like any
// other: a kPatch frame "patch.begin" (base and result sizes and formats), kDelta frames in
// the order of the new file, each making one byte range of it, kDelta "delete" records for
// base tensors the new file drops, a kPatch frame "patch.end" (SHA-256 of the whole base and
// of the whole result), then the trailer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libstream/kernels/float_delta.h"
#include "libstream/stream/frame.h"

namespace mln::delta {

/// FrameHeader::op of a kDelta frame. Values are on the wire; never renumber.
enum class PatchOp : uint8_t {
  kKeep = 0,     ///< copy a base range; payload: XXH3-64 of each run.piece bytes of it
  kXor = 1,      ///< new = base XOR payload (floats)
  kSub = 2,      ///< new = base + payload, byte-wise mod 256 (integers, quantized blocks)
  kReplace = 3,  ///< new = payload; the tensor exists in the base with another size or type
  kInsert = 4,   ///< new = payload; nothing in the base matches
  kDelete = 5,   ///< a base tensor the new file drops; makes no bytes
  kZdelta = 6,   ///< new = zstd frame decoded with the base range as its prefix (non-tensor bytes)
  kFdelta = 7,   ///< new = base moved by ulps (F16, BF16, F32): kernels/float_delta.h
  kSparse = 8,   ///< new = base + sparse byte-wise delta: kernels/delta.h EncodeSparse
  kQ8delta = 9,  ///< new Q8_0 blocks range-coded against the base's: kernels/q8_delta.h
  kIdelta = 10,  ///< kZdelta over element differences (sorted integer arrays): idelta.h
};
inline constexpr size_t kOpCount = 11;

/// The float layout of `dtype` for kFdelta, or nullopt when it has none.
std::optional<kernels::FloatLayout> FloatLayoutOf(uint32_t dtype);

/// "keep", "xor", ... ; "op<N>" for unknown values.
std::string OpName(uint8_t op);

/// Names of the two kPatch frames.
inline constexpr std::string_view kBeginName = "patch.begin";
inline constexpr std::string_view kEndName = "patch.end";

/// Attribute keys of the kPatch frames.
inline constexpr std::string_view kAttrBaseSize = "base.size";
inline constexpr std::string_view kAttrBaseFormat = "base.format";
inline constexpr std::string_view kAttrBaseSha256 = "base.sha256";
inline constexpr std::string_view kAttrNewSize = "new.size";
inline constexpr std::string_view kAttrNewFormat = "new.format";
inline constexpr std::string_view kAttrNewSha256 = "new.sha256";
/// kKeep frames: bytes per piece hash, and how many new-file frames the run covers.
inline constexpr std::string_view kAttrPiece = "run.piece";
inline constexpr std::string_view kAttrRunFrames = "run.frames";
inline constexpr std::string_view kAttrRunLast = "run.last";

/// What the two kPatch frames of a patch say, merged.
struct PatchInfo {
  uint64_t base_size = 0;
  std::string base_format;
  std::string base_sha256;  ///< hex; known from patch.end
  uint64_t new_size = 0;
  std::string new_format;
  std::string new_sha256;   ///< hex; known from patch.end
};

/// Reads the attributes of a patch.begin or patch.end frame into `info`; a missing or
/// malformed value fails with Errc::kBadData naming it.
Result<void> ReadPatchFrame(const stream::FrameHeader& h, PatchInfo& info);

}  // namespace mln::delta
