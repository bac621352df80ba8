// Ed25519 keys and signatures: RFC 8032 vectors, PEM files as openssl(1) writes them, and
// every kind of bad key file refused with a message that names it.
#include "libstream/crypto/sign.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <fstream>

#include "libstream/crypto/digest.h"
#include "tests/support/test_util.h"

namespace mln::crypto {
namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Pkey Generate(const char* type) {
  if (std::string(type) == "EC") return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, type), EVP_PKEY_free);
}

// PEM text as `openssl genpkey` / `openssl pkey -pubout` write it.
std::string Pem(EVP_PKEY* key, bool private_key, bool encrypted = false) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_key && encrypted) {
    PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_128_cbc(), "pw", 2, nullptr, nullptr);
  } else if (private_key) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::vector<uint8_t> Hex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  EXPECT_TRUE(FromHex(hex, out));
  return out;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(SignTest, MatchesRfc8032TestVectors) {
  // RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
  struct Vector {
    std::string secret, public_key, message, signature;
  } vectors[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
  };
  for (const Vector& v : vectors) {
    std::vector<uint8_t> secret = Hex(v.secret);
    Pkey raw(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, secret.data(), secret.size()),
             EVP_PKEY_free);
    ASSERT_TRUE(raw);
    ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::FromPem(Pem(raw.get(), true), "rfc.pem"));
    EXPECT_EQ(ToHex(key.public_key().raw()), v.public_key);
    std::vector<uint8_t> message = Hex(v.message);
    ASSERT_OK_AND_ASSIGN(Ed25519Signature sig, key.Sign(message));
    EXPECT_EQ(ToHex(sig), v.signature);
    ASSERT_OK_AND_ASSIGN(PublicKey pub, PublicKey::FromRaw(Hex(v.public_key)));
    EXPECT_TRUE(pub.Verify(message, Hex(v.signature)));
  }
}

TEST(SignTest, KeyIdIsSha256OfTheRawPublicKey) {
  Pkey k = Generate("ED25519");
  ASSERT_OK_AND_ASSIGN(PublicKey pub, PublicKey::FromPem(Pem(k.get(), false), "pub.pem"));
  uint8_t raw[32];
  size_t len = sizeof raw;
  ASSERT_EQ(EVP_PKEY_get_raw_public_key(k.get(), raw, &len), 1);
  uint8_t want[32];
  unsigned int wlen = 0;
  ASSERT_EQ(EVP_Digest(raw, sizeof raw, want, &wlen, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(pub.KeyId(), ToHex(std::span<const uint8_t>(want, wlen)));
  EXPECT_EQ(std::vector<uint8_t>(pub.raw().begin(), pub.raw().end()),
            std::vector<uint8_t>(raw, raw + 32));
}

TEST(SignTest, OnlyTheRightKeyAndMessageVerify) {
  Pkey a = Generate("ED25519"), b = Generate("ED25519");
  ASSERT_OK_AND_ASSIGN(PrivateKey key_a, PrivateKey::FromPem(Pem(a.get(), true), "a.pem"));
  ASSERT_OK_AND_ASSIGN(PublicKey pub_a, PublicKey::FromPem(Pem(a.get(), false), "a.pub"));
  ASSERT_OK_AND_ASSIGN(PublicKey pub_b, PublicKey::FromPem(Pem(b.get(), false), "b.pub"));
  EXPECT_EQ(pub_a.KeyId(), key_a.public_key().KeyId());
  EXPECT_NE(pub_a.KeyId(), pub_b.KeyId());
  std::string msg = "{\"name\":\"m\",\"version\":3}";
  ASSERT_OK_AND_ASSIGN(Ed25519Signature sig, key_a.Sign(Bytes(msg)));
  EXPECT_TRUE(pub_a.Verify(Bytes(msg), sig));
  EXPECT_FALSE(pub_b.Verify(Bytes(msg), sig));  // another key
  std::string altered = msg;
  altered[altered.size() - 2] = '4';
  EXPECT_FALSE(pub_a.Verify(Bytes(altered), sig));  // another message
  Ed25519Signature flipped = sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(pub_a.Verify(Bytes(msg), flipped));  // another signature
  EXPECT_FALSE(pub_a.Verify(Bytes(msg), std::span<const uint8_t>(sig).first(63)));  // truncated
}

TEST(SignTest, MalformedPemIsRefusedWithItsName) {
  Pkey ed = Generate("ED25519");
  std::string good = Pem(ed.get(), true);
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"", "malformed PEM key: expected an Ed25519 PRIVATE KEY block, found no PEM block"},
      {"hello, not a key\n", "found no PEM block"},
      {good.substr(0, good.size() / 2), "malformed PEM key"},  // truncated base64
      {Pem(ed.get(), false), "found 'PUBLIC KEY'"},            // public where private is due
      {Pem(Generate("EC").get(), true), "PEM PRIVATE KEY is EC, expected ED25519"},
      {Pem(ed.get(), true, /*encrypted=*/true), "encrypted private keys are not supported"},
      {std::string(kMaxPemBytes + 1, 'A'), "larger than"},
  };
  for (const Case& c : cases) {
    auto key = PrivateKey::FromPem(c.text, "bad.pem");
    ASSERT_FALSE(key.has_value()) << c.want;
    EXPECT_EQ(key.error().code, Errc::kUsage);
    EXPECT_EQ(key.error().file, "bad.pem");
    EXPECT_NE(key.error().message.find(c.want), std::string::npos) << key.error().ToString();
  }
  std::string damaged = good;
  damaged[damaged.find('\n') + 5] ^= 0x20;  // inside the base64: a different, broken DER
  EXPECT_FALSE(PrivateKey::FromPem(damaged, "x").has_value());
  auto pub = PublicKey::FromPem(good, "priv-as-pub.pem");
  ASSERT_FALSE(pub.has_value());
  EXPECT_NE(pub.error().message.find("expected an Ed25519 PUBLIC KEY block, found 'PRIVATE KEY'"),
            std::string::npos)
      << pub.error().ToString();
  auto rsa_pub = PublicKey::FromPem(Pem(Generate("EC").get(), false), "ec.pub");
  ASSERT_FALSE(rsa_pub.has_value());
  EXPECT_NE(rsa_pub.error().message.find("is EC, expected ED25519"), std::string::npos);
}

TEST(SignTest, LoadsPemFilesAndNamesMissingOnes) {
  Pkey ed = Generate("ED25519");
  std::string dir = ::testing::TempDir();
  std::string priv = dir + "/mln_sign_test_key.pem", pub = dir + "/mln_sign_test_pub.pem";
  std::ofstream(priv) << Pem(ed.get(), true);
  std::ofstream(pub) << Pem(ed.get(), false);
  ASSERT_OK_AND_ASSIGN(PrivateKey k, PrivateKey::LoadPem(priv));
  ASSERT_OK_AND_ASSIGN(PublicKey p, PublicKey::LoadPem(pub));
  EXPECT_EQ(k.public_key().KeyId(), p.KeyId());
  EXPECT_EQ(p.name(), pub);
  auto missing = PublicKey::LoadPem(dir + "/no-such-key.pem");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::kNoInput);
  EXPECT_EQ(missing.error().file, dir + "/no-such-key.pem");
  unlink(priv.c_str());
  unlink(pub.c_str());
}

TEST(SignTest, HexParsing) {
  std::array<uint8_t, 2> out{};
  EXPECT_TRUE(FromHex("aB0f", out));
  EXPECT_EQ(out[0], 0xab);
  EXPECT_EQ(out[1], 0x0f);
  EXPECT_FALSE(FromHex("ab0", out));
  EXPECT_FALSE(FromHex("ab0g", out));
}

// Sha256::Peek, which the one-pass signature check relies on: the digest so far, and the
// hash carries on unchanged afterwards.
TEST(SignTest, Sha256PeekDoesNotDisturbTheRunningHash) {
  std::vector<uint8_t> data = testing::RandomBytes(10000, 9);
  Sha256 running, prefix, whole;
  running.Update(data.data(), 4000);
  prefix.Update(data.data(), 4000);
  EXPECT_EQ(running.Peek(), prefix.Final());
  running.Update(data.data() + 4000, data.size() - 4000);
  whole.Update(data.data(), data.size());
  EXPECT_EQ(running.Final(), whole.Final());
}

}  // namespace
}  // namespace mln::crypto
