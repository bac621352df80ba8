// Plain structs for stream frames. No FlatBuffers type appears here: the wire encoding
// lives in frame_codec_internal.{h,cc} (the Arrow public/internal split).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"

namespace mln::stream {

/// What a frame carries. Values are on the wire; never renumber. A reader passes kinds it
/// does not know through unchanged (stream invariant 5).
enum class FrameKind : uint16_t {
  kSource = 1,   ///< start of a model: format, file size, source name; no payload
  kBytes = 2,    ///< non-tensor bytes of the model file (headers, metadata, padding)
  kTensor = 3,   ///< one chunk of a tensor's bytes
  kSignature = 4, ///< signed manifest (payload) with key id and Ed25519 signature (attrs)
  kPatch = 5,    ///< patch header and end: base and result sizes, formats, SHA-256 (attrs)
  kDelta = 6,    ///< one patch op (FrameHeader::op) making a range of the new file
  kBundle = 7,   ///< small frames packed and compressed together (mln-compress); readers
                 ///< expand it, so consumers see the frames inside, never the bundle
  kTrailer = 15, ///< end of stream: frame count and SHA-256; written by Writer::Finish
};

/// Payload encodings (libstream/codecs). Values are on the wire.
enum class Codec : uint8_t {
  kRaw = 0,        ///< the bytes as they are
  kZstd = 1,       ///< one zstd frame
  kBytePlane = 2,  ///< byte planes of float elements, each zstd-compressed or raw
  kBlockFields = 3,  ///< quantized blocks regrouped by field, each group zstd or raw
  kPalette = 4,      ///< few distinct elements: a value table and packed indices
  kBundle = 5,       ///< a bundle's body: heads and raw payloads in zstd, coded payloads as they are
  kIndexBitmap = 6,  ///< integers rising in runs: each run's first value, span and bitmap
};

/// Element types, numbered as ggml numbers them so GGUF ids map one to one; types that
/// ggml lacks start at 100. Values are on the wire.
enum class Dtype : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kIQ2_XXS = 16, kIQ2_XS = 17, kIQ3_XXS = 18, kIQ1_S = 19, kIQ4_NL = 20, kIQ3_S = 21,
  kIQ2_S = 22, kIQ4_XS = 23, kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28,
  kIQ1_M = 29, kBF16 = 30, kTQ1_0 = 34, kTQ2_0 = 35, kMXFP4 = 39, kNVFP4 = 40,
  kQ1_0 = 41, kQ2_0 = 42,
  kU8 = 100, kBool = 101, kU16 = 102, kU32 = 103, kU64 = 104, kF8E4M3 = 105, kF8E5M2 = 106,
  kUnknown = 0xFFFFFFFF,
};

/// Layout of a dtype: `block_elems` elements take `block_bytes` bytes.
struct DtypeInfo {
  std::string_view name;
  uint32_t block_elems;
  uint32_t block_bytes;
};

/// Facts for a known dtype, or nullopt for retired and unknown ids.
std::optional<DtypeInfo> GetDtypeInfo(uint32_t dtype);
/// Name of a dtype ("q4_K"), or "type<N>" for ids without facts.
std::string DtypeName(uint32_t dtype);

struct Attribute {
  std::string key;
  std::string value;
};

/// The decoded FlatBuffers header of one frame.
struct FrameHeader {
  uint16_t kind = 0;
  std::string name;
  uint32_t dtype = static_cast<uint32_t>(Dtype::kUnknown);
  std::vector<int64_t> shape;
  uint64_t file_offset = 0;
  uint64_t tensor_offset = 0;
  uint64_t tensor_bytes = 0;
  uint32_t chunk_index = 0;
  uint32_t chunk_count = 1;
  uint8_t codec = 0;
  uint64_t decoded_size = 0;
  uint64_t checksum = 0;
  std::vector<Attribute> attrs;
  uint64_t frame_count = 0;
  std::vector<uint8_t> digest;
  std::string format;
  uint64_t file_size = 0;
  uint8_t op = 0;  ///< patch ops: libstream/delta/patch.h PatchOp
  uint64_t base_offset = 0;
  uint64_t base_size = 0;
  uint64_t base_checksum = 0;
  uint64_t out_size = 0;
  uint64_t out_checksum = 0;

  bool Is(FrameKind k) const { return kind == static_cast<uint16_t>(k); }
  /// Value of attribute `key`, or nullopt.
  std::optional<std::string_view> Attr(std::string_view key) const;
  void SetAttr(std::string key, std::string value);
};

struct Frame {
  FrameHeader header;
  AlignedBuffer payload;
  /// Where a Reader found it: its index among the stream's frames, or for a frame from a
  /// bundle the bundle's, which is what mln-inspect counts and messages name. Unset for
  /// frames that were not read from a stream (a parsed model's).
  std::optional<uint64_t> read_index;
};

/// Sets decoded_size and the XXH3 checksum of a raw payload. Call in a parallel stage.
void SealFrame(Frame& frame);
/// Checks a payload against its header's size and checksum, decoding it first when it is
/// compressed; Errc::kBadData otherwise. Unknown codecs fail with Errc::kUnsupported.
Result<void> VerifyFrame(const Frame& frame);

/// "tensor" / "bytes" / "source" / "trailer" / "kind<N>".
std::string KindName(uint16_t kind);

}  // namespace mln::stream
