// Ed25519 keys and signatures through OpenSSL 3 EVP_PKEY, for signed stream manifests
// (mln-verify --sign / --pubkey). Keys come from PEM files as `openssl genpkey -algorithm
// ed25519` and `openssl pkey -pubout` write them; no OpenSSL type leaks into this header.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include <string_view>

#include "libstream/base/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace mln::crypto {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
/// Key files are small; anything bigger is not a key and is refused before parsing.
inline constexpr size_t kMaxPemBytes = 64 * 1024;

using Ed25519Signature = std::array<uint8_t, kEd25519SignatureSize>;

/// A trusted (or candidate) Ed25519 public key. Copyable; shares the EVP_PKEY.
class PublicKey {
 public:
  /// Parses a PEM "PUBLIC KEY" (SubjectPublicKeyInfo). `name` is used in messages. A
  /// malformed PEM, a private key or a key of another algorithm fails with Errc::kUsage
  /// (exit 64), naming `name` and what was found.
  static Result<PublicKey> FromPem(std::string_view pem, const std::string& name);
  /// Reads and parses a PEM file: Errc::kNoInput when it cannot be read, else as FromPem.
  static Result<PublicKey> LoadPem(const std::string& path);
  /// Loads each of `paths` (--pubkey, repeatable); the first failure names its file.
  static Result<std::vector<PublicKey>> LoadPems(const std::vector<std::string>& paths);
  /// A key from its 32 raw bytes (RFC 8032 encoding).
  static Result<PublicKey> FromRaw(std::span<const uint8_t> raw);

  /// The 32 raw bytes.
  const std::array<uint8_t, kEd25519PublicKeySize>& raw() const { return raw_; }
  /// Lowercase hex SHA-256 of the raw key: the key id stored beside each signature.
  std::string KeyId() const;
  /// True when `signature` is a valid Ed25519 signature of `message` by this key. A
  /// signature of the wrong length is simply invalid.
  bool Verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;
  /// Where the key came from (file name), for messages.
  const std::string& name() const { return name_; }

 private:
  friend class PrivateKey;
  std::shared_ptr<evp_pkey_st> key_;
  std::array<uint8_t, kEd25519PublicKeySize> raw_{};
  std::string name_;
};

/// An Ed25519 private key. Copyable; shares the EVP_PKEY.
class PrivateKey {
 public:
  /// Parses a PEM "PRIVATE KEY" (PKCS#8, unencrypted). Errors as PublicKey::FromPem;
  /// encrypted keys are refused (never prompts for a passphrase).
  static Result<PrivateKey> FromPem(std::string_view pem, const std::string& name);
  /// Reads and parses a PEM file: Errc::kNoInput when it cannot be read, else as FromPem.
  static Result<PrivateKey> LoadPem(const std::string& path);

  /// Signs `message` (pure Ed25519: EVP_DigestSign with no digest).
  Result<Ed25519Signature> Sign(std::span<const uint8_t> message) const;
  /// The matching public key.
  const PublicKey& public_key() const { return public_; }
  const std::string& name() const { return name_; }

 private:
  std::shared_ptr<evp_pkey_st> key_;
  PublicKey public_;
  std::string name_;
};

/// Parses lowercase or uppercase hex into `out` (exactly out.size() bytes); false if the
/// text has another length or a non-hex character.
bool FromHex(std::string_view hex, std::span<uint8_t> out);

}  // namespace mln::crypto
