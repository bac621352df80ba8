#include "libstream/fuzz/fuzz_entry.h"

#include <array>
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
#include "libstream/codecs/codec.h"
#include "libstream/crypto/digest.h"
#include "libstream/crypto/sign.h"
#include "libstream/formats/container.h"
#include "libstream/formats/gguf.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/formats/onnx.h"
#include "libstream/formats/safetensors.h"
#include "libstream/formats/tflite.h"
#include "libstream/stream/frame_codec_internal.h"
#include "libstream/stream/reader.h"
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
  codecs::EncodeOptions eo;
  eo.force = codec;
  if (!codecs::EncodeFrame(f, eo)) Broken("a decoded payload does not encode again");
  if (!codecs::DecodeFrame(f)) Broken("a re-encoded payload does not decode");
  if (f.payload.size() != decoded.size() ||
      (decoded.size() != 0 && std::memcmp(f.payload.data(), decoded.data(), decoded.size()))) {
    Broken("decode(encode(x)) != x");
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

int FuzzZstdDecode(const uint8_t* data, size_t size) {
  DecodeWithCodec(stream::Codec::kZstd, data, size);
  return 0;
}

int FuzzBytePlaneDecode(const uint8_t* data, size_t size) {
  DecodeWithCodec(stream::Codec::kBytePlane, data, size);
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
