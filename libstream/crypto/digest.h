// Checksums (XXH3-64, for every frame) and SHA-256 (OpenSSL 3 EVP, hardware accelerated
// where the CPU has SHA extensions), for stream trailers and file digests.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace mln::crypto {

using Sha256Digest = std::array<uint8_t, 32>;

/// XXH3-64 with seed 0 of `data`.
uint64_t Xxh3(std::span<const uint8_t> data);

/// Incremental XXH3-64 (same value as Xxh3 over the concatenation).
class Xxh3Hasher {
 public:
  Xxh3Hasher();
  ~Xxh3Hasher();
  Xxh3Hasher(const Xxh3Hasher&) = delete;
  Xxh3Hasher& operator=(const Xxh3Hasher&) = delete;
  void Update(const void* data, size_t n);
  uint64_t Digest() const;

 private:
  void* state_;
};

/// Incremental SHA-256 through EVP. Throws std::bad_alloc if OpenSSL cannot allocate.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t n);
  /// Finishes and returns the digest; the object must not be updated afterwards.
  Sha256Digest Final();
  /// The digest of the bytes so far, without finishing: finalizes a copy of the EVP
  /// context (EVP_MD_CTX_copy_ex), so Update may continue. Throws std::bad_alloc.
  Sha256Digest Peek() const;

 private:
  void* ctx_;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay out of this header
};

/// Lowercase hex, as sha256sum prints it.
std::string ToHex(std::span<const uint8_t> bytes);
/// 16 lowercase hex digits of a 64-bit checksum.
std::string ToHex64(uint64_t v);

}  // namespace mln::crypto
