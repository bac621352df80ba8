#include "libstream/crypto/digest.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include "tests/support/test_util.h"

namespace mln::crypto {
namespace {

TEST(DigestTest, Sha256MatchesFipsVectors) {
  Sha256 abc;
  abc.Update("abc", 3);
  Sha256Digest d = abc.Final();
  EXPECT_EQ(ToHex(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 empty;
  Sha256Digest e = empty.Final();
  EXPECT_EQ(ToHex(e), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DigestTest, IncrementalEqualsOneShot) {
  std::vector<uint8_t> data = testing::RandomBytes(100000, 5);
  Xxh3Hasher h;
  Sha256 s1, s2;
  for (size_t i = 0; i < data.size(); i += 777) {
    size_t n = std::min<size_t>(777, data.size() - i);
    h.Update(data.data() + i, n);
    s1.Update(data.data() + i, n);
  }
  s2.Update(data.data(), data.size());
  EXPECT_EQ(h.Digest(), Xxh3(data));
  EXPECT_EQ(h.Digest(), XXH3_64bits(data.data(), data.size()));
  EXPECT_EQ(s1.Final(), s2.Final());
  EXPECT_EQ(ToHex64(0x1f), "000000000000001f");
}

}  // namespace
}  // namespace mln::crypto
