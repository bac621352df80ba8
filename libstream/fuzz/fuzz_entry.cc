#include "libstream/fuzz/fuzz_entry.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "libstream/base/byte_io.h"
#include "libstream/base/checked_math.h"
#include "libstream/base/endian.h"
#include "libstream/codecs/bundle.h"
#include "libstream/codecs/codec.h"
#include "libstream/codecs/context_model.h"
#include "libstream/crypto/digest.h"
#include "libstream/crypto/sign.h"
#include "libstream/delta/apply.h"
#include "libstream/delta/model_file.h"
#include "libstream/formats/container.h"
#include "libstream/formats/gguf.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/formats/onnx.h"
#include "libstream/formats/safetensors.h"
#include "libstream/formats/tflite.h"
#include "libstream/stream/frame_codec_internal.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"
#include "libstream/verify/verify.h"

namespace mln::fuzz {
namespace {

using stream::Frame;
using stream::internal::kFramePrefixSize;
using stream::internal::kStreamHeaderSize;

// A broken invariant: abort so libFuzzer (or the replay driver) reports the input.
[[noreturn]] void Broken(const char* what) {
  std::fprintf(stderr, "mln fuzz: invariant broken: %s\n", what);
  std::abort();
}

// Ed25519 public key of tests/fuzz/fuzz_key.pem, a test-only key that signed the
// verify_stream seeds, so mutated signed streams reach EvaluateTrust's signature checks.
constexpr char kFuzzPublicKeyPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAeaQGt9JZrIUbps9B3BiGrzh7exDl3TWhNoRdNK7kljU=\n"
    "-----END PUBLIC KEY-----\n";

// Small chunks, so a fuzz-sized model still goes through the chunker's multi-chunk paths.
formats::ParseOptions FuzzParseOptions() {
  formats::ParseOptions o;
  o.chunk_size = 4096;
  return o;
}

// Reads every frame `parse` yields from `data`, checks each one, and when the parse succeeds
// writes the frames back with LayoutSink: the model must come back byte for byte.
template <typename ParseFn>
void ParseAndRoundTrip(const uint8_t* data, size_t size, ParseFn parse) {
  std::span<const uint8_t> in(data, size);
  auto src = MakeMemorySource(in, "fuzz");
  auto parsed = parse(*src, FuzzParseOptions());
  if (!parsed) return;
  std::vector<Frame> frames;
  for (;;) {
    auto next = (*parsed)->Next();
    if (!next) return;
    if (!next->has_value()) break;
    Frame f = std::move(**next);
    stream::SealFrame(f);
    frames.push_back(std::move(f));
  }
  std::vector<uint8_t> out;
  auto sink_bytes = MakeMemorySink(&out, "fuzz-out");
  formats::LayoutSink sink(*sink_bytes);
  for (Frame& f : frames) {
    if (!sink.Put(std::move(f))) Broken("a model that parsed cannot be laid out again");
  }
  if (!sink.Finish() || !sink_bytes->Flush()) Broken("a model that parsed cannot be emitted");
  // The whole input is the model: it must come back identical (invariant 2).
  if (out.size() != size || (size != 0 && std::memcmp(out.data(), data, size) != 0)) {
    Broken("a model that parsed does not round-trip byte for byte");
  }
}

// Reads a stream to its end; decodes each frame's payload as a consumer would.
void ReadAllFrames(std::span<const uint8_t> bytes, bool verify_digest) {
  auto src = MakeMemorySource(bytes, "fuzz.mlns");
  stream::ReaderOptions options;
  options.verify_digest = verify_digest;
  stream::Reader reader(*src, options);
  for (;;) {
    auto next = reader.Next();
    if (!next || !next->has_value()) break;
    Frame f = std::move(**next);
    (void)stream::VerifyFrame(f);
    (void)codecs::DecodeFrame(f);
  }
}

// Sets the trailer's digest to the SHA-256 of everything before it, re-encoding the trailer
// (its header length may change; it is the last frame, so nothing after it moves).
void FixTrailerDigest(std::vector<uint8_t>& bytes, size_t trailer_at, size_t header_len) {
  // A copy: DecodeHeader, like the Reader, needs the FlatBuffer at an aligned address.
  std::vector<uint8_t> fb(bytes.begin() + trailer_at + kFramePrefixSize,
                          bytes.begin() + trailer_at + kFramePrefixSize + header_len);
  auto header = stream::internal::DecodeHeader(fb);
  if (!header || !header->Is(stream::FrameKind::kTrailer)) return;
  crypto::Sha256 sha;
  sha.Update(bytes.data(), trailer_at);
  crypto::Sha256Digest d = sha.Final();
  header->digest.assign(d.begin(), d.end());
  std::vector<uint8_t> enc = stream::internal::EncodeHeader(*header);
  std::vector<uint8_t> tail(bytes.begin() + trailer_at + kFramePrefixSize + header_len,
                            bytes.end());
  bytes.resize(trailer_at + kFramePrefixSize);
  uint8_t* prefix = bytes.data() + trailer_at;
  StoreLE<uint32_t>(prefix + 4, static_cast<uint32_t>(enc.size()));
  StoreLE<uint64_t>(prefix + 8, 0);
  bytes.insert(bytes.end(), enc.begin(), enc.end());
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  prefix = bytes.data() + trailer_at;  // insert() may have moved the bytes
  crypto::Xxh3Hasher check;
  check.Update(prefix, 16);
  check.Update(enc.data(), enc.size());
  StoreLE<uint64_t>(prefix + 16, check.Digest());
}

// As FixFrameHeaderChecksums; also fixes the trailer digest when `fix_trailer`.
void FixStream(std::vector<uint8_t>& bytes, bool fix_trailer) {
  size_t pos = kStreamHeaderSize;
  while (bytes.size() >= kFramePrefixSize && pos <= bytes.size() - kFramePrefixSize) {
    uint8_t* prefix = bytes.data() + pos;
    if (LoadLE<uint32_t>(prefix) != stream::internal::kFrameMagic) return;
    uint64_t header_len = LoadLE<uint32_t>(prefix + 4);
    uint64_t payload_len = LoadLE<uint64_t>(prefix + 8);
    uint64_t left = bytes.size() - pos - kFramePrefixSize;
    if (header_len == 0 || header_len > left) return;
    crypto::Xxh3Hasher check;
    check.Update(prefix, 16);
    check.Update(prefix + kFramePrefixSize, header_len);
    StoreLE<uint64_t>(prefix + 16, check.Digest());
    if (fix_trailer && payload_len == 0 && header_len == left) {
      FixTrailerDigest(bytes, pos, header_len);
      return;
    }
    uint64_t next = pos + kFramePrefixSize + header_len;
    if (payload_len != 0) next += PadTo(next, kPayloadAlignment);
    if (payload_len > bytes.size() || next > bytes.size() - payload_len) return;
    pos = next + payload_len;
  }
}

// A frame with `codec`, `decoded_size` and `dtype` from the input's first 8 bytes and the
// rest as its stored payload. DecodePayload finds the decoded bytes; DecodeFrame, given
// their checksum, must then agree, and they must survive a re-encode with the same codec.
void DecodeWithCodec(stream::Codec codec, const uint8_t* data, size_t size) {
  if (size < 8) return;
  constexpr uint32_t kMaxFuzzDecoded = 4u << 20;
  Frame f;
  f.header.kind = static_cast<uint16_t>(stream::FrameKind::kTensor);
  f.header.name = "fuzz";
  f.header.decoded_size = LoadLE<uint32_t>(data) % (kMaxFuzzDecoded + 1);
  f.header.dtype = LoadLE<uint32_t>(data + 4);
  f.header.codec = static_cast<uint8_t>(codec);
  f.payload.Resize(size - 8);
  if (size > 8) std::memcpy(f.payload.data(), data + 8, size - 8);
  AlignedBuffer decoded;
  if (!codecs::DecodePayload(f.header.codec, f.payload.span(), f.header.decoded_size, decoded)) {
    if (codecs::DecodeFrame(f)) Broken("DecodeFrame accepts what DecodePayload refuses");
    return;
  }
  if (decoded.size() != f.header.decoded_size) Broken("decoded payload has the wrong size");
  f.header.checksum = crypto::Xxh3(decoded.span());
  if (!codecs::DecodeFrame(f)) Broken("DecodeFrame refuses what DecodePayload decoded");
  if (f.payload.size() != decoded.size() ||
      (decoded.size() != 0 && std::memcmp(f.payload.data(), decoded.data(), decoded.size()))) {
    Broken("DecodeFrame and DecodePayload disagree");
  }
  if (codec == stream::Codec::kBundle) {
    // EncodeFrame never writes codec 5 (only BundleSink does): a body it decoded is a
    // walkable bare stream, which must encode again and decode to itself, whichever
    // payloads go after the zstd part.
    std::vector<bool> tail;
    for (size_t i = 0; i < LoadLE<uint32_t>(data + 8 + 4) && i < (1u << 20); ++i) {
      tail.push_back(data[(8 + i) % size] & 1);
    }
    auto again = codecs::EncodeBundleBody(decoded.span(), tail, 1);
    if (!again) Broken("a decoded bundle body does not encode again");
    AlignedBuffer twice;
    if (!codecs::DecodeBundleBody(again->span(), decoded.size(), twice) ||
        twice.size() != decoded.size() ||
        (decoded.size() != 0 && std::memcmp(twice.data(), decoded.data(), decoded.size()))) {
      Broken("bundle decode(encode(x)) != x");
    }
    return;
  }
  codecs::EncodeOptions eo;
  eo.force = codec;
  if (!codecs::EncodeFrame(f, eo)) Broken("a decoded payload does not encode again");
  if (!codecs::DecodeFrame(f)) Broken("a re-encoded payload does not decode");
  if (f.payload.size() != decoded.size() ||
      (decoded.size() != 0 && std::memcmp(f.payload.data(), decoded.data(), decoded.size()))) {
    Broken("decode(encode(x)) != x");
  }
}

// The context model's encoder on arbitrary planes (its decoder sees fuzzed groups through
// the byteplane codec): whatever it codes, at any stride, must decode to itself.
void ContextRoundTrip(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const uint32_t stride = 1 + data[0] % 97;
  std::span<const uint8_t> plane(data + 1, size - 1);
  std::vector<uint8_t> coded(2 * plane.size() + 64);  // room for any overhead of learning
  auto n = codecs::internal::ContextEncode(plane, stride, coded.data(), coded.size());
  if (!n) Broken("the context model did not code a plane in twice its size");
  std::vector<uint8_t> back(plane.size());
  if (!codecs::internal::ContextDecode({coded.data(), *n}, back.data(), back.size(), "fuzz")) {
    Broken("the context model refuses what it coded");
  }
  if (!std::equal(back.begin(), back.end(), plane.begin())) Broken("context decode(encode(x)) != x");
}

// SHA-256 of PatchFuzzBase(). make_seeds.sh checks the base it writes with Python against
// the same value, so the seeds and the base they are applied to here cannot drift apart.
constexpr char kPatchBaseSha256[] =
    "a0e8b3366a3d17885b8511d52c6c17379debfda96c2900d9cb9c2953b713ec54";

void PutLE(std::vector<uint8_t>& b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutString(std::vector<uint8_t>& b, std::string_view s) {
  PutLE(b, s.size(), 8);
  b.insert(b.end(), s.begin(), s.end());
}

// The base FuzzPatchApply applies every input to, with its bytes (ResealPatch hashes base
// ranges from them). The model is a regular file to ModelFile, as mln-apply needs, but lives
// in a memfd: nothing on disk, one per process.
struct PatchBase {
  std::vector<uint8_t> bytes;
  std::unique_ptr<delta::ModelFile> file;
};

const PatchBase& GetPatchBase() {
  static const PatchBase base = [] {
    PatchBase b;
    b.bytes = PatchFuzzBase();
    crypto::Sha256 sha;
    sha.Update(b.bytes.data(), b.bytes.size());
    if (crypto::ToHex(sha.Final()) != kPatchBaseSha256) {
      Broken(
          "PatchFuzzBase changed: update kPatchBaseSha256 and make_seeds.sh's copy, and "
          "regenerate tests/fuzz/corpus/patch_apply");
    }
    int fd = ::memfd_create("mln-fuzz-base", MFD_CLOEXEC);
    if (fd < 0 ||
        ::write(fd, b.bytes.data(), b.bytes.size()) != static_cast<ssize_t>(b.bytes.size()) ||
        ::lseek(fd, 0, SEEK_SET) != 0) {
      Broken("cannot hold the patch base in a memfd");
    }
    // The descriptor stays open for the life of the process (ModelFile does not own it).
    auto src = MakeFdSource(fd, "fuzz-base.gguf", /*owned=*/false);
    auto file = delta::ModelFile::Open(*src, formats::ParseOptions{}, /*need_plan=*/false);
    if (!file || (*file)->materialized()) Broken("the memfd base is not used as it is");
    b.file = std::move(*file);
    return b;
  }();
  return base;
}

uint64_t HashRange(std::span<const uint8_t> base, uint64_t offset, uint64_t size) {
  return crypto::Xxh3(base.subspan(offset, size));
}

// A keep run with raw payload and a valid run.piece over a range inside the base: its piece
// hashes and its result checksum made from the base, as mln-diff writes them.
void FixKeepRun(stream::Frame& f, std::span<const uint8_t> base) {
  stream::FrameHeader& h = f.header;
  auto text = h.Attr(delta::kAttrPiece).value_or("");
  uint64_t piece = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), piece);
  if (ec != std::errc() || piece == 0 || h.base_size != h.out_size || h.base_size > base.size() ||
      h.base_offset > base.size() - h.base_size) {
    return;
  }
  uint64_t count = h.out_size / piece + (h.out_size % piece != 0);
  if (f.payload.size() != count * 8) return;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t at = i * piece;
    StoreLE<uint64_t>(f.payload.data() + i * 8,
                      HashRange(base, h.base_offset + at, std::min(piece, h.out_size - at)));
  }
  h.out_checksum = h.base_checksum = HashRange(base, h.base_offset, h.base_size);
}

// Rebuilds the patch in `bytes` frame by frame through stream::Writer, recomputing what a
// mutation breaks before any op runs: each payload's checksum (of its decoded bytes), each
// op's base-range checksum, a raw keep run's hashes, and the result checksum of ops whose
// result is their payload. Frames are walked by their prefixes (no checksum); the stream
// ends (with a fresh trailer) at the first one that cannot be walked or decoded. Empty
// when the input has no stream header.
std::vector<uint8_t> ResealPatch(std::span<const uint8_t> bytes, std::span<const uint8_t> base) {
  std::vector<uint8_t> out;
  if (bytes.size() < kStreamHeaderSize) return out;
  auto sink = MakeMemorySink(&out, "fuzz-resealed");
  stream::Writer writer(*sink);
  size_t pos = kStreamHeaderSize;
  while (bytes.size() - pos >= kFramePrefixSize) {
    const uint8_t* prefix = bytes.data() + pos;
    if (LoadLE<uint32_t>(prefix) != stream::internal::kFrameMagic) break;
    uint64_t header_len = LoadLE<uint32_t>(prefix + 4);
    uint64_t payload_len = LoadLE<uint64_t>(prefix + 8);
    uint64_t at = pos + kFramePrefixSize;
    if (header_len == 0 || header_len > bytes.size() - at) break;
    // A copy: DecodeHeader needs the FlatBuffer at an aligned address.
    std::vector<uint8_t> fb(bytes.begin() + at, bytes.begin() + at + header_len);
    auto header = stream::internal::DecodeHeader(fb);
    if (!header) break;
    at += header_len;
    if (payload_len != 0) at += PadTo(at, kPayloadAlignment);
    if (at > bytes.size() || payload_len > bytes.size() - at) break;
    pos = at + payload_len;
    if (header->Is(stream::FrameKind::kTrailer)) break;  // Finish writes the only one
    Frame f;
    f.header = std::move(*header);
    f.payload.Resize(payload_len);
    if (payload_len != 0) std::memcpy(f.payload.data(), bytes.data() + at, payload_len);
    stream::FrameHeader& h = f.header;
    bool delta_op = h.Is(stream::FrameKind::kDelta);
    auto op = static_cast<delta::PatchOp>(h.op);
    if (delta_op && op == delta::PatchOp::kKeep &&
        h.codec == static_cast<uint8_t>(stream::Codec::kRaw)) {
      FixKeepRun(f, base);
    } else if (delta_op && h.base_size <= base.size() &&
               h.base_offset <= base.size() - h.base_size) {
      h.base_checksum = HashRange(base, h.base_offset, h.base_size);
    }
    AlignedBuffer decoded;
    if (h.decoded_size <= (1u << 20) &&
        codecs::DecodePayload(h.codec, f.payload.span(), h.decoded_size, decoded)) {
      h.checksum = crypto::Xxh3(decoded.span());
      if (delta_op && (op == delta::PatchOp::kInsert || op == delta::PatchOp::kReplace)) {
        h.out_checksum = h.checksum;
      }
    }
    if (!writer.Put(std::move(f))) break;
  }
  if (!writer.Finish()) out.clear();
  return out;
}

// Applies `patch` to the base; a patch that applies must have made what it promises.
void ApplyToBase(std::span<const uint8_t> patch) {
  const PatchBase& base = GetPatchBase();
  auto src = MakeMemorySource(patch, "fuzz.mlnp");
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "fuzz-out");
  delta::ApplyOptions options;
  options.threads = 1;
  options.max_op_bytes = 1u << 20;  // the base is a few KB; bounds what one input allocates
  auto stats = delta::ApplyPatch(*base.file, *src, *sink, options);
  if (!stats) return;
  crypto::Sha256 sha;
  sha.Update(out.data(), out.size());
  if (out.size() != stats->info.new_size || crypto::ToHex(sha.Final()) != stats->info.new_sha256 ||
      stats->bytes_written != out.size()) {
    Broken("an applied patch did not make the size and SHA-256 it promises");
  }
}

}  // namespace

void FixFrameHeaderChecksums(std::vector<uint8_t>& bytes) { FixStream(bytes, false); }

int FuzzStreamReader(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  FixFrameHeaderChecksums(bytes);
  // Half the inputs also check the stream digest; the other half read as the filters do.
  ReadAllFrames(bytes, size % 2 == 0);
  return 0;
}

int FuzzVerifyStream(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  FixStream(bytes, true);
  auto src = MakeMemorySource(bytes, "fuzz.mlns");
  verify::CheckOptions options;
  options.threads = 1;
  auto report = verify::CheckStream(*src, options);
  if (!report) return 0;
  auto key = crypto::PublicKey::FromPem(kFuzzPublicKeyPem, "fuzz_key.pub");
  if (!key) Broken("the embedded fuzz public key does not parse");
  verify::TrustPolicy policy;
  policy.trusted.push_back(*key);
  policy.now = 1'800'000'000;
  auto state = verify::VersionState::Parse(R"({"fuzz-model": 3})", "fuzz-state");
  if (!state) Broken("the fuzz version state does not parse");
  (void)verify::EvaluateTrust(*report, policy, &*state);
  policy.allow_downgrade = true;
  policy.threshold = 2;
  (void)verify::EvaluateTrust(*report, policy, nullptr);
  return 0;
}

int FuzzGgufParse(const uint8_t* data, size_t size) {
  ParseAndRoundTrip(data, size, formats::ParseGguf);
  return 0;
}

int FuzzTfliteParse(const uint8_t* data, size_t size) {
  ParseAndRoundTrip(data, size, formats::ParseTflite);
  return 0;
}

int FuzzOnnxParse(const uint8_t* data, size_t size) {
  // The scan alone (no model_dir, so external data is only checked by name), then the parser.
  (void)formats::ScanOnnx({data, size}, formats::OnnxScanOptions{});
  ParseAndRoundTrip(data, size, formats::ParseOnnx);
  return 0;
}

int FuzzSafetensorsParse(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  // The header decoder with the data size unknown and known, the parser, and the index
  // (empty dir: no file is opened).
  (void)formats::DecodeSafetensorsHeader(in, std::nullopt);
  if (size >= 8) {
    uint64_t n = LoadLE<uint64_t>(data);
    if (n <= size - 8) {
      (void)formats::DecodeSafetensorsHeader(in.first(8 + n), size - 8 - n);
    }
  }
  ParseAndRoundTrip(data, size, formats::ParseSafetensors);
  (void)formats::CheckSafetensorsIndex(in, "");
  ParseAndRoundTrip(data, size, formats::ParseSafetensorsIndex);
  return 0;
}

int FuzzContainer(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  {
    auto src = MakeMemorySource(in, "fuzz.tar");
    (void)formats::ListArchive(*src);
  }
  auto src = MakeMemorySource(in, "fuzz.tar");
  auto parsed = formats::ParseArchive(*src, FuzzParseOptions());
  if (!parsed) return 0;
  for (;;) {
    auto next = (*parsed)->Next();
    if (!next || !next->has_value()) break;
  }
  return 0;
}

std::vector<uint8_t> PatchFuzzBase() {
  // GGUF v3 (ggml docs/gguf.md): magic, version, tensor count, KV count, KVs, tensor infos,
  // padding to 32, then each tensor's data at a 32-byte aligned offset. Values are exact
  // in binary so that make_seeds.sh's Python writes the same bytes.
  enum : uint32_t { kF32 = 0, kQ8_0 = 8, kI8 = 24, kI32 = 26, kF64 = 28, kString = 8 };
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<uint8_t> data;
  };
  auto f32 = [](size_t n, auto value) {
    std::vector<uint8_t> d;
    for (size_t i = 0; i < n; ++i) PutLE(d, std::bit_cast<uint32_t>(float(value(i))), 4);
    return d;
  };
  std::vector<uint8_t> f64, i8a, i8b, i32;
  for (size_t i = 0; i < 64; ++i) PutLE(f64, std::bit_cast<uint64_t>((i % 13) * 0.5 - 3), 8);
  for (size_t i = 0; i < 256; ++i) i8a.push_back(static_cast<uint8_t>(i * 7));
  for (size_t i = 0; i < 512; ++i) i8b.push_back(static_cast<uint8_t>(i * 13 + 5));
  for (size_t i = 0; i < 8; ++i) PutLE(i32, i, 4);
  // 256 Q8_0 blocks (f16 scale, 32 int8 values), for the q8delta op: enough for its
  // adaptive coder to beat the byte-wise ops on the variant.
  std::vector<uint8_t> q8;
  for (size_t blk = 0; blk < 256; ++blk) {
    PutLE(q8, 0x2000 + blk * 3, 2);
    for (size_t i = 0; i < 32; ++i) q8.push_back(static_cast<uint8_t>((blk * 32 + i) * 37 % 255));
  }
  // Neighbours differ in type, so mln-diff's chunker never packs two into one op; the
  // seeds' variant changes each as its name says. keep.weight spans three 4 KiB pieces.
  std::vector<Tensor> tensors;
  tensors.push_back({"keep.weight", kF32, f32(2560, [](size_t i) { return (i % 17) * 0.25 - 2; })});
  tensors.push_back({"xor.weight", kF64, std::move(f64)});
  tensors.push_back(
      {"fdelta.weight", kF32, f32(128, [](size_t i) { return (i % 29) * 0.125 + 1; })});
  tensors.push_back({"sub.weight", kI8, std::move(i8a)});
  tensors.push_back({"replace.weight", kF32, f32(16, [](size_t i) { return i * 0.5; })});
  tensors.push_back({"sparse.weight", kI8, std::move(i8b)});
  tensors.push_back({"q8delta.weight", kQ8_0, std::move(q8)});
  tensors.push_back({"delete.weight", kI32, std::move(i32)});
  std::string notes;
  for (int i = 0; i < 12; ++i) {
    if (i) notes += ' ';
    notes += "note " + std::to_string(i) + ": patches carry tensor-aware ops for small models";
  }

  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  PutLE(b, 3, 4);
  PutLE(b, tensors.size(), 8);
  PutLE(b, 2, 8);
  for (auto [key, value] :
       {std::pair<std::string_view, std::string_view>{"general.architecture", "fuzz"},
        {"fuzz.notes", notes}}) {
    PutString(b, key);
    PutLE(b, kString, 4);
    PutString(b, value);
  }
  std::vector<uint8_t> data;
  for (const Tensor& t : tensors) {
    data.resize(data.size() + PadTo(data.size(), 32));
    PutString(b, t.name);
    PutLE(b, 1, 4);  // one dimension: elements
    size_t width = t.type == kF32 || t.type == kI32 ? 4 : t.type == kF64 ? 8 : 1;
    PutLE(b, t.type == kQ8_0 ? t.data.size() / 34 * 32 : t.data.size() / width, 8);
    PutLE(b, t.type, 4);
    PutLE(b, data.size(), 8);
    data.insert(data.end(), t.data.begin(), t.data.end());
  }
  b.resize(b.size() + PadTo(b.size(), 32));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

int FuzzPatchApply(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  FixStream(bytes, true);
  ApplyToBase(bytes);
  std::vector<uint8_t> resealed = ResealPatch({data, size}, GetPatchBase().bytes);
  if (!resealed.empty()) ApplyToBase(resealed);
  return 0;
}

int FuzzZstdDecode(const uint8_t* data, size_t size) {
  DecodeWithCodec(stream::Codec::kZstd, data, size);
  return 0;
}

// The table codecs (byteplane, fields for quantized blocks, palette, bundle bodies, index
// bitmaps) each parse a head, a table or frame prefixes, and stored parts: one target feeds
// the same input to each, and to the context model's encoder as a plane.
int FuzzBytePlaneDecode(const uint8_t* data, size_t size) {
  DecodeWithCodec(stream::Codec::kBytePlane, data, size);
  DecodeWithCodec(stream::Codec::kBlockFields, data, size);
  DecodeWithCodec(stream::Codec::kPalette, data, size);
  DecodeWithCodec(stream::Codec::kBundle, data, size);
  DecodeWithCodec(stream::Codec::kIndexBitmap, data, size);
  ContextRoundTrip(data, size);
  return 0;
}

int FuzzManifest(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::span<const uint8_t> rest(data + 1, size - 1);
  std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
  switch (data[0] % 4) {
    case 0: {
      auto m = verify::ParseManifest(rest);
      if (!m) break;
      std::string canon = verify::ManifestBytes(*m);
      auto again = verify::ParseManifest(
          {reinterpret_cast<const uint8_t*>(canon.data()), canon.size()});
      if (!again || !(*again == *m)) Broken("a manifest does not survive its canonical form");
      break;
    }
    case 1: {
      auto k = crypto::PublicKey::FromPem(text, "fuzz.pub");
      if (k) (void)k->Verify(rest, rest.first(std::min<size_t>(64, rest.size())));
      break;
    }
    case 2: {
      auto k = crypto::PrivateKey::FromPem(text, "fuzz.pem");
      if (!k) break;
      auto sig = k->Sign(rest);
      if (!sig || !k->public_key().Verify(rest, *sig)) Broken("sign then verify fails");
      break;
    }
    case 3: {
      auto s = verify::VersionState::Parse(text, "fuzz-state");
      if (!s) break;
      auto again = verify::VersionState::Parse(s->Serialize(), "fuzz-state");
      if (!again || again->Serialize() != s->Serialize()) Broken("state does not round-trip");
      std::array<uint8_t, 32> raw{};
      (void)crypto::FromHex(text.substr(0, 64), raw);
      break;
    }
  }
  return 0;
}

}  // namespace mln::fuzz
