#include <gtest/gtest.h>

#include <cstring>

#include "libstream/base/byte_io.h"
#include "libstream/formats/convert.h"
#include "libstream/formats/gguf.h"
#include "tests/support/test_util.h"

namespace mln::formats {
namespace {

using testing::PipeLikeSource;

using testing::GgufBuilder;
using testing::RandomBytes;


std::vector<uint8_t> SampleGguf(uint32_t version = 3, uint32_t alignment = 32) {
  GgufBuilder b(version);
  b.KvString("general.architecture", "test").KvF32("test.scale", 0.5f).KvArrayI32("test.ids", {1, 2, 3});
  if (alignment != 32) b.Alignment(alignment);
  b.Tensor("a.f32", {4, 2}, 0, RandomBytes(32, 1))
      .Tensor("b.q8_0", {64, 3}, 8, RandomBytes(34 * 2 * 3, 2))
      .Tensor("c.q4_K", {256}, 12, RandomBytes(144, 3))
      .Tensor("d.tq2_0", {256, 2}, 35, RandomBytes(66 * 2, 4))
      .Tensor("e.empty", {0}, 1, {});
  return b.Build();
}

Result<std::vector<uint8_t>> RoundTrip(ByteSource& in) { return testing::RoundTripModel(in, 100); }

TEST(GgufParseTest, ReadsHeaderKvsAndTensors) {
  std::vector<uint8_t> file = SampleGguf();
  auto src = MakeMemorySource(file, "x.gguf");
  ASSERT_OK_AND_ASSIGN(GgufHeader h, ReadGgufHeader(*src, 1 << 20, nullptr));
  EXPECT_EQ(h.version, 3u);
  ASSERT_EQ(h.kvs.size(), 3u);
  EXPECT_EQ(h.kvs[0].json, "\"test\"");
  EXPECT_EQ(h.kvs[1].json, "0.5");
  EXPECT_EQ(h.kvs[2].array_count, 3u);
  EXPECT_EQ(h.kvs[2].json, "[1,2,3]");
  ASSERT_EQ(h.tensors.size(), 5u);
  EXPECT_EQ(h.tensors[1].bytes, 34u * 2 * 3);
  EXPECT_EQ(h.tensors[3].bytes, 66u * 2);
  EXPECT_EQ(h.data_offset % 32, 0u);
}

TEST(GgufParseTest, RoundTripIsByteIdenticalFromFilesAndPipes) {
  for (uint32_t version : {2u, 3u}) {
    for (uint32_t alignment : {32u, 64u, 1u}) {
      std::vector<uint8_t> file = SampleGguf(version, alignment);
      auto mem = MakeMemorySource(file, "x.gguf");
      ASSERT_OK_AND_ASSIGN(auto out, RoundTrip(*mem));
      EXPECT_EQ(out, file) << "v" << version << " align " << alignment;
      PipeLikeSource pipe(file);
      ASSERT_OK_AND_ASSIGN(auto out2, RoundTrip(pipe));
      EXPECT_EQ(out2, file) << "pipe v" << version << " align " << alignment;
    }
  }
}

TEST(GgufParseTest, TrailingBytesAfterTheLastTensorSurvive) {
  std::vector<uint8_t> file = SampleGguf();
  file.push_back(0xAB);
  file.push_back(0xCD);
  auto mem = MakeMemorySource(file, "x.gguf");
  ASSERT_OK_AND_ASSIGN(auto out, RoundTrip(*mem));
  EXPECT_EQ(out, file);
}

Error ParseError(const std::vector<uint8_t>& file, bool pipe = false) {
  std::vector<uint8_t> stream_bytes;
  auto sink = MakeMemorySink(&stream_bytes, "stream");
  Result<ConvertStats> r;
  if (pipe) {
    PipeLikeSource src(file);
    r = ParseToStream(src, *sink, "", {});
  } else {
    auto src = MakeMemorySource(file, "x.gguf");
    r = ParseToStream(*src, *sink, "", {});
  }
  EXPECT_FALSE(r.has_value());
  return r ? Error{} : r.error();
}

TEST(GgufParseTest, AbsurdTensorCountIsRefusedBeforeAllocating) {
  std::vector<uint8_t> file = GgufBuilder().ClaimTensors(1ull << 62).Build();
  for (bool pipe : {false, true}) {
    Error e = ParseError(file, pipe);
    EXPECT_EQ(e.code, Errc::kBadData);
    EXPECT_NE(e.message.find("tensor count"), std::string::npos) << e.message;
  }
}

TEST(GgufParseTest, AbsurdStringLengthIsRefusedBeforeAllocating) {
  std::vector<uint8_t> file = {'G', 'G', 'U', 'F'};
  testing::PutU32(file, 3);
  testing::PutU64(file, 0);
  testing::PutU64(file, 1);
  testing::PutU64(file, 1ull << 60);  // key length
  file.resize(file.size() + 64, 'k');
  for (bool pipe : {false, true}) {
    Error e = ParseError(file, pipe);
    EXPECT_EQ(e.code, Errc::kBadData);
    EXPECT_NE(e.message.find("length"), std::string::npos) << e.message;
  }
}

TEST(GgufParseTest, EveryTruncationFailsCleanly) {
  std::vector<uint8_t> file = SampleGguf();
  for (size_t len = 0; len < file.size(); ++len) {
    std::vector<uint8_t> cut(file.begin(), file.begin() + len);
    for (bool pipe : {false, true}) {
      Error e = ParseError(cut, pipe);
      EXPECT_EQ(e.code, Errc::kBadData) << "cut at " << len << ": " << e.ToString();
    }
  }
}

TEST(GgufParseTest, RefusesWhatIsNotAGgufV2OrV3) {
  EXPECT_NE(ParseError({}).message.find("empty input"), std::string::npos);
  std::vector<uint8_t> text(100, 'x');
  EXPECT_NE(ParseError(text).message.find("unrecognised"), std::string::npos);
  std::vector<uint8_t> v1 = SampleGguf();
  v1[4] = 1;
  Error e = ParseError(v1);
  EXPECT_EQ(e.code, Errc::kUnsupported);
  std::vector<uint8_t> be = SampleGguf();
  be[4] = 0;
  be[7] = 3;
  EXPECT_NE(ParseError(be).message.find("big-endian"), std::string::npos);
}

TEST(GgufParseTest, RefusesBadTensorInfos) {
  // Row of 33 elements cannot hold whole Q8_0 blocks.
  auto odd_row = GgufBuilder().Tensor("w", {33, 1}, 8, RandomBytes(34, 1)).Build();
  EXPECT_NE(ParseError(odd_row).message.find("multiple"), std::string::npos);
  auto unknown_type = GgufBuilder().Tensor("w", {4}, 43, RandomBytes(4, 1)).Build();
  EXPECT_EQ(ParseError(unknown_type).code, Errc::kUnsupported);
  auto five_dims = GgufBuilder().Tensor("w", {1, 1, 1, 1, 1}, 0, RandomBytes(4, 1)).Build();
  EXPECT_NE(ParseError(five_dims).message.find("dimensions"), std::string::npos);
  auto dup = GgufBuilder().Tensor("w", {1}, 0, RandomBytes(4, 1)).Tensor("w", {1}, 0, RandomBytes(4, 2)).Build();
  EXPECT_NE(ParseError(dup).message.find("duplicate"), std::string::npos);
  auto bad_align = GgufBuilder().KvU32("general.alignment", 48).Build();
  EXPECT_NE(ParseError(bad_align).message.find("power of two"), std::string::npos);
}

TEST(GgufParseTest, ErrorsNameTheTensor) {
  auto odd_row = GgufBuilder().Tensor("blk.0.attn_q.weight", {33, 1}, 8, RandomBytes(34, 1)).Build();
  Error e = ParseError(odd_row);
  EXPECT_EQ(e.tensor, "blk.0.attn_q.weight");
  EXPECT_EQ(e.file, "x.gguf");
  EXPECT_TRUE(e.offset.has_value());
}

}  // namespace
}  // namespace mln::formats
