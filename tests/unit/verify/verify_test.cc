// mln-verify's library: one-pass stream checks, signing, trust decisions and the version
// state, on streams made from synthetic GGUF models with keys generated here. Each attack
// the issue lists must be refused with a message that says what and where.
#include "libstream/verify/verify.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "libstream/formats/convert.h"
#include "libstream/stream/reader.h"
#include "tests/support/test_util.h"

namespace mln::verify {
namespace {

using stream::Frame;
using stream::FrameKind;
using testing::RandomBytes;

constexpr int64_t kNow = 1790000000;  // 2026-09-21, fixed so expiry tests are exact

std::vector<uint8_t> Model() {
  testing::GgufBuilder b;
  b.KvString("general.name", "tiny")
      .Tensor("a.f32", {64, 2}, 0, RandomBytes(512, 1))
      .Tensor("b.q8_0", {64, 3}, 8, RandomBytes(34 * 2 * 3, 2))
      .Tensor("c.f16", {100}, 1, RandomBytes(200, 3));
  return b.Build();
}

// A stream as mln-parse writes it, with 64-byte chunks so tensors span several frames.
std::vector<uint8_t> ParsedStream() {
  std::vector<uint8_t> model = Model(), out;
  auto src = MakeMemorySource(model, "tiny.gguf");
  auto sink = MakeMemorySink(&out, "mem");
  formats::ParseOptions options;
  options.chunk_size = 64;
  auto stats = formats::ParseToStream(*src, *sink, "", options);
  EXPECT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_TRUE(sink->Flush().has_value());
  return out;
}

Result<StreamReport> Check(const std::vector<uint8_t>& bytes, std::vector<uint8_t>* copy = nullptr,
                           unsigned threads = 0) {
  auto src = MakeMemorySource(bytes, "s.mlns");
  std::unique_ptr<ByteSink> sink;
  if (copy) sink = MakeMemorySink(copy, "copy");
  auto r = CheckStream(*src, {threads, sink.get()});
  if (sink) {
    EXPECT_TRUE(sink->Flush().has_value());
  }
  return r;
}

struct KeyPair {
  crypto::PrivateKey priv;
  crypto::PublicKey pub;
};

KeyPair NewKey(const std::string& name) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  auto pem = [&](bool priv) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv) PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
    else PEM_write_bio_PUBKEY(bio, k);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<size_t>(n));
    BIO_free(bio);
    return s;
  };
  auto priv = crypto::PrivateKey::FromPem(pem(true), name + ".pem");
  auto pub = crypto::PublicKey::FromPem(pem(false), name + ".pub");
  EVP_PKEY_free(k);
  EXPECT_TRUE(priv && pub);
  return {*priv, *pub};
}

SignOptions Sign(std::vector<crypto::PrivateKey> keys, uint64_t version,
                 std::optional<int64_t> expires = std::nullopt) {
  SignOptions o;
  o.keys = std::move(keys);
  o.name = "tiny";
  o.version = version;
  o.created = kNow - 100;
  o.expires = expires;
  return o;
}

Result<std::vector<uint8_t>> SignBytes(const std::vector<uint8_t>& in, const SignOptions& o,
                                       unsigned threads = 0) {
  std::vector<uint8_t> out;
  auto src = MakeMemorySource(in, "in.mlns");
  auto sink = MakeMemorySink(&out, "out.mlns");
  SignOptions with_threads = o;
  with_threads.threads = threads;
  MLN_RETURN_IF_ERROR(SignStream(*src, *sink, with_threads));
  MLN_RETURN_IF_ERROR(sink->Flush());
  return out;
}

TrustPolicy Trust(std::vector<crypto::PublicKey> keys, unsigned threshold = 1) {
  TrustPolicy p;
  p.trusted = std::move(keys);
  p.threshold = threshold;
  p.now = kNow;
  return p;
}

// Checks, then evaluates trust: the whole of `mln-verify --pubkey`.
Result<Manifest> Verify(const std::vector<uint8_t>& bytes, const TrustPolicy& policy,
                        const VersionState* state = nullptr) {
  MLN_TRY(StreamReport report, Check(bytes));
  return EvaluateTrust(report, policy, state);
}

std::vector<Frame> Frames(const std::vector<uint8_t>& bytes) {
  auto frames = testing::ReadStream(bytes);
  EXPECT_TRUE(frames.has_value()) << frames.error().ToString();
  return std::move(*frames);
}

// Rewrites a (possibly edited) frame list as a fresh, self-consistent stream: new header
// checks and trailer, as an attacker who knows the format would.
std::vector<uint8_t> Reseal(std::vector<Frame> frames) {
  for (Frame& f : frames) stream::SealFrame(f);
  return testing::WriteStream(std::move(frames));
}

size_t FindFrame(const std::vector<Frame>& frames, FrameKind kind, size_t nth = 0) {
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].header.Is(kind) && nth-- == 0) return i;
  }
  ADD_FAILURE() << "no such frame";
  return 0;
}

void ExpectError(const auto& result, Errc code, const std::string& text) {
  ASSERT_FALSE(result.has_value()) << "expected failure: " << text;
  EXPECT_EQ(result.error().code, code) << result.error().ToString();
  EXPECT_NE(result.error().ToString().find(text), std::string::npos)
      << "'" << result.error().ToString() << "' lacks '" << text << "'";
}

TEST(VerifyTest, GoodStreamPassesThroughByteForByte) {
  std::vector<uint8_t> s = ParsedStream(), copy;
  ASSERT_OK_AND_ASSIGN(StreamReport r, Check(s, &copy));
  EXPECT_EQ(copy, s);
  EXPECT_EQ(r.bytes, s.size());
  EXPECT_GT(r.frames, 8u);  // source, header, chunked tensors
  EXPECT_TRUE(r.signatures.empty());
  // Unsigned: the content digest is the trailer digest, the SHA-256 of all but the trailer.
  auto all = Frames(s);
  EXPECT_EQ(r.frames, all.size());
  EXPECT_EQ(r.content_sha256, r.stream_sha256);
  ASSERT_OK_AND_ASSIGN(auto d, DigestInput(*MakeMemorySource(s, "s"), 1));
  ASSERT_TRUE(d.stream.has_value());
  EXPECT_EQ(d.stream->stream_sha256, r.stream_sha256);
}

TEST(VerifyTest, TamperedPayloadNamesTheFrame) {
  std::vector<uint8_t> s = ParsedStream();
  std::vector<uint8_t> data = RandomBytes(512, 1);  // tensor a.f32's bytes
  auto at = std::search(s.begin(), s.end(), data.begin() + 70, data.begin() + 90);
  ASSERT_NE(at, s.end());
  *at ^= 0x10;
  auto r = Check(s);
  ExpectError(r, Errc::kBadData, "'a.f32': checksum mismatch");
  EXPECT_TRUE(r.error().frame.has_value());
}

TEST(VerifyTest, TamperedHeaderIsCaught) {
  std::vector<uint8_t> s = ParsedStream();
  std::string name = "c.f16";
  // The last occurrence is in the last chunk's FlatBuffers header (the first, in the GGUF
  // header's payload).
  auto at = std::find_end(s.begin(), s.end(), name.begin(), name.end());
  ASSERT_NE(at, s.end());
  *(at + 2) = 'x';
  ExpectError(Check(s), Errc::kBadData, "frame header checksum mismatch");
}

TEST(VerifyTest, ReorderedFramesAreRefusedEvenWithAFreshTrailer) {
  std::vector<Frame> frames = Frames(ParsedStream());
  size_t t = FindFrame(frames, FrameKind::kTensor);
  std::swap(frames[t], frames[t + 1]);  // chunk 1 of a.f32 before chunk 0
  ExpectError(Check(Reseal(std::move(frames))), Errc::kBadData,
              "'a.f32'");
  std::vector<Frame> again = Frames(ParsedStream());
  t = FindFrame(again, FrameKind::kTensor);
  std::swap(again[t], again[t + 1]);
  auto r = Check(Reseal(std::move(again)));
  ExpectError(r, Errc::kBadData, "run starts at chunk 1, expected chunk 0");
  EXPECT_EQ(r.error().frame, t);
}

TEST(VerifyTest, DroppedFramesAreRefused) {
  // A chunk from the middle of a tensor.
  std::vector<Frame> frames = Frames(ParsedStream());
  size_t t = FindFrame(frames, FrameKind::kTensor, 1);
  frames.erase(frames.begin() + t);
  ExpectError(Check(Reseal(std::move(frames))), Errc::kBadData, "chunk 1 of 'a.f32' missing");
  // A whole tensor: every run is complete, but the next one is misplaced.
  std::vector<Frame> whole = Frames(ParsedStream());
  std::erase_if(whole, [](const Frame& f) { return f.header.name == "b.q8_0"; });
  ExpectError(Check(Reseal(std::move(whole))), Errc::kBadData, "frame placed at file offset");
  // The same bytes cut short, trailer and all.
  std::vector<uint8_t> s = ParsedStream();
  s.resize(s.size() - 200);
  ExpectError(Check(s), Errc::kBadData, "truncated");
}

TEST(VerifyTest, SignedStreamVerifiesAndKeepsTheContentDigest) {
  KeyPair k = NewKey("release");
  std::vector<uint8_t> s = ParsedStream();
  ASSERT_OK_AND_ASSIGN(StreamReport before, Check(s));
  ASSERT_OK_AND_ASSIGN(auto signed_bytes, SignBytes(s, Sign({k.priv}, 7, kNow + 3600)));
  ASSERT_OK_AND_ASSIGN(StreamReport r, Check(signed_bytes));
  EXPECT_EQ(r.frames, before.frames + 1);
  EXPECT_EQ(r.content_sha256, before.stream_sha256);
  EXPECT_NE(r.stream_sha256, before.stream_sha256);
  ASSERT_EQ(r.signatures.size(), 1u);
  EXPECT_EQ(r.signatures[0].frame, before.frames);
  EXPECT_EQ(r.signatures[0].key_id, k.pub.KeyId());
  ASSERT_OK_AND_ASSIGN(Manifest m, EvaluateTrust(r, Trust({k.pub}), nullptr));
  EXPECT_EQ(m.name, "tiny");
  EXPECT_EQ(m.version, 7u);
  EXPECT_EQ(m.created, kNow - 100);
  EXPECT_EQ(m.expires, kNow + 3600);
  EXPECT_EQ(m.content_sha256, before.stream_sha256);
  // The manifest is canonical JSON with sorted keys.
  std::string text(r.signatures[0].manifest.begin(), r.signatures[0].manifest.end());
  nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j.dump(), text);
  EXPECT_EQ(j["content_sha256"], crypto::ToHex(before.stream_sha256));
  // Still a stream every filter reads: same frames, plus one of kind 4.
  auto frames = Frames(signed_bytes);
  EXPECT_EQ(frames.back().header.kind, static_cast<uint16_t>(FrameKind::kSignature));
  EXPECT_EQ(stream::KindName(frames.back().header.kind), "signature");
  // 1 and N threads sign the same bytes.
  ASSERT_OK_AND_ASSIGN(auto one, SignBytes(s, Sign({k.priv}, 7, kNow + 3600), 1));
  ASSERT_OK_AND_ASSIGN(auto many, SignBytes(s, Sign({k.priv}, 7, kNow + 3600), 4));
  EXPECT_EQ(one, many);
  EXPECT_EQ(one, signed_bytes);
}

TEST(VerifyTest, ReaderDigestBeforeIsTheHashOfEarlierBytes) {
  std::vector<uint8_t> s = ParsedStream();
  auto src = MakeMemorySource(s, "s");
  stream::Reader reader(*src);
  auto sha_of_first = [&](uint64_t n) {
    crypto::Sha256 h;
    h.Update(s.data(), n);
    return h.Final();
  };
  // Each frame's digest-before is the hash of the bytes up to where the previous frame
  // (with its padding and payload) ended.
  uint64_t frame_start = 16;  // after the stream header
  for (;;) {
    ASSERT_OK_AND_ASSIGN(auto f, reader.Next());
    if (!f) break;
    EXPECT_EQ(reader.DigestBefore(), sha_of_first(frame_start)) << f->header.name;
    frame_start = src->position();
  }
  ASSERT_TRUE(reader.trailer().has_value());
  EXPECT_EQ(crypto::ToHex(reader.DigestBefore()), crypto::ToHex(reader.trailer()->digest));
  EXPECT_EQ(reader.DigestBefore(), sha_of_first(frame_start));
}

TEST(VerifyTest, SignatureByAnotherKeyIsNotTrusted) {
  KeyPair signer = NewKey("mallory"), trusted = NewKey("release");
  ASSERT_OK_AND_ASSIGN(auto s, SignBytes(ParsedStream(), Sign({signer.priv}, 7)));
  auto r = Verify(s, Trust({trusted.pub}));
  ExpectError(r, Errc::kRejected, "'mln.signature': not trusted: signed by key " +
                                      signer.pub.KeyId().substr(0, 16) +
                                      ", which is not a trusted key");
  EXPECT_TRUE(r.error().frame.has_value());
  // A key inside the stream never counts: the signature frame names its key id only, and a
  // stream with no trusted signature is refused however it is signed.
  ExpectError(Verify(ParsedStream(), Trust({trusted.pub})), Errc::kRejected,
              "the stream carries no signature");
}

TEST(VerifyTest, AlteredManifestOrContentBreaksTheSignature) {
  KeyPair k = NewKey("release");
  ASSERT_OK_AND_ASSIGN(auto s, SignBytes(ParsedStream(), Sign({k.priv}, 7)));
  // Version bumped inside the signed manifest, frame and trailer recomputed.
  std::vector<Frame> frames = Frames(s);
  Frame& sig = frames.back();
  std::string text(sig.payload.span().begin(), sig.payload.span().end());
  auto at = text.find("\"version\":7");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 11, "\"version\":9");
  sig.payload.Clear();
  sig.payload.Append(text.data(), text.size());
  ExpectError(Verify(Reseal(std::move(frames)), Trust({k.pub})), Errc::kRejected,
              "bad Ed25519 signature by trusted key");
  // A tensor's bytes changed and every checksum recomputed: the layout is intact, the
  // trailer is right, only the signed content digest tells.
  std::vector<Frame> edited = Frames(s);
  size_t t = FindFrame(edited, FrameKind::kTensor, 2);
  edited[t].payload.data()[0] ^= 1;
  ExpectError(Verify(Reseal(std::move(edited)), Trust({k.pub})), Errc::kRejected,
              "signed manifest covers content sha256");
  // Frames moved around a signed stream, trailer recomputed: caught by the layout check.
  std::vector<Frame> moved = Frames(s);
  t = FindFrame(moved, FrameKind::kTensor);
  std::swap(moved[t], moved[t + 1]);
  ExpectError(Verify(Reseal(std::move(moved)), Trust({k.pub})), Errc::kBadData, "chunk");
  // A frame appended after the signature frames is not covered by them.
  std::vector<Frame> appended = Frames(s);
  appended.push_back(testing::MakeFrame(static_cast<FrameKind>(9), "extra", RandomBytes(10, 5)));
  auto r = Verify(Reseal(std::move(appended)), Trust({k.pub}));
  ExpectError(r, Errc::kRejected, "'extra': not trusted: frame follows the signature frames");
}

TEST(VerifyTest, TruncatedOrDamagedSignatureFrame) {
  KeyPair k = NewKey("release");
  std::vector<uint8_t> plain = ParsedStream();
  ASSERT_OK_AND_ASSIGN(auto s, SignBytes(plain, Sign({k.priv}, 7)));
  ASSERT_OK_AND_ASSIGN(StreamReport good, Check(s));
  // Cut inside the signature frame's payload (the manifest).
  std::vector<uint8_t> cut(s.begin(), s.end() - 200);
  auto r = Check(cut);
  ExpectError(r, Errc::kBadData, "truncated input");
  EXPECT_EQ(r.error().frame, good.signatures[0].frame);
  // The signature attribute shortened by one byte, stream resealed.
  std::vector<Frame> frames = Frames(s);
  std::string sig(frames.back().header.Attr(kSignatureAttr).value());
  frames.back().header.SetAttr(kSignatureAttr, sig.substr(0, 126));
  ExpectError(Verify(Reseal(std::move(frames)), Trust({k.pub})), Errc::kRejected,
              "signature attribute is 126 characters, expected 128 hex digits");
  // A manifest that is not the canonical JSON a signer writes.
  std::vector<Frame> odd = Frames(s);
  std::string text(odd.back().payload.span().begin(), odd.back().payload.span().end());
  EXPECT_TRUE(ParseManifest(odd.back().payload.span()).has_value());
  std::string spaced = " " + text;
  ExpectError(ParseManifest({reinterpret_cast<const uint8_t*>(spaced.data()), spaced.size()}),
              Errc::kRejected, "canonical form");
  std::string garbage = "{\"schema\":2}";
  ExpectError(ParseManifest({reinterpret_cast<const uint8_t*>(garbage.data()), garbage.size()}),
              Errc::kRejected, "this build reads schema 1");
}

TEST(VerifyTest, ExpiredManifestIsRefused) {
  KeyPair k = NewKey("release");
  ASSERT_OK_AND_ASSIGN(auto s, SignBytes(ParsedStream(), Sign({k.priv}, 7, kNow - 1)));
  ExpectError(Verify(s, Trust({k.pub})), Errc::kRejected,
              "signed manifest expired at " + FormatTime(kNow - 1));
  TrustPolicy earlier = Trust({k.pub});
  earlier.now = kNow - 2;
  ASSERT_OK(Verify(s, earlier));
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
}

TEST(VerifyTest, ThresholdCountsDistinctTrustedKeys) {
  KeyPair a = NewKey("a"), b = NewKey("b"), c = NewKey("c");
  std::vector<uint8_t> plain = ParsedStream();
  ASSERT_OK_AND_ASSIGN(auto by_a, SignBytes(plain, Sign({a.priv}, 3)));
  ASSERT_OK_AND_ASSIGN(auto by_ab, SignBytes(by_a, Sign({b.priv}, 3)));  // co-signed later
  ASSERT_OK_AND_ASSIGN(auto by_aa, SignBytes(plain, Sign({a.priv, a.priv}, 3)));
  ASSERT_OK_AND_ASSIGN(auto by_ac, SignBytes(plain, Sign({a.priv, c.priv}, 3)));
  auto two = Trust({a.pub, b.pub}, 2);
  ASSERT_OK(Verify(by_ab, two));
  ExpectError(Verify(by_a, two), Errc::kRejected, "1 of 2 required");
  ExpectError(Verify(by_aa, two), Errc::kRejected, "1 of 2 required");  // same key twice
  ExpectError(Verify(by_ac, two), Errc::kRejected, "not a trusted key");  // c is not trusted
  ASSERT_OK(Verify(by_ac, Trust({a.pub, b.pub}, 1)));
  // Co-signing must state the same release.
  ExpectError(SignBytes(by_a, Sign({b.priv}, 4)), Errc::kUsage, "already signed for 'tiny' version 3");
}

TEST(VerifyTest, StateRefusesDowngradesAndReplays) {
  KeyPair k = NewKey("release");
  std::vector<uint8_t> plain = ParsedStream();
  ASSERT_OK_AND_ASSIGN(auto v3, SignBytes(plain, Sign({k.priv}, 3)));
  ASSERT_OK_AND_ASSIGN(auto v4, SignBytes(plain, Sign({k.priv}, 4)));
  VersionState state;
  ASSERT_OK(Verify(v3, Trust({k.pub}), &state));  // nothing recorded yet
  state.Set("tiny", 3);
  ExpectError(Verify(v3, Trust({k.pub}), &state), Errc::kRejected,
              "'tiny' version 3 is not newer than version 3 accepted before");  // replay
  ASSERT_OK_AND_ASSIGN(Manifest m, Verify(v4, Trust({k.pub}), &state));
  EXPECT_EQ(m.version, 4u);
  state.Set("tiny", 4);
  ExpectError(Verify(v3, Trust({k.pub}), &state), Errc::kRejected, "version 3 is not newer");
  TrustPolicy allow = Trust({k.pub});
  allow.allow_downgrade = true;
  ASSERT_OK(Verify(v3, allow, &state));
  TrustPolicy floor = Trust({k.pub});
  floor.min_version = 4;
  ExpectError(Verify(v3, floor), Errc::kRejected, "version 3 is below --min-version 4");
  ASSERT_OK(Verify(v4, floor));
  TrustPolicy named = Trust({k.pub});
  named.name = "other";
  ExpectError(Verify(v4, named), Errc::kRejected, "signed for model 'tiny', expected 'other'");
  // Another model's state does not interfere.
  VersionState other;
  other.Set("other", 100);
  ASSERT_OK(Verify(v3, Trust({k.pub}), &other));
}

TEST(VerifyTest, StateFileRoundTripsAtomically) {
  std::string path = ::testing::TempDir() + "/mln_verify_state.json";
  unlink(path.c_str());
  ASSERT_OK_AND_ASSIGN(VersionState empty, VersionState::Load(path));  // first run
  EXPECT_FALSE(empty.Get("tiny").has_value());
  VersionState s;
  s.Set("tiny", 4);
  s.Set("other model", 18446744073709551615ull);
  ASSERT_OK(s.Save(path));
  ASSERT_OK_AND_ASSIGN(VersionState back, VersionState::Load(path));
  EXPECT_EQ(back.Get("tiny"), 4u);
  EXPECT_EQ(back.Get("other model"), 18446744073709551615ull);
  EXPECT_EQ(back.Serialize(), s.Serialize());
  std::ofstream(path) << "{\"tiny\": -1}";
  ExpectError(VersionState::Load(path), Errc::kBadData, "version of 'tiny' is -1");
  std::ofstream(path) << "[1,2]";
  ExpectError(VersionState::Load(path), Errc::kBadData, "not a JSON object");
  unlink(path.c_str());
}

TEST(VerifyTest, DigestInputHashesEveryByte) {
  std::vector<uint8_t> model = Model();
  ASSERT_OK_AND_ASSIGN(FileDigest d, DigestInput(*MakeMemorySource(model, "m"), 0));
  uint8_t want[32];
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(model.data(), model.size(), want, &len, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(crypto::ToHex(d.sha256), crypto::ToHex(std::span<const uint8_t>(want, 32)));
  EXPECT_EQ(d.size, model.size());
  EXPECT_FALSE(d.stream.has_value());
  EXPECT_EQ(RenderDigestText("m", d), crypto::ToHex(d.sha256) + "  m\n");
  // A damaged stream still gets its full file digest, and the error.
  std::vector<uint8_t> s = ParsedStream();
  s[s.size() / 2] ^= 1;
  ASSERT_OK_AND_ASSIGN(FileDigest bad, DigestInput(*MakeMemorySource(s, "s"), 0));
  ASSERT_EQ(EVP_Digest(s.data(), s.size(), want, &len, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(crypto::ToHex(bad.sha256), crypto::ToHex(std::span<const uint8_t>(want, 32)));
  EXPECT_EQ(bad.size, s.size());
  ASSERT_TRUE(bad.stream_error.has_value());
  EXPECT_EQ(bad.stream_error->code, Errc::kBadData);
  auto json = nlohmann::json::parse(RenderDigestJson("s", bad));
  EXPECT_EQ(json["size"], s.size());
  EXPECT_TRUE(json.contains("stream_error"));
}

}  // namespace
}  // namespace mln::verify
