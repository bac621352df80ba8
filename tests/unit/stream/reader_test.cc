// Reader and Writer together: the layout round-trips, and every kind of damage is caught.
#include "libstream/stream/reader.h"

#include <gtest/gtest.h>

#include "libstream/base/byte_io.h"
#include "libstream/stream/writer.h"
#include "tests/support/test_util.h"

namespace mln::stream {
namespace {

using testing::MakeFrame;
using testing::RandomBytes;
using testing::ReadStream;
using testing::WriteStream;

std::vector<Frame> SampleFrames() {
  std::vector<Frame> frames;
  Frame src = MakeFrame(FrameKind::kSource, "model.gguf", {});
  src.header.format = "gguf";
  src.header.file_size = 1234;
  frames.push_back(std::move(src));
  frames.push_back(MakeFrame(FrameKind::kBytes, "gguf.header", RandomBytes(100, 1)));
  Frame t = MakeFrame(FrameKind::kTensor, "blk.0.weight", RandomBytes(333, 2));
  t.header.dtype = static_cast<uint32_t>(Dtype::kF16);
  t.header.shape = {3, 111};
  t.header.SetAttr("gguf.index", "0");
  frames.push_back(std::move(t));
  frames.push_back(MakeFrame(FrameKind::kTensor, "empty", {}));
  return frames;
}

TEST(ReaderTest, RoundTripsHeadersAndPayloads) {
  std::vector<uint8_t> bytes = WriteStream(SampleFrames());
  ASSERT_OK_AND_ASSIGN(auto frames, ReadStream(bytes));
  std::vector<Frame> want = SampleFrames();
  ASSERT_EQ(frames.size(), want.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].header.kind, want[i].header.kind);
    EXPECT_EQ(frames[i].header.name, want[i].header.name);
    EXPECT_EQ(frames[i].header.shape, want[i].header.shape);
    EXPECT_EQ(frames[i].header.checksum, want[i].header.checksum);
    EXPECT_EQ(std::vector<uint8_t>(frames[i].payload.span().begin(), frames[i].payload.span().end()),
              std::vector<uint8_t>(want[i].payload.span().begin(), want[i].payload.span().end()));
  }
  EXPECT_EQ(frames[0].header.format, "gguf");
  EXPECT_EQ(frames[0].header.file_size, 1234u);
  EXPECT_EQ(frames[2].header.Attr("gguf.index"), "0");
}

TEST(ReaderTest, PayloadsStartAt64ByteBoundaries) {
  std::vector<Frame> frames = SampleFrames();
  std::vector<uint8_t> first_payload(frames[1].payload.span().begin(),
                                     frames[1].payload.span().end());
  std::vector<uint8_t> bytes = WriteStream(std::move(frames));
  // The only place the 100 random bytes occur is the payload; find it.
  auto it = std::search(bytes.begin(), bytes.end(), first_payload.begin(), first_payload.end());
  ASSERT_NE(it, bytes.end());
  EXPECT_EQ((it - bytes.begin()) % 64, 0);
}

TEST(ReaderTest, TrailerCountsFramesAndHashesContent) {
  std::vector<uint8_t> bytes = WriteStream(SampleFrames());
  auto src = MakeMemorySource(bytes, "mem");
  Reader r(*src);
  int n = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(auto f, r.Next());
    if (!f) break;
    ++n;
  }
  ASSERT_TRUE(r.trailer().has_value());
  EXPECT_EQ(r.trailer()->frame_count, 4u);
  EXPECT_EQ(r.trailer()->digest.size(), 32u);
  EXPECT_EQ(n, 4);
}

TEST(ReaderTest, EveryFlippedBitIsDetected) {
  std::vector<uint8_t> good = WriteStream(SampleFrames());
  ASSERT_TRUE(ReadStream(good).has_value());
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = good;
      bad[byte] ^= static_cast<uint8_t>(1u << bit);
      auto r = ReadStream(bad);
      ASSERT_FALSE(r.has_value()) << "flip of bit " << bit << " at byte " << byte
                                  << " went unnoticed";
      EXPECT_TRUE(r.error().code == Errc::kBadData || r.error().code == Errc::kUnsupported)
          << r.error().ToString();
    }
  }
}

// mln-emit reads without the SHA-256 pass; headers, payloads, padding and the trailer
// count must still catch every flip but those in the stream's minor version (bytes 10-11),
// which no reader acts on.
TEST(ReaderTest, FlipsAreCaughtWithoutTheDigestToo) {
  std::vector<uint8_t> good = WriteStream(SampleFrames());
  auto read_fast = [](const std::vector<uint8_t>& bytes) -> Result<void> {
    auto src = MakeMemorySource(bytes, "mem");
    ReaderOptions options;
    options.verify_digest = false;
    Reader r(*src, options);
    for (;;) {
      MLN_TRY(auto f, r.Next());
      if (!f) return {};
      MLN_RETURN_IF_ERROR(VerifyFrame(*f));
    }
  };
  ASSERT_TRUE(read_fast(good).has_value());
  for (size_t byte = 0; byte < good.size(); ++byte) {
    if (byte == 10 || byte == 11) continue;
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = good;
      bad[byte] ^= static_cast<uint8_t>(1u << bit);
      EXPECT_FALSE(read_fast(bad).has_value())
          << "flip of bit " << bit << " at byte " << byte << " went unnoticed";
    }
  }
}

TEST(ReaderTest, EveryTruncationIsDetected) {
  std::vector<uint8_t> good = WriteStream(SampleFrames());
  for (size_t len = 0; len < good.size(); ++len) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + len);
    auto r = ReadStream(cut);
    ASSERT_FALSE(r.has_value()) << "stream cut at " << len << " read as complete";
    EXPECT_EQ(r.error().code, Errc::kBadData) << r.error().ToString();
  }
}

TEST(ReaderTest, ErrorsNameTheFrame) {
  std::vector<uint8_t> bytes = WriteStream(SampleFrames());
  // Corrupt the tensor payload (the 333 random bytes of frame 2).
  std::vector<uint8_t> payload = RandomBytes(333, 2);
  auto it = std::search(bytes.begin(), bytes.end(), payload.begin(), payload.end());
  ASSERT_NE(it, bytes.end());
  it[10] ^= 0x40;
  auto r = ReadStream(bytes);
  ASSERT_FALSE(r.has_value());
  // ReadStream verifies payloads after reading; the digest check in the reader fires at
  // the trailer, the checksum check on the frame itself: either way it is bad data.
  EXPECT_EQ(r.error().code, Errc::kBadData);
}

TEST(ReaderTest, RefusesGarbageAfterTrailer) {
  std::vector<uint8_t> bytes = WriteStream(SampleFrames());
  bytes.push_back(0);
  auto r = ReadStream(bytes);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("after the trailer"), std::string::npos);
}

TEST(ReaderTest, RefusesEmptyAndForeignInput) {
  auto empty = ReadStream({});
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().message.find("empty input"), std::string::npos);
  std::vector<uint8_t> gguf = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  auto foreign = ReadStream(gguf);
  ASSERT_FALSE(foreign.has_value());
  EXPECT_NE(foreign.error().message.find("not an mln stream"), std::string::npos);
}

TEST(ReaderTest, HugeClaimedPayloadFailsWithoutAllocating) {
  std::vector<uint8_t> bytes = WriteStream(SampleFrames());
  // Frame 1's prefix starts after the 16-byte stream header and frame 0 (no payload).
  // Rewrite its payload length field to 2^60 while leaving everything else as is.
  auto src = MakeMemorySource(bytes, "mem");
  size_t prefix_at = 16;
  uint32_t header_len;
  std::memcpy(&header_len, bytes.data() + prefix_at + 4, 4);
  prefix_at += 24 + header_len;  // frame 0 has no payload
  uint64_t huge = 1ull << 60;
  std::memcpy(bytes.data() + prefix_at + 8, &huge, 8);
  auto r = ReadStream(bytes);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kBadData);
  EXPECT_EQ(r.error().frame, 1u);
}

TEST(ReaderTest, UnknownKindsAreReadBack) {
  std::vector<Frame> frames = SampleFrames();
  Frame future = MakeFrame(FrameKind::kTensor, "future", RandomBytes(10, 3));
  future.header.kind = 999;
  frames.push_back(std::move(future));
  ASSERT_OK_AND_ASSIGN(auto back, ReadStream(WriteStream(std::move(frames))));
  ASSERT_EQ(back.size(), 5u);
  EXPECT_EQ(back[4].header.kind, 999);
  EXPECT_EQ(KindName(999), "kind999");
}

TEST(WriterTest, RefusesTrailerFramesFromCallers) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  Writer w(*sink);
  auto r = w.Put(MakeFrame(FrameKind::kTrailer, "", {}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kInternal);
}

// Frames of many sizes, some above the background writer's queue budget.
std::vector<Frame> MixedFrames() {
  std::vector<Frame> frames = SampleFrames();
  const size_t sizes[] = {1, 64, 65 << 10, 3 << 20, 9 << 20, 0, 3 << 20, 777, 5 << 20};
  uint64_t seed = 10;
  for (size_t n : sizes) {
    frames.push_back(MakeFrame(FrameKind::kTensor, "t" + std::to_string(seed), RandomBytes(n, seed)));
    ++seed;
  }
  return frames;
}

std::vector<uint8_t> WriteWith(const WriterOptions& options, std::vector<Frame> frames) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  Writer w(*sink, options);
  for (Frame& f : frames) EXPECT_TRUE(w.Put(std::move(f)).has_value());
  EXPECT_TRUE(w.Finish().has_value());
  return out;
}

TEST(WriterTest, BackgroundWritesTheSameBytes) {
  std::vector<uint8_t> inline_bytes = WriteWith({}, MixedFrames());
  std::vector<uint8_t> background = WriteWith({.background = true}, MixedFrames());
  EXPECT_EQ(background, inline_bytes);
  ASSERT_OK_AND_ASSIGN(auto back, ReadStream(background));
  EXPECT_EQ(back.size(), MixedFrames().size());
}

TEST(WriterTest, BackgroundWriteFailureReachesTheCaller) {
  testing::FullSink sink("full.mln", 4 << 20);
  Writer w(sink, WriterOptions{.background = true});
  std::optional<Error> failed;
  for (Frame& f : MixedFrames()) {
    if (auto ok = w.Put(std::move(f)); !ok) {
      failed = ok.error();
      break;
    }
  }
  if (!failed) {
    auto ok = w.Finish();
    ASSERT_FALSE(ok.has_value());
    failed = ok.error();
  }
  EXPECT_EQ(failed->code, Errc::kIo);
  EXPECT_NE(failed->message.find("No space left"), std::string::npos) << failed->message;
  EXPECT_TRUE(failed->frame.has_value()) << "the error names the frame it failed on";
}

TEST(WriterTest, BackgroundWriterDroppedBeforeFinishStopsCleanly) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  {
    Writer w(*sink, WriterOptions{.background = true});
    for (Frame& f : MixedFrames()) ASSERT_TRUE(w.Put(std::move(f)).has_value());
  }  // no Finish: an abandoned output, as after a failed stage; must not hang or crash
  auto read = ReadStream(out);
  EXPECT_FALSE(read.has_value()) << "a stream without its trailer must not read back";
}

}  // namespace
}  // namespace mln::stream
