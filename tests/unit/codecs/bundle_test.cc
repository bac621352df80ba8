#include "libstream/codecs/bundle.h"

#include <gtest/gtest.h>

#include <cstring>

#include "libstream/base/byte_io.h"
#include "libstream/base/endian.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"
#include "tests/support/test_util.h"

namespace mln::codecs {
namespace {

using stream::Frame;
using stream::FrameKind;

// Compressible small payloads (a repeated pattern), as graph bytes and small tensors are.
std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i % 61) * seed);
  return v;
}

std::vector<Frame> SampleFrames() {
  std::vector<Frame> frames;
  frames.push_back(testing::MakeFrame(FrameKind::kSource, "model", {}));
  for (int i = 0; i < 40; ++i) {
    frames.push_back(testing::MakeFrame(FrameKind::kTensor, "t" + std::to_string(i),
                                        Pattern(100 + 37 * i, static_cast<uint8_t>(i + 1))));
  }
  // Too big for a bundle: it splits the run in two.
  frames.push_back(testing::MakeFrame(FrameKind::kTensor, "big",
                                      testing::RandomBytes(BundleSink::kSmallPayload + 1, 5)));
  for (int i = 0; i < 5; ++i) {
    frames.push_back(testing::MakeFrame(FrameKind::kBytes, "b" + std::to_string(i),
                                        Pattern(500, static_cast<uint8_t>(3 + i))));
  }
  return frames;
}

std::vector<uint8_t> WriteBundled(std::vector<Frame> frames, uint64_t* stored_frames) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "out");
  stream::Writer writer(*sink);
  BundleSink bundles(writer, 0);
  for (auto& f : frames) EXPECT_TRUE(bundles.Put(std::move(f)));
  EXPECT_TRUE(bundles.Finish());
  *stored_frames = writer.frames_written();
  return out;
}

Frame Copy(const Frame& f) {
  Frame c;
  c.header = f.header;
  c.payload.Resize(f.payload.size());
  if (!f.payload.empty()) std::memcpy(c.payload.data(), f.payload.data(), f.payload.size());
  return c;
}

TEST(BundleTest, ReaderHandsBackEveryFrameAsItWas) {
  std::vector<Frame> frames = SampleFrames();
  std::vector<Frame> copies;
  for (const auto& f : frames) copies.push_back(Copy(f));
  uint64_t stored = 0;
  std::vector<uint8_t> bundled = WriteBundled(std::move(copies), &stored);
  // 47 frames became 3 on the wire: two bundles around the big tensor, and the tensor.
  EXPECT_EQ(stored, 3u);
  std::vector<Frame> plain_copies;
  for (const auto& f : frames) plain_copies.push_back(Copy(f));
  std::vector<uint8_t> plain = testing::WriteStream(std::move(plain_copies));
  // Each of the 46 small frames costs a prefix, a header and padding on its own.
  EXPECT_GT(plain.size(), bundled.size() + 46 * 300) << "bundles should save that overhead";

  ASSERT_OK_AND_ASSIGN(std::vector<Frame> back, testing::ReadStream(bundled));
  ASSERT_EQ(back.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(back[i].header.name, frames[i].header.name) << i;
    EXPECT_EQ(back[i].header.kind, frames[i].header.kind) << i;
    EXPECT_EQ(back[i].header.checksum, frames[i].header.checksum) << i;
    ASSERT_EQ(back[i].payload.size(), frames[i].payload.size()) << i;
    if (frames[i].payload.empty()) continue;  // the source frame: memcmp of null is UB
    EXPECT_EQ(0, std::memcmp(back[i].payload.data(), frames[i].payload.data(),
                             frames[i].payload.size()))
        << i;
  }
}

// Filters that keep bundles as stored (mln-verify --sign) look inside with ExpandBundle.
TEST(BundleTest, ExpandBundleGivesTheFramesWithoutExpandingTheStream) {
  std::vector<Frame> frames;
  for (int i = 0; i < 5; ++i) {
    frames.push_back(testing::MakeFrame(FrameKind::kTensor, "t" + std::to_string(i), Pattern(700, 3)));
  }
  uint64_t stored = 0;
  std::vector<uint8_t> out = WriteBundled(std::move(frames), &stored);
  ASSERT_EQ(stored, 1u);
  auto src = MakeMemorySource(out, "mem");
  stream::ReaderOptions options;
  options.expand_bundles = false;
  stream::Reader reader(*src, options);
  ASSERT_OK_AND_ASSIGN(auto first, reader.Next());
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->header.Is(FrameKind::kBundle));
  ASSERT_OK_AND_ASSIGN(auto end, reader.Next());
  EXPECT_FALSE(end);
  ASSERT_OK_AND_ASSIGN(std::vector<Frame> inner, stream::ExpandBundle(*first));
  ASSERT_EQ(inner.size(), 5u);
  EXPECT_EQ(inner[4].header.name, "t4");
  first->payload.data()[first->payload.size() / 2] ^= 1;
  EXPECT_FALSE(stream::ExpandBundle(*first));
}

TEST(BundleTest, IncompressibleRunsStayPlainFrames) {
  std::vector<Frame> frames;
  for (int i = 0; i < 4; ++i) {
    frames.push_back(testing::MakeFrame(FrameKind::kTensor, "r" + std::to_string(i),
                                        testing::RandomBytes(30000, 10 + i)));
  }
  uint64_t stored = 0;
  std::vector<uint8_t> out = WriteBundled(std::move(frames), &stored);
  EXPECT_EQ(stored, 4u);
  ASSERT_OK_AND_ASSIGN(std::vector<Frame> back, testing::ReadStream(out));
  EXPECT_EQ(back.size(), 4u);
}

// Frames whose payloads a codec already coded (small quantized tensors), `n` nibbles each.
std::vector<Frame> CodedFrames(size_t n, bool repeat) {
  std::vector<Frame> frames;
  for (int i = 0; i < 8; ++i) {
    std::vector<uint8_t> nibbles = testing::RandomBytes(n, repeat ? 30 : 30 + i);
    for (uint8_t& b : nibbles) b &= 0x0F;  // zstd's Huffman stage halves these
    Frame f = testing::MakeFrame(FrameKind::kTensor, "q" + std::to_string(i), nibbles);
    EXPECT_TRUE(EncodeFrame(f, {.level = 1, .force = stream::Codec::kZstd}));
    EXPECT_EQ(f.header.codec, static_cast<uint8_t>(stream::Codec::kZstd));
    EXPECT_LT(f.payload.size(), BundleSink::kSmallPayload);
    frames.push_back(std::move(f));
  }
  return frames;
}

// The one frame of a bundled run, as stored (bundles not expanded).
Frame StoredBundle(const std::vector<uint8_t>& stream_bytes) {
  auto src = MakeMemorySource(stream_bytes, "out");
  stream::ReaderOptions options;
  options.expand_bundles = false;
  stream::Reader reader(*src, options);
  auto first = reader.Next();
  EXPECT_TRUE(first && *first && (*first)->header.Is(FrameKind::kBundle));
  return first && *first ? std::move(**first) : Frame{};
}

TEST(BundleTest, CodedPayloadsTravelAsTheyAreBesideTheCompressedHeaders) {
  // Coded payloads over 4 KiB are stored as they are, after the headers' zstd part: the
  // bundle's tail is exactly those payloads, and its zstd part costs less than half of
  // what their headers cost as plain frames.
  std::vector<Frame> frames = CodedFrames(60000, /*repeat=*/false);
  std::vector<uint8_t> coded_bytes;
  for (const Frame& f : frames) {
    coded_bytes.insert(coded_bytes.end(), f.payload.data(), f.payload.data() + f.payload.size());
  }
  const uint64_t heads = testing::WriteStream(CodedFrames(60000, false)).size() - coded_bytes.size();
  uint64_t stored = 0;
  std::vector<uint8_t> out = WriteBundled(std::move(frames), &stored);
  EXPECT_EQ(stored, 1u);
  Frame bundle = StoredBundle(out);
  ASSERT_EQ(bundle.header.codec, static_cast<uint8_t>(stream::Codec::kBundle));
  const uint8_t* p = bundle.payload.data();
  EXPECT_EQ(p[1], 1) << "the packed part is zstd";
  const uint64_t packed_stored = LoadLE<uint64_t>(p + 16);
  EXPECT_LT(packed_stored, heads / 2);
  ASSERT_EQ(bundle.payload.size(), 24 + packed_stored + coded_bytes.size());
  EXPECT_EQ(std::memcmp(p + 24 + packed_stored, coded_bytes.data(), coded_bytes.size()), 0);
  ASSERT_OK_AND_ASSIGN(std::vector<Frame> back, testing::ReadStream(out));
  ASSERT_EQ(back.size(), 8u);
  EXPECT_EQ(back[7].header.name, "q7");
}

TEST(BundleTest, SmallCodedPayloadsShrinkWithTheHeaders) {
  // Up to 4 KiB they stay in the zstd part, where repeats of one another still shrink.
  std::vector<Frame> frames = CodedFrames(6000, /*repeat=*/true);
  uint64_t coded = 0;
  for (const Frame& f : frames) coded += f.payload.size();
  ASSERT_LE(frames[0].payload.size(), 4096u);
  uint64_t stored = 0;
  std::vector<uint8_t> out = WriteBundled(std::move(frames), &stored);
  EXPECT_EQ(stored, 1u);
  Frame bundle = StoredBundle(out);
  EXPECT_LT(bundle.payload.size(), coded / 4) << "eight repeats code as one";
  // Codec 5 keeps nothing in its tail here; a body this small may be one zstd frame too.
  if (bundle.header.codec == static_cast<uint8_t>(stream::Codec::kBundle)) {
    EXPECT_EQ(bundle.payload.size(), 24 + LoadLE<uint64_t>(bundle.payload.data() + 16));
  } else {
    EXPECT_EQ(bundle.header.codec, static_cast<uint8_t>(stream::Codec::kZstd));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<Frame> back, testing::ReadStream(out));
  ASSERT_EQ(back.size(), 8u);
}

TEST(BundleTest, SignaturesStayOutside) {
  std::vector<Frame> frames;
  for (int i = 0; i < 3; ++i) {
    frames.push_back(testing::MakeFrame(FrameKind::kTensor, "t" + std::to_string(i), Pattern(900, 7)));
  }
  frames.push_back(testing::MakeFrame(FrameKind::kSignature, "sig", Pattern(64, 9)));
  uint64_t stored = 0;
  std::vector<uint8_t> out = WriteBundled(std::move(frames), &stored);
  EXPECT_EQ(stored, 2u);  // one bundle, then the signature as its own frame
  ASSERT_OK_AND_ASSIGN(std::vector<Frame> back, testing::ReadStream(out));
  ASSERT_EQ(back.size(), 4u);
  EXPECT_TRUE(back[3].header.Is(FrameKind::kSignature));
}

// A stream of one bundle frame whose body is `body` (stored raw), sealed so that only the
// body's own content can be wrong.
std::vector<uint8_t> StreamWithBody(const std::vector<uint8_t>& body) {
  Frame bundle = testing::MakeFrame(FrameKind::kBundle, "bundle", body);
  return testing::WriteStream([&] {
    std::vector<Frame> v;
    v.push_back(std::move(bundle));
    return v;
  }());
}

std::vector<uint8_t> BareBody(std::vector<Frame> frames) {
  std::vector<uint8_t> body;
  auto sink = MakeMemorySink(&body, "body");
  stream::Writer bare(*sink, /*bare=*/true);
  for (auto& f : frames) EXPECT_TRUE(bare.Put(std::move(f)));
  EXPECT_TRUE(bare.Finish());
  return body;
}

// A body of frames of every placement: raw payloads, coded ones above and below 4 KiB, and
// none; with the coded flags BundleSink would give.
std::vector<uint8_t> MixedBody(std::vector<bool>* coded) {
  std::vector<Frame> frames;
  frames.push_back(testing::MakeFrame(FrameKind::kSource, "model", {}));
  frames.push_back(testing::MakeFrame(FrameKind::kTensor, "raw", Pattern(3000, 3)));
  for (Frame& f : CodedFrames(60000, false)) frames.push_back(std::move(f));
  frames.push_back(testing::MakeFrame(FrameKind::kBytes, "tail", Pattern(77, 5)));
  coded->clear();
  for (const Frame& f : frames) {
    coded->push_back(f.header.codec != static_cast<uint8_t>(stream::Codec::kRaw));
  }
  return BareBody(std::move(frames));
}

TEST(BundleTest, BundleCodecGivesTheBodyBack) {
  std::vector<bool> coded;
  std::vector<uint8_t> body = MixedBody(&coded);
  ASSERT_OK_AND_ASSIGN(AlignedBuffer enc, EncodeBundleBody(body, coded, 9));
  EXPECT_LT(enc.size(), body.size());
  AlignedBuffer back;
  ASSERT_TRUE(DecodeBundleBody(enc.span(), body.size(), back));
  ASSERT_EQ(back.size(), body.size());
  EXPECT_EQ(std::memcmp(back.data(), body.data(), body.size()), 0);
  // Another size than the body's is refused, larger or smaller.
  EXPECT_FALSE(DecodeBundleBody(enc.span(), body.size() + 1, back));
  EXPECT_FALSE(DecodeBundleBody(enc.span(), body.size() - 1, back));
}

TEST(BundleTest, DamagedBundleCodecPayloadsFailCleanly) {
  std::vector<bool> coded;
  std::vector<uint8_t> body = MixedBody(&coded);
  ASSERT_OK_AND_ASSIGN(AlignedBuffer enc, EncodeBundleBody(body, coded, 9));
  std::vector<uint8_t> good(enc.data(), enc.data() + enc.size());
  AlignedBuffer back;
  // Every truncation fails: the parts no longer add up to the body.
  for (size_t cut = 0; cut < good.size(); cut += cut < 512 ? 1 : 997) {
    std::span<const uint8_t> part(good.data(), cut);
    EXPECT_FALSE(DecodeBundleBody(part, body.size(), back)) << cut;
  }
  // A flipped bit in the head or the compressed part fails, or gives another body, which
  // the bundle's checksum then catches; never a crash or a read out of bounds (ASan).
  for (size_t at = 0; at < std::min<size_t>(good.size(), 4096); ++at) {
    std::vector<uint8_t> bad = good;
    bad[at] ^= static_cast<uint8_t>(1u << (at % 8));
    auto r = DecodeBundleBody(bad, body.size(), back);
    if (at < 24) {
      EXPECT_FALSE(r) << "head byte " << at;
    }
  }
  // A byte more in the tail gives the same body, and is refused all the same.
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_FALSE(DecodeBundleBody(longer, body.size(), back));
  // A head claiming sizes beyond the body is refused before anything is allocated.
  std::vector<uint8_t> huge = good;
  for (int i = 8; i < 16; ++i) huge[i] = 0xFF;
  EXPECT_FALSE(DecodeBundleBody(huge, body.size(), back));
}

TEST(BundleTest, AnIncompressiblePackedPartIsStoredRaw) {
  // One frame: its header is too little for zstd to win back its own frame's cost on the
  // random payload beside it.
  std::vector<Frame> frames;
  frames.push_back(testing::MakeFrame(FrameKind::kTensor, "r", testing::RandomBytes(30000, 40)));
  std::vector<uint8_t> body = BareBody(std::move(frames));
  ASSERT_OK_AND_ASSIGN(AlignedBuffer enc, EncodeBundleBody(body, std::vector<bool>(1, false), 9));
  EXPECT_EQ(enc.data()[1], 0) << "random payloads: the packed part stays raw";
  AlignedBuffer back;
  ASSERT_TRUE(DecodeBundleBody(enc.span(), body.size(), back));
  EXPECT_EQ(std::memcmp(back.data(), body.data(), body.size()), 0);
  // Raw, its stored size must be its decoded size.
  std::vector<uint8_t> bad(enc.data(), enc.data() + enc.size());
  bad[16] ^= 1;
  EXPECT_FALSE(DecodeBundleBody(bad, body.size(), back));
}

TEST(BundleTest, ZstdBundleBodiesOfEarlierWritersAreReadToo) {
  // Before codec 5, a bundle's body was one zstd frame (codec 1).
  std::vector<bool> coded;
  Frame bundle = testing::MakeFrame(FrameKind::kBundle, "bundle", MixedBody(&coded));
  ASSERT_TRUE(EncodeFrame(bundle, {.level = 6, .force = stream::Codec::kZstd}));
  ASSERT_EQ(bundle.header.codec, static_cast<uint8_t>(stream::Codec::kZstd));
  std::vector<Frame> v;
  v.push_back(std::move(bundle));
  ASSERT_OK_AND_ASSIGN(std::vector<Frame> back, testing::ReadStream(testing::WriteStream(std::move(v))));
  ASSERT_EQ(back.size(), coded.size());
  EXPECT_EQ(back.back().header.name, "tail");
}

TEST(BundleTest, RawBundleBodiesAreReadToo) {
  std::vector<Frame> inner;
  inner.push_back(testing::MakeFrame(FrameKind::kTensor, "a", Pattern(100, 1)));
  inner.push_back(testing::MakeFrame(FrameKind::kTensor, "b", Pattern(200, 2)));
  ASSERT_OK_AND_ASSIGN(std::vector<Frame> back, testing::ReadStream(StreamWithBody(BareBody(std::move(inner)))));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].header.name, "b");
}

TEST(BundleTest, RefusesWhatBundlesMayNotHold) {
  for (FrameKind kind : {FrameKind::kSignature, FrameKind::kBundle}) {
    std::vector<Frame> inner;
    inner.push_back(testing::MakeFrame(FrameKind::kTensor, "a", Pattern(100, 1)));
    inner.push_back(testing::MakeFrame(kind, "x", Pattern(100, 2)));
    auto r = testing::ReadStream(StreamWithBody(BareBody(std::move(inner))));
    ASSERT_FALSE(r) << static_cast<int>(kind);
    EXPECT_NE(r.error().ToString().find("bundles may not"), std::string::npos) << r.error().ToString();
    EXPECT_NE(r.error().ToString().find("bundle item 1"), std::string::npos) << r.error().ToString();
  }
  auto empty = testing::ReadStream(StreamWithBody({}));
  ASSERT_FALSE(empty);
}

// Payload checksums of the frames inside are checked where every payload's is (VerifyFrame,
// in the pipeline's parallel stage), so damage there is caught like anywhere else.
TEST(BundleTest, DamageInsideABundleIsCaught) {
  std::vector<Frame> inner;
  inner.push_back(testing::MakeFrame(FrameKind::kTensor, "a", Pattern(100, 1)));
  inner.push_back(testing::MakeFrame(FrameKind::kTensor, "b", Pattern(300, 2)));
  std::vector<uint8_t> body = BareBody(std::move(inner));
  body[body.size() - 5] ^= 0x10;  // inside b's payload; the bundle is resealed over it
  std::vector<Frame> outer;
  outer.push_back(testing::MakeFrame(FrameKind::kTensor, "first", Pattern(64, 3)));
  outer.push_back(testing::MakeFrame(FrameKind::kBundle, "bundle", body));
  auto r = testing::ReadStream(testing::WriteStream(std::move(outer)));
  ASSERT_FALSE(r);
  const std::string msg = r.error().ToString();
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
}

TEST(BundleTest, TruncatedBodyIsAnError) {
  std::vector<Frame> inner;
  inner.push_back(testing::MakeFrame(FrameKind::kTensor, "a", Pattern(100, 1)));
  inner.push_back(testing::MakeFrame(FrameKind::kTensor, "b", Pattern(300, 2)));
  std::vector<uint8_t> body = BareBody(std::move(inner));
  ASSERT_GT(body.size(), 300u);
  // erase, not resize: GCC 12 with the sanitizers warned that resize's growing path might
  // memset a size-underflowed length.
  body.erase(body.end() - 7, body.end());
  auto r = testing::ReadStream(StreamWithBody(body));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find("bundle item 1"), std::string::npos) << r.error().ToString();
}

}  // namespace
}  // namespace mln::codecs
