#include "libstream/formats/protobuf_wire.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/test_util.h"

namespace mln::formats::pb {
namespace {

void PutVarint(std::vector<uint8_t>& b, uint64_t v) {
  while (v >= 0x80) {
    b.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  b.push_back(static_cast<uint8_t>(v));
}

TEST(ProtobufWireTest, VarintsRoundTripUpTo64Bits) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                     uint64_t{1} << 35, uint64_t{1} << 63, ~uint64_t{0}}) {
    std::vector<uint8_t> b;
    PutVarint(b, v);
    size_t pos = 0;
    ASSERT_OK_AND_ASSIGN(uint64_t got, ReadVarint(b, &pos));
    EXPECT_EQ(got, v);
    EXPECT_EQ(pos, b.size());
  }
}

TEST(ProtobufWireTest, RefusesElevenByteVarints) {
  std::vector<uint8_t> b(10, 0x80);
  b.push_back(0x01);
  size_t pos = 0;
  auto r = ReadVarint(b, &pos);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kBadData);
  EXPECT_NE(r.error().message.find("longer than 10 bytes"), std::string::npos) << r.error().message;
}

TEST(ProtobufWireTest, RefusesVarintsOverflowing64Bits) {
  std::vector<uint8_t> b(9, 0xff);
  b.push_back(0x02);  // bit 64
  size_t pos = 0;
  auto r = ReadVarint(b, &pos);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("overflows"), std::string::npos);
}

TEST(ProtobufWireTest, RefusesTruncatedVarints) {
  std::vector<uint8_t> b = {0x80, 0x80};
  size_t pos = 0;
  EXPECT_FALSE(ReadVarint(b, &pos).has_value());
}

TEST(ProtobufWireTest, ReadsEveryWireTypeWithOffsets) {
  std::vector<uint8_t> b = {0, 0, 0};  // three bytes of prefix: offsets are relative to it
  PutVarint(b, (1 << 3) | 0);
  PutVarint(b, 300);
  PutVarint(b, (2 << 3) | 2);
  PutVarint(b, 3);
  b.insert(b.end(), {'a', 'b', 'c'});
  PutVarint(b, (3 << 3) | 5);
  b.insert(b.end(), {0x78, 0x56, 0x34, 0x12});
  PutVarint(b, (4 << 3) | 1);
  b.insert(b.end(), {1, 0, 0, 0, 0, 0, 0, 0x80});
  std::span<const uint8_t> msg(b.data() + 3, b.size() - 3);
  WireReader r(msg, 3);
  ASSERT_OK_AND_ASSIGN(auto f1, r.Next());
  ASSERT_TRUE(f1);
  EXPECT_EQ(f1->number, 1u);
  EXPECT_EQ(f1->type, WireType::kVarint);
  EXPECT_EQ(f1->value, 300u);
  EXPECT_EQ(f1->tag_offset, 3u);
  ASSERT_OK_AND_ASSIGN(auto f2, r.Next());
  ASSERT_TRUE(f2);
  EXPECT_EQ(f2->type, WireType::kLen);
  EXPECT_EQ(AsText(*f2), "abc");
  EXPECT_EQ(f2->bytes.data(), b.data() + 8);
  EXPECT_EQ(f2->tag_offset, 6u);
  ASSERT_OK_AND_ASSIGN(auto f3, r.Next());
  ASSERT_TRUE(f3);
  EXPECT_EQ(f3->type, WireType::kFixed32);
  EXPECT_EQ(f3->value, 0x12345678u);
  ASSERT_OK_AND_ASSIGN(auto f4, r.Next());
  ASSERT_TRUE(f4);
  EXPECT_EQ(f4->type, WireType::kFixed64);
  EXPECT_EQ(f4->value, 0x8000000000000001ull);
  ASSERT_OK_AND_ASSIGN(auto end, r.Next());
  EXPECT_FALSE(end);
}

TEST(ProtobufWireTest, RefusesLengthsPastTheEnd) {
  std::vector<uint8_t> b;
  PutVarint(b, (7 << 3) | 2);
  PutVarint(b, 1000);
  b.insert(b.end(), 10, 0);
  WireReader r(b, 100);
  auto f = r.Next();
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, Errc::kBadData);
  EXPECT_EQ(f.error().offset, 100u);
  EXPECT_NE(f.error().message.find("length 1000 runs past"), std::string::npos)
      << f.error().message;
  // A length that would wrap a 64-bit size.
  std::vector<uint8_t> huge;
  PutVarint(huge, (9 << 3) | 2);
  PutVarint(huge, ~uint64_t{0});
  WireReader r2(huge, 0);
  EXPECT_FALSE(r2.Next().has_value());
}

TEST(ProtobufWireTest, RefusesTruncatedFixedValues) {
  for (uint64_t wire : {1, 5}) {
    std::vector<uint8_t> b;
    PutVarint(b, (2 << 3) | wire);
    b.insert(b.end(), 3, 0);
    WireReader r(b, 0);
    EXPECT_FALSE(r.Next().has_value()) << "wire type " << wire;
  }
}

TEST(ProtobufWireTest, RefusesGroupsInvalidWireTypesAndFieldZero) {
  for (uint64_t tag : {uint64_t{(1 << 3) | 3}, uint64_t{(1 << 3) | 4}, uint64_t{(1 << 3) | 6},
                       uint64_t{(1 << 3) | 7}, uint64_t{0}}) {
    std::vector<uint8_t> b;
    PutVarint(b, tag);
    b.insert(b.end(), 8, 0);
    WireReader r(b, 0);
    auto f = r.Next();
    ASSERT_FALSE(f.has_value()) << "tag " << tag;
    EXPECT_EQ(f.error().code, Errc::kBadData);
  }
}

TEST(ProtobufWireTest, EveryTruncationOfAMessageFailsOrEndsCleanly) {
  std::vector<uint8_t> b;
  PutVarint(b, (1 << 3) | 0);
  PutVarint(b, 1ull << 40);
  PutVarint(b, (2 << 3) | 2);
  PutVarint(b, 200);
  b.insert(b.end(), 200, 'x');
  for (size_t len = 0; len < b.size(); ++len) {
    WireReader r(std::span<const uint8_t>(b.data(), len), 0);
    int fields = 0;
    bool failed = false;
    for (;;) {
      auto f = r.Next();
      if (!f) {
        failed = true;
        break;
      }
      if (!*f) break;
      ++fields;
    }
    // Either it stops at a record boundary (0 or 1 whole records) or it reports an error.
    EXPECT_TRUE(failed || (len == 0 && fields == 0) || (fields == 1 && len == 7)) << len;
  }
}

}  // namespace
}  // namespace mln::formats::pb
