#include "libstream/codecs/codec.h"

// For ZSTD_createCCtx_advanced (a custom allocator): declared only under this macro, but
// exported by the shared libzstd 1.5 that Debian 12 ships.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <array>
#include <cmath>
#include <cstring>

#include "libstream/base/endian.h"
#include "libstream/base/huge_pages.h"
#include "libstream/crypto/digest.h"
#include "libstream/formats/tflite.h"
#include "libstream/codecs/block_fields.h"
#include "libstream/codecs/bundle.h"
#include "libstream/codecs/codec_internal.h"
#include "libstream/codecs/index_bitmap.h"
#include "libstream/codecs/palette.h"
#include "libstream/kernels/byteplane.h"
#include "libstream/kernels/delta.h"

namespace mln::codecs {
namespace {

using stream::Codec;
using stream::Dtype;

// Payloads above this get a trial on a sample before the codec is chosen; smaller ones are
// coded whole by every candidate. Patch ops (a patch is compressed once and sent many
// times) keep whole trials up to kPatchTrialThreshold and larger samples above it.
// Measured on llama34m.f16 (mln-compress -T1): trials on 256 KiB samples and whole runs
// up to 512 KiB spent 43 ms of zstd level 3 for 118 ms in all, and picked the codec
// the sizes below pick on every file of the corpus (64 files, byte-identical output).
constexpr size_t kTrialThreshold = 128 << 10;
constexpr size_t kPatchTrialThreshold = 512 << 10;
constexpr size_t kTrialSample = 32 << 10;
constexpr size_t kPatchTrialSample = 256 << 10;
// Quantized payloads at most this big, or that the fields codec shrank below a quarter, also
// try plain zstd (see EncodeFrame).
constexpr size_t kSmallQuantPayload = 16 << 10;

// Byte-plane payload: a 4-byte head (version, width, flags, 0), then per plane a method
// byte and a u64 stored length, then the planes, then the tail bytes that do not fill a
// whole element, raw.
constexpr uint8_t kBytePlaneVersion = 1;
constexpr uint8_t kRotateFlag = 1;
constexpr uint8_t kDeltaFlag = 2;  // elements were differenced (kernels::DiffElements) first
constexpr size_t kBytePlaneHead = 4;
constexpr size_t kPlaneEntry = 9;

}  // namespace

namespace internal {

struct ZstdContexts {
  // Tables of a few MiB and more (level 19, long windows) on huge pages: see huge_pages.h.
  ZSTD_CCtx* c = ZSTD_createCCtx_advanced({HugeAwareAlloc, HugeAwareFree, nullptr});
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};
// One pair per pipeline thread: creating contexts per chunk costs more than small chunks.
ZstdContexts& Contexts() {
  thread_local ZstdContexts ctx;
  if (ctx.c == nullptr || ctx.d == nullptr) throw std::bad_alloc();
  return ctx;
}

// zstd-compresses `in` into `dst` (capacity `cap`); nullopt when the result would not be
// smaller than `cap` (zstd then stops early with dstSize_tooSmall).
std::optional<size_t> ZstdCompressInto(std::span<const uint8_t> in, int level, uint8_t* dst,
                                       size_t cap) {
  ZSTD_CCtx* c = Contexts().c;
  ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);  // the frame's XXH3 covers it
  size_t n = ZSTD_compress2(c, dst, cap, in.data(), in.size());
  if (ZSTD_isError(n) || n >= cap) return std::nullopt;
  return n;
}

Result<void> ZstdDecompress(std::span<const uint8_t> in, uint8_t* out, size_t out_size,
                            const char* what) {
  size_t n = ZSTD_decompressDCtx(Contexts().d, out, out_size, in.data(), in.size());
  if (ZSTD_isError(n)) {
    return Fail(Errc::kBadData, std::string(what) + ": zstd: " + ZSTD_getErrorName(n));
  }
  if (n != out_size) {
    return Fail(Errc::kBadData, std::string(what) + ": zstd gave " + std::to_string(n) +
                                    " bytes, expected " + std::to_string(out_size));
  }
  return {};
}

// Order-0 entropy of a byte plane in bits per byte, from a strided sample: mantissa planes
// of trained weights sit near 8 and are stored as they are without spending a zstd pass.
// 16 Ki samples: the estimate runs low by about (256 - 1) / (2 n ln 2) = 0.011 bits, well
// inside the threshold's margin, and 64 Ki took 7 ms of a 100 ms llama34m.f16 compression
// (every corpus file came out byte-identical at both).
double SampledEntropy(std::span<const uint8_t> plane) {
  uint32_t hist[256] = {};
  size_t step = plane.size() > (16 << 10) ? plane.size() / (16 << 10) : 1;
  size_t count = 0;
  for (size_t i = 0; i < plane.size(); i += step, ++count) ++hist[plane[i]];
  double h = 0;
  for (uint32_t c : hist) {
    if (c == 0) continue;
    double p = static_cast<double>(c) / count;
    h -= p * std::log2(p);
  }
  return h;
}

// Per-thread scratch for planes: reused across chunks, so no page faults or zeroing per
// chunk (they dominated the profile with fresh vectors).
AlignedBuffer& PlaneScratch(size_t bytes) {
  thread_local AlignedBuffer scratch;
  scratch.Resize(bytes);
  return scratch;
}

// Why a minimum gain: a coded group costs a Huffman decode (about 1.4 GB/s here) where a
// raw one costs a copy. q4_K's quant nibbles save 2.5% coded; decoding them made
// llama34m.Q4_K_M -d take 29 ms against zstd -d's 24, and stored raw it takes 21 ms while
// the file stays smaller than zstd -3's (97.6% of the model against 98.1%). zstd itself
// stores literals raw when they save less than 1/64 (1/256 at its strongest levels); here
// the fast levels ask a little more, and the strong ones and patch ops (compressed once,
// sent many times) take every byte.
//
// The context model decodes at about 10 MB/s, not GB/s: only the strongest levels, where
// zstd itself compresses at a few MB/s, ask for it, and never patch ops, which a device
// applies at hundreds of MB/s.
GroupCoding CodingFor(int level, bool patch_op) {
  return {level, patch_op || level >= kKeepEveryGainLevel,
          !patch_op && level >= kContextModelLevel};
}

namespace {

// On planes over kContextAnyGain the context model is kept only when it is at least 1/16
// smaller than zstd or the raw plane (PackGroup); on smaller ones, for any gain.
constexpr size_t kContextMinGain = 16;
constexpr size_t kContextAnyGain = 256 << 10;

// Bytes a coded group of `size` must save to be kept coded.
size_t MinGain(size_t size, const GroupCoding& coding) {
  return coding.keep_every_gain ? 0 : size / 32;
}

}  // namespace

bool PackGroup(std::span<const uint8_t> group, const GroupCoding& coding, AlignedBuffer& out,
               size_t& pos, size_t limit, uint8_t* method, uint8_t* stored_length,
               std::span<const uint32_t> context_strides) {
  std::optional<size_t> packed;
  size_t cap = pos < limit ? std::min(group.size() - MinGain(group.size(), coding), limit - pos) : 0;
  if (cap != 0 && SampledEntropy(group) < kIncompressibleBits) {
    packed = ZstdCompressInto(group, coding.level, out.data() + pos, cap);
    if (coding.context_model && !context_strides.empty()) {
      // The context model decodes some 100 times slower than Huffman: on large planes it has
      // to save a sixteenth of what zstd (or the raw plane) keeps. On llama34m.f16 it saved
      // 0.6% of the exponent planes and took decoding from 1 to 6 s; on face_landmark's mesh
      // kernel, 20%.
      const size_t beat = packed ? *packed : group.size();
      const size_t model_cap =
          std::min(cap, beat - (group.size() > kContextAnyGain ? beat / kContextMinGain : 0));
      thread_local AlignedBuffer model_out;
      model_out.Resize(model_cap);
      if (auto modelled = ContextEncode(group, PickContextStride(group, context_strides),
                                        model_out.data(), model_cap)) {
        std::memcpy(out.data() + pos, model_out.data(), *modelled);
        *method = kGroupContext;
        StoreLE<uint64_t>(stored_length, *modelled);
        pos += *modelled;
        return true;
      }
    }
  }
  if (packed) {
    *method = kGroupZstd;
    StoreLE<uint64_t>(stored_length, *packed);
    pos += *packed;
    return true;
  }
  // Near-random bytes (mantissas, packed quants): storing them is cheaper than coding them.
  if (pos + group.size() > limit) return false;
  *method = kGroupRaw;
  StoreLE<uint64_t>(stored_length, group.size());
  if (!group.empty()) std::memcpy(out.data() + pos, group.data(), group.size());
  pos += group.size();
  return true;
}

bool FinishWithTail(std::span<const uint8_t> tail, AlignedBuffer& out, size_t pos,
                    size_t limit) {
  if (pos + tail.size() >= limit) return false;
  if (!tail.empty()) std::memcpy(out.data() + pos, tail.data(), tail.size());
  out.Resize(pos + tail.size());
  return true;
}

}  // namespace internal

namespace {

using internal::FinishWithTail;
using internal::GroupCoding;
using internal::PackGroup;
using internal::PlaneScratch;
using internal::ZstdCompressInto;
using internal::ZstdDecompress;

// How byte planes split a dtype's elements; width 0 for dtypes they do not suit.
struct PlaneSplit {
  size_t width = 0;
  bool rotate = false;  // f32/bf16: rotated left one bit, so 8 exponent bits fill a byte
  bool delta = false;   // integers: consecutive differences first (sorted index arrays)
};
PlaneSplit PlaneLayout(uint32_t dtype) {
  switch (static_cast<Dtype>(dtype)) {
    case Dtype::kF32: return {4, true, false};
    case Dtype::kBF16: return {2, true, false};
    case Dtype::kF16: return {2, false, false};  // 5 exponent bits: rotation cannot isolate them
    // CSR segments and indices of sparse TFLite tensors, row starts, shape tables: sorted or
    // slowly changing integers whose differences are small. Other integer tensors are
    // tried against plain zstd, which keeps whichever is smaller.
    case Dtype::kI16: case Dtype::kU16: return {2, false, true};
    case Dtype::kI32: case Dtype::kU32: return {4, false, true};
    default: return {};
  }
}

// What a payload's bytes hold, for choosing and running a codec.
struct PayloadShape {
  uint32_t dtype;     // element type (ValueDtype)
  PlaneSplit planes;  // width 0: byte planes do not suit it
  std::vector<uint32_t> context_strides;  // float tensors: where an element's neighbours are
};

// Strides, in elements, at which a float tensor's elements have neighbours that share their
// scale: the suffix products of its shape (a row, a kernel's input channels, one output
// channel) and two to four output channels (a landmark head interleaves x, y and z); 1 for
// a vector. Shapes come from the stream and may be anything: strides stop at 2^24.
std::vector<uint32_t> ContextStrides(const std::vector<int64_t>& shape) {
  constexpr int64_t kMaxStride = int64_t{1} << 24;
  std::vector<uint32_t> strides;
  int64_t product = 1;
  for (size_t k = shape.size(); k-- > 1;) {
    if (shape[k] <= 0 || shape[k] > kMaxStride / product) break;
    product *= shape[k];
    // Dimensions of 1 ({360, 1, 1, 32}) would repeat a stride.
    if (product > 1 && (strides.empty() || strides.back() != product)) {
      strides.push_back(static_cast<uint32_t>(product));
    }
  }
  for (int64_t m = 2; m <= 4 && product > 1 && m * product <= kMaxStride; ++m) {
    strides.push_back(static_cast<uint32_t>(m * product));
  }
  // A vector (a bias, a norm's scale) has only its neighbours: the byte before.
  if (strides.empty()) strides.push_back(1);
  return strides;
}

PayloadShape ShapeOf(const stream::FrameHeader& h) {
  PayloadShape s{ValueDtype(h), {}};
  s.planes = PlaneLayout(s.dtype);
  // A sparse tensor's u8 index array (mln-parse cuts them out as bytes runs of their own,
  // and a patch inserts it as such) is sorted like the wider ones; other u8 bytes are not
  // integers worth differencing.
  if (s.planes.width == 0 &&
      (h.Is(stream::FrameKind::kBytes) || h.Is(stream::FrameKind::kDelta)) &&
      h.name == formats::kTfliteSparsityRun && h.dtype == static_cast<uint32_t>(Dtype::kU8)) {
    s.planes = {1, false, true};
  }
  // A sparse tensor's values do not lie in its dense shape; integer planes are differences.
  if (s.planes.width != 0 && !s.planes.delta && s.dtype == h.dtype) {
    s.context_strides = ContextStrides(h.shape);
  }
  return s;
}


// Writes the byte-plane encoding of `in` to `out`; false when it would not be smaller.
bool EncodeBytePlane(std::span<const uint8_t> in, PlaneSplit split, const GroupCoding& coding,
                     AlignedBuffer& out, std::span<const uint32_t> context_strides = {}) {
  const size_t width = split.width;
  const bool rotate = split.rotate;
  size_t n = in.size() / width;
  AlignedBuffer& planes = PlaneScratch(n * width);
  std::array<uint8_t*, 4> ptrs{};
  for (size_t b = 0; b < width; ++b) ptrs[b] = planes.data() + b * n;
  const uint8_t* elements = in.data();
  AlignedBuffer differenced;
  if (split.delta) {
    differenced.Resize(n * width);
    if (n != 0) std::memcpy(differenced.data(), in.data(), n * width);
    kernels::DiffElements(differenced.data(), n * width, width);
    elements = differenced.data();
  }
  kernels::SplitPlanes(elements, n, width, rotate, ptrs.data());
  size_t table = kBytePlaneHead + width * kPlaneEntry;
  if (table + in.size() % width >= in.size()) return false;
  size_t limit = in.size();  // anything not smaller is useless
  out.Resize(limit);
  uint8_t* head = out.data();
  head[0] = kBytePlaneVersion;
  head[1] = static_cast<uint8_t>(width);
  head[2] = static_cast<uint8_t>((rotate ? kRotateFlag : 0) | (split.delta ? kDeltaFlag : 0));
  head[3] = 0;
  size_t pos = table;
  for (size_t b = 0; b < width; ++b) {
    std::span<const uint8_t> plane(ptrs[b], n);
    uint8_t* entry = head + kBytePlaneHead + b * kPlaneEntry;
    if (!PackGroup(plane, coding, out, pos, limit, entry, entry + 1, context_strides)) {
      return false;
    }
  }
  return FinishWithTail(in.subspan(n * width), out, pos, limit);
}

Result<void> DecodeBytePlane(std::span<const uint8_t> in, uint64_t decoded_size,
                             AlignedBuffer& out) {
  if (in.size() < kBytePlaneHead || in[0] != kBytePlaneVersion) {
    return Fail(Errc::kBadData, "byteplane payload: bad head");
  }
  size_t width = in[1];
  bool rotate = (in[2] & kRotateFlag) != 0;
  bool delta = (in[2] & kDeltaFlag) != 0;
  if ((width != 1 && width != 2 && width != 4) || (in[2] & ~(kRotateFlag | kDeltaFlag)) != 0 ||
      in[3] != 0) {
    return Fail(Errc::kBadData, "byteplane payload: unknown width or flags");
  }
  size_t table_end = kBytePlaneHead + width * kPlaneEntry;
  if (in.size() < table_end) return Fail(Errc::kBadData, "byteplane payload: truncated table");
  size_t n = decoded_size / width;
  size_t tail = decoded_size % width;
  AlignedBuffer& planes = PlaneScratch(n * width);
  std::array<const uint8_t*, 4> ptrs{};
  size_t pos = table_end;
  for (size_t b = 0; b < width; ++b) {
    const uint8_t* entry = in.data() + kBytePlaneHead + b * kPlaneEntry;
    // A raw plane is merged straight from the payload, no copy.
    MLN_TRY(ptrs[b], internal::UnpackGroup(in, pos, entry, entry + 1, n,
                                           [&] { return planes.data() + b * n; },
                                           {"byteplane payload", "plane", "plane"},
                                           /*context_model=*/true));
  }
  if (in.size() - pos != tail) return Fail(Errc::kBadData, "byteplane payload: bad tail length");
  out.Resize(decoded_size);
  kernels::MergePlanes(ptrs.data(), n, width, rotate, out.data());
  if (delta) kernels::SumElements(out.data(), n * width, width);
  if (tail != 0) std::memcpy(out.data() + n * width, in.data() + pos, tail);
  return {};
}

// Encodes `in` with `codec` into `out`; false when it would not shrink.
bool Encode(Codec codec, std::span<const uint8_t> in, const PayloadShape& shape, int level,
            bool patch_op, AlignedBuffer& out) {
  // Planes, fields and palette indices: level 1 by default (on quant groups it came out
  // smaller than 3, and faster).
  const GroupCoding groups = internal::CodingFor(level != 0 ? level : 1, patch_op);
  switch (codec) {
    case Codec::kRaw: return false;
    case Codec::kZstd: {
      out.Resize(in.size());
      auto n = ZstdCompressInto(in, level != 0 ? level : 3, out.data(), in.size());
      if (!n) return false;
      out.Resize(*n);
      return true;
    }
    case Codec::kBytePlane: {
      PlaneSplit split = shape.planes;
      if (split.width == 0) split.width = 1;  // forced on other bytes: one plane, zstd with a head
      return EncodeBytePlane(in, split, groups, out, shape.context_strides);
    }
    case Codec::kBlockFields: {
      auto layout = BlockFieldLayout(shape.dtype);
      return layout && EncodeBlockFields(in, *layout, groups, out);
    }
    case Codec::kPalette:
      return EncodePalette(in, shape.planes.width, groups, out);
    case Codec::kIndexBitmap:
      return EncodeIndexBitmap(in, shape.planes.width, groups, out);
    case Codec::kBundle:
      return false;  // a bundle's body only, written by BundleSink
  }
  return false;
}

}  // namespace

Result<void> DecodePayload(uint8_t codec, std::span<const uint8_t> stored, uint64_t decoded_size,
                           AlignedBuffer& out) {
  if (decoded_size > internal::kMaxDecoded) {
    return Fail(Errc::kBadData, "decoded size " + std::to_string(decoded_size) +
                                    " exceeds the 256 MiB frame limit");
  }
  switch (static_cast<Codec>(codec)) {
    case Codec::kRaw:
      if (stored.size() != decoded_size) return Fail(Errc::kBadData, "raw payload size mismatch");
      out.Resize(decoded_size);
      if (decoded_size != 0) std::memcpy(out.data(), stored.data(), decoded_size);
      return {};
    case Codec::kZstd:
      out.Resize(decoded_size);
      return ZstdDecompress(stored, out.data(), decoded_size, "zstd payload");
    case Codec::kBytePlane:
      return DecodeBytePlane(stored, decoded_size, out);
    case Codec::kBlockFields:
      return DecodeBlockFields(stored, decoded_size, out);
    case Codec::kPalette:
      return DecodePalette(stored, decoded_size, out);
    case Codec::kBundle:
      return DecodeBundleBody(stored, decoded_size, out);
    case Codec::kIndexBitmap:
      return DecodeIndexBitmap(stored, decoded_size, out);
  }
  return Fail(Errc::kUnsupported, "payload codec " + std::to_string(codec) +
                                      " is not supported by this build");
}

Result<void> DecodeFrame(stream::Frame& frame) {
  stream::FrameHeader& h = frame.header;
  if (h.codec != static_cast<uint8_t>(Codec::kRaw)) {
    AlignedBuffer decoded;
    MLN_RETURN_IF_ERROR(DecodePayload(h.codec, frame.payload.span(), h.decoded_size, decoded));
    frame.payload = std::move(decoded);
    h.codec = static_cast<uint8_t>(Codec::kRaw);
  }
  return stream::VerifyFrame(frame);
}

Result<void> EncodeFrame(stream::Frame& frame, const EncodeOptions& options) {
  stream::FrameHeader& h = frame.header;
  if (h.codec != static_cast<uint8_t>(Codec::kRaw) || frame.payload.empty()) return {};
  std::span<const uint8_t> in = frame.payload.span();
  const PayloadShape shape = ShapeOf(h);
  std::vector<Codec> candidates;
  if (options.force) {
    candidates = {*options.force};
  } else if (shape.planes.width != 0) {
    candidates = {Codec::kBytePlane, Codec::kZstd};
    // Sorted indices (CSR rows of a pruned tensor): a quick scan of the runs turns down
    // other integers before anything is coded.
    if (shape.planes.delta) candidates.insert(candidates.begin(), Codec::kIndexBitmap);
    // Few distinct values (ternary or dequantized weights): the palette on the whole
    // payload, so a trial on a sample cannot pick it for a payload it does not fit.
    if (FindPalette(in, shape.planes.width)) candidates.insert(candidates.begin(), Codec::kPalette);
  } else if (BlockFieldLayout(shape.dtype)) {
    // Regrouped fields came out smaller than plain zstd on every quantized file of the
    // corpus (Q2_K..Q8_0, TQ1_0, TQ2_0), so plain zstd is only tried after it, below, where
    // it can win.
    candidates = {Codec::kBlockFields};
  } else {
    candidates = {Codec::kZstd};
  }
  const bool patch_op = h.Is(stream::FrameKind::kDelta);
  if (candidates.size() > 1 &&
      in.size() > (patch_op ? kPatchTrialThreshold : kTrialThreshold)) {
    // A cheap trial on the middle of the payload picks the codec for the whole of it.
    size_t start = (in.size() / 2) & ~size_t{63};
    const size_t sample_size = patch_op ? kPatchTrialSample : kTrialSample;
    std::span<const uint8_t> sample = in.subspan(start, std::min(sample_size, in.size() - start));
    AlignedBuffer trial;
    size_t best = SIZE_MAX;
    Codec pick = candidates.front();
    for (Codec c : candidates) {
      const bool coded = Encode(c, sample, shape, options.level, patch_op, trial);
      const size_t size = coded ? trial.size() : sample.size();
      if (size < best) {
        best = size;
        pick = c;
      }
    }
    candidates = {pick};
  }
  AlignedBuffer best, attempt;
  Codec best_codec = Codec::kRaw;
  for (Codec c : candidates) {
    if (Encode(c, in, shape, options.level, patch_op, attempt) &&
        (best_codec == Codec::kRaw || attempt.size() < best.size())) {
      std::swap(best, attempt);
      best_codec = c;
    }
  }
  // Plain zstd can beat the fields codec on tiny payloads, where the field table and one
  // zstd frame per field weigh, and on mostly-zero ones (a patch op of a few changed
  // bytes), where zero runs span fields. Typical weights, which fields leave at 60-95%,
  // skip this second pass: it halved compression speed on quantized models. Patch ops up to
  // 512 KiB keep it: a patch is compressed once and sent many times.
  if (!options.force && best_codec == Codec::kBlockFields &&
      (in.size() <= kSmallQuantPayload || best.size() < in.size() / 4 ||
       (patch_op && in.size() <= kPatchTrialThreshold)) &&
      Encode(Codec::kZstd, in, shape, options.level, patch_op, attempt) &&
      attempt.size() < best.size()) {
    std::swap(best, attempt);
    best_codec = Codec::kZstd;
  }
  if (best_codec == Codec::kRaw) return {};  // nothing shrinks it: stays raw
  frame.payload = std::move(best);
  h.codec = static_cast<uint8_t>(best_codec);
  return {};
}

uint32_t ValueDtype(const stream::FrameHeader& h) {
  if (h.dtype == static_cast<uint32_t>(Dtype::kU8) && h.Attr("tflite.sparsity")) {
    auto type = h.Attr("tflite.type");
    if (type == "FLOAT16") return static_cast<uint32_t>(Dtype::kF16);
    if (type == "FLOAT32") return static_cast<uint32_t>(Dtype::kF32);
    if (type == "BFLOAT16") return static_cast<uint32_t>(Dtype::kBF16);
  }
  return h.dtype;
}

std::string CodecName(uint8_t codec) {
  switch (static_cast<Codec>(codec)) {
    case Codec::kRaw: return "raw";
    case Codec::kZstd: return "zstd";
    case Codec::kBytePlane: return "byteplane";
    case Codec::kBlockFields: return "fields";
    case Codec::kPalette: return "palette";
    case Codec::kBundle: return "bundle";
    case Codec::kIndexBitmap: return "bitmap";
  }
  return "codec" + std::to_string(codec);
}

std::optional<Codec> ParseCodec(std::string_view name) {
  if (name == "raw") return Codec::kRaw;
  if (name == "zstd") return Codec::kZstd;
  if (name == "byteplane") return Codec::kBytePlane;
  if (name == "fields") return Codec::kBlockFields;
  if (name == "palette") return Codec::kPalette;
  if (name == "bitmap") return Codec::kIndexBitmap;
  return std::nullopt;
}

}  // namespace mln::codecs
