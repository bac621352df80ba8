#include "libstream/crypto/sign.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "libstream/base/byte_io.h"
#include "libstream/crypto/digest.h"

namespace mln::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// The reason OpenSSL queued for the last failure, then an empty queue, so one failed
// parse never colours the message of the next.
std::string OpensslReason() {
  unsigned long e = ERR_peek_last_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "no detail from OpenSSL";
}

// Never asks for a passphrase: an encrypted key fails instead of blocking a cron job on a
// terminal prompt.
int NoPassphrase(char*, int, int, void*) { return 0; }

Result<std::string> ReadKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(Error{Errc::kNoInput, std::string("cannot open key: ") + std::strerror(errno), path});
  }
  auto src = MakeFdSource(fd, path, true);
  std::string text(kMaxPemBytes + 1, '\0');
  MLN_TRY(size_t got, src->Read(text.data(), text.size()));
  if (got > kMaxPemBytes) {
    return Fail(Error{Errc::kUsage,
                      "key file larger than " + std::to_string(kMaxPemBytes) +
                          " bytes: not a PEM key",
                      path});
  }
  text.resize(got);
  return text;
}

Result<std::shared_ptr<evp_pkey_st>> ParsePem(std::string_view pem, const std::string& name,
                                              bool private_key) {
  const char* want = private_key ? "PRIVATE KEY" : "PUBLIC KEY";
  if (pem.size() > kMaxPemBytes) {
    return Fail(Error{Errc::kUsage, "key larger than " + std::to_string(kMaxPemBytes) + " bytes",
                      name});
  }
  if (private_key && pem.find("ENCRYPTED") != std::string_view::npos) {
    return Fail(Error{Errc::kUsage,
                      "encrypted private keys are not supported (decrypt it with "
                      "'openssl pkey -in KEY -out PLAIN.pem')",
                      name});
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::bad_alloc();
  ERR_clear_error();
  EVP_PKEY* raw = private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr);
  if (raw == nullptr) {
    std::string found = "no PEM block";
    if (auto at = pem.find("-----BEGIN "); at != std::string_view::npos) {
      auto end = pem.find("-----", at + 11);
      found = "'" + std::string(pem.substr(at + 11, end == std::string_view::npos
                                                          ? 20
                                                          : end - (at + 11))) + "'";
    }
    return Fail(Error{Errc::kUsage,
                      std::string("malformed PEM key: expected an Ed25519 ") + want +
                          " block, found " + found + " (" + OpensslReason() + ")",
                      name});
  }
  std::shared_ptr<evp_pkey_st> key(raw, PkeyFree());
  if (!EVP_PKEY_is_a(raw, "ED25519")) {
    const char* type = EVP_PKEY_get0_type_name(raw);
    return Fail(Error{Errc::kUsage,
                      std::string("PEM ") + want + " is " + (type ? type : "of an unknown type") +
                          ", expected ED25519 (openssl genpkey -algorithm ed25519)",
                      name});
  }
  return key;
}

Result<std::array<uint8_t, kEd25519PublicKeySize>> RawPublic(EVP_PKEY* key,
                                                             const std::string& name) {
  std::array<uint8_t, kEd25519PublicKeySize> raw{};
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &len) != 1 || len != raw.size()) {
    return Fail(Error{Errc::kUsage, "cannot extract the Ed25519 public key: " + OpensslReason(),
                      name});
  }
  return raw;
}

}  // namespace

Result<PublicKey> PublicKey::FromPem(std::string_view pem, const std::string& name) {
  PublicKey k;
  MLN_TRY(k.key_, ParsePem(pem, name, false));
  MLN_TRY(k.raw_, RawPublic(k.key_.get(), name));
  k.name_ = name;
  return k;
}

Result<PublicKey> PublicKey::LoadPem(const std::string& path) {
  MLN_TRY(std::string text, ReadKeyFile(path));
  return FromPem(text, path);
}

Result<PublicKey> PublicKey::FromRaw(std::span<const uint8_t> raw) {
  if (raw.size() != kEd25519PublicKeySize) {
    return Fail(Errc::kBadData, "Ed25519 public key of " + std::to_string(raw.size()) +
                                    " bytes, expected 32");
  }
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
  if (key == nullptr) return Fail(Errc::kBadData, "invalid Ed25519 public key: " + OpensslReason());
  PublicKey k;
  k.key_.reset(key, PkeyFree());
  std::copy(raw.begin(), raw.end(), k.raw_.begin());
  k.name_ = "raw key " + k.KeyId().substr(0, 16);
  return k;
}

std::string PublicKey::KeyId() const {
  Sha256 sha;
  sha.Update(raw_.data(), raw_.size());
  return ToHex(sha.Final());
}

bool PublicKey::Verify(std::span<const uint8_t> message,
                       std::span<const uint8_t> signature) const {
  if (!key_ || signature.size() != kEd25519SignatureSize) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) throw std::bad_alloc();
  // Ed25519 hashes internally (RFC 8032 PureEdDSA), hence no digest and one-shot calls.
  bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                             message.size()) == 1;
  ERR_clear_error();
  return ok;
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem, const std::string& name) {
  PrivateKey k;
  MLN_TRY(k.key_, ParsePem(pem, name, true));
  MLN_TRY(auto raw, RawPublic(k.key_.get(), name));
  MLN_TRY(k.public_, PublicKey::FromRaw(raw));
  k.public_.name_ = name;
  k.name_ = name;
  return k;
}

Result<std::vector<PublicKey>> PublicKey::LoadPems(const std::vector<std::string>& paths) {
  std::vector<PublicKey> keys;
  for (const std::string& path : paths) {
    MLN_TRY(PublicKey key, LoadPem(path));
    keys.push_back(std::move(key));
  }
  return keys;
}

Result<PrivateKey> PrivateKey::LoadPem(const std::string& path) {
  MLN_TRY(std::string text, ReadKeyFile(path));
  return FromPem(text, path);
}

Result<Ed25519Signature> PrivateKey::Sign(std::span<const uint8_t> message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) throw std::bad_alloc();
  Ed25519Signature sig{};
  size_t len = sig.size();
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1 ||
      len != sig.size()) {
    return Fail(Error{Errc::kInternal, "Ed25519 signing failed: " + OpensslReason(), name_});
  }
  return sig;
}

bool FromHex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != out.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace mln::crypto
