#include "libstream/stream/chunker.h"

#include <gtest/gtest.h>

#include "libstream/base/byte_io.h"
#include "tests/support/test_util.h"

namespace mln::stream {
namespace {

std::vector<Frame> Drain(FrameSource& s) {
  std::vector<Frame> out;
  for (;;) {
    auto f = s.Next();
    EXPECT_TRUE(f.has_value()) << f.error().ToString();
    if (!f || !*f) break;
    out.push_back(std::move(**f));
  }
  return out;
}

Segment TensorSegment(uint64_t offset, uint64_t size, Dtype dtype) {
  Segment s;
  s.tmpl.kind = static_cast<uint16_t>(FrameKind::kTensor);
  s.tmpl.name = "t";
  s.tmpl.dtype = static_cast<uint32_t>(dtype);
  s.file_offset = offset;
  s.size = size;
  return s;
}

TEST(ChunkerTest, ChunksHoldWholeBlocksAndTileTheFile) {
  // Q8_0 blocks are 34 bytes: 1000-byte chunks must shrink to 986 (29 blocks).
  EXPECT_EQ(ChunkBytesFor(static_cast<uint32_t>(Dtype::kQ8_0), 1000), 986u);
  EXPECT_EQ(ChunkBytesFor(static_cast<uint32_t>(Dtype::kQ4_K), 100), 144u);  // at least one block
  std::vector<uint8_t> data = testing::RandomBytes(34 * 100, 7);
  auto src = MakeMemorySource(data, "mem");
  SegmentSource chunks(*src, FrameHeader{}, {TensorSegment(0, data.size(), Dtype::kQ8_0)}, 1000);
  std::vector<Frame> frames = Drain(chunks);
  ASSERT_EQ(frames.size(), 1u + 4u);  // source + ceil(3400 / 986)
  ChunkSequenceChecker check;
  std::vector<uint8_t> joined;
  for (size_t i = 1; i < frames.size(); ++i) {
    SealFrame(frames[i]);
    EXPECT_EQ(frames[i].header.chunk_count, 4u);
    EXPECT_EQ(frames[i].payload.size() % 34, 0u);
    ASSERT_OK(check.Check(frames[i].header));
    joined.insert(joined.end(), frames[i].payload.span().begin(), frames[i].payload.span().end());
  }
  ASSERT_OK(check.Finish());
  EXPECT_EQ(joined, data);
}

TEST(ChunkerTest, OpenEndedSegmentReadsToTheEnd) {
  std::vector<uint8_t> data = testing::RandomBytes(2500, 8);
  auto src = MakeMemorySource(data, "mem");
  Segment tail = TensorSegment(0, kUntilEnd, Dtype::kUnknown);
  tail.tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
  SegmentSource chunks(*src, FrameHeader{}, {tail}, 1000);
  std::vector<Frame> frames = Drain(chunks);
  ASSERT_EQ(frames.size(), 4u);
  ChunkSequenceChecker check;
  for (size_t i = 1; i < frames.size(); ++i) {
    SealFrame(frames[i]);
    EXPECT_EQ(frames[i].header.chunk_count, 0u);
    ASSERT_OK(check.Check(frames[i].header));
  }
  ASSERT_OK(check.Finish());
  EXPECT_EQ(check.file_position(), 2500u);
}

TEST(ChunkerTest, CheckerRefusesMissingAndMisplacedChunks) {
  std::vector<uint8_t> data = testing::RandomBytes(3000, 9);
  auto src = MakeMemorySource(data, "mem");
  SegmentSource chunks(*src, FrameHeader{}, {TensorSegment(0, 3000, Dtype::kU8)}, 1000);
  std::vector<Frame> frames = Drain(chunks);
  for (auto& f : frames) SealFrame(f);
  {
    ChunkSequenceChecker check;  // chunk 1 dropped
    ASSERT_OK(check.Check(frames[1].header));
    EXPECT_FALSE(check.Check(frames[3].header).has_value());
  }
  {
    ChunkSequenceChecker check;  // last chunk missing at the end
    ASSERT_OK(check.Check(frames[1].header));
    ASSERT_OK(check.Check(frames[2].header));
    EXPECT_FALSE(check.Finish().has_value());
  }
  {
    ChunkSequenceChecker check;  // offset moved
    FrameHeader h = frames[1].header;
    h.file_offset = 5;
    EXPECT_FALSE(check.Check(h).has_value());
  }
}

}  // namespace
}  // namespace mln::stream
