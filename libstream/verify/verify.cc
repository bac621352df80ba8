#include "libstream/verify/verify.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "libstream/cli/io.h"
#include "libstream/delta/patch.h"
#include "libstream/formats/format.h"
#include "libstream/stream/chunker.h"
#include "libstream/stream/pipeline.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"

namespace mln::verify {
namespace {

using nlohmann::json;
using stream::Frame;
using stream::FrameHeader;
using stream::FrameKind;

constexpr int kManifestSchema = 1;
constexpr size_t kMaxStateBytes = 16u << 20;
constexpr size_t kMaxNameBytes = 256;

std::string ShortId(const std::string& key_id) {
  return key_id.size() > 16 ? key_id.substr(0, 16) : key_id;
}

// Passes every byte it reads from `inner` to `tap` first: a verbatim copy for
// pass-through, or a file digest. Taps at ReadRaw, so each input byte is seen exactly once
// and in order, whatever the reader above peeks or skips.
class TeeSource final : public ByteSource {
 public:
  using Tap = std::function<Result<void>(std::span<const uint8_t>)>;
  TeeSource(ByteSource& inner, Tap tap)
      : ByteSource(inner.name()), inner_(inner), tap_(std::move(tap)) {}
  std::optional<uint64_t> size() const override { return inner_.size(); }

 protected:
  Result<size_t> ReadRaw(void* dst, size_t n) override {
    MLN_TRY(size_t got, inner_.Read(dst, n));
    if (got != 0) MLN_RETURN_IF_ERROR(tap_({static_cast<const uint8_t*>(dst), got}));
    return got;
  }

 private:
  ByteSource& inner_;
  Tap tap_;
};

// Hashes what the Writer emits, so the signer knows the digest of its own output up to the
// first signature frame.
class HashingSink final : public ByteSink {
 public:
  explicit HashingSink(ByteSink& inner) : ByteSink(inner.name()), inner_(inner) {}
  /// Digest of everything written so far (flushes the buffer first).
  Result<crypto::Sha256Digest> DigestSoFar() {
    MLN_RETURN_IF_ERROR(Flush());
    return sha_.Peek();
  }

 protected:
  Result<void> WriteRaw(const void* src, size_t n) override {
    sha_.Update(src, n);
    return inner_.Write(src, n);
  }

 private:
  ByteSink& inner_;
  crypto::Sha256 sha_;
};

// Runs in the pipeline's serial read stage: notes where the signature frames start (the
// content digest, from the Reader's running SHA-256, so no second pass) and any frame
// after them.
class ScanSource final : public stream::FrameSource {
 public:
  explicit ScanSource(stream::Reader& reader) : reader_(reader) {}

  Result<std::optional<Frame>> Next() override {
    MLN_TRY(auto frame, reader_.Next());
    if (!frame) {
      if (!content_) content_ = reader_.DigestBefore();
      return frame;
    }
    uint64_t index = reader_.frames_read() - 1;
    if (frame->header.Is(FrameKind::kSignature)) {
      if (!content_) content_ = reader_.DigestBefore();
    } else if (content_ && !after_signature_) {
      after_signature_ = {index, frame->header.name};
    }
    return frame;
  }

  const std::optional<crypto::Sha256Digest>& content() const { return content_; }
  const std::optional<std::pair<uint64_t, std::string>>& after_signature() const {
    return after_signature_;
  }

 private:
  stream::Reader& reader_;
  std::optional<crypto::Sha256Digest> content_;
  std::optional<std::pair<uint64_t, std::string>> after_signature_;
};

// The layout of each model in the stream, checked as mln-emit would before writing a
// byte: chunks complete and in order, tiling the file up to the size its source frame
// gives. Catches reordered or dropped frames even when someone recomputed the trailer.
// Only models of a format this build knows are checked; other sources (patches) pass.
class LayoutCheck {
 public:
  Result<void> Put(const FrameHeader& h) {
    if (h.Is(FrameKind::kSource)) {
      MLN_RETURN_IF_ERROR(EndModel());
      in_model_ = formats::FindFormat(h.format) != nullptr;
      checker_ = stream::ChunkSequenceChecker();
      file_size_ = h.file_size;
      model_ = h.name;
      if (!have_source_) source_attrs_ = h.attrs;
      have_source_ = true;
      return {};
    }
    if (h.Is(FrameKind::kPatch)) AddPatchDigests(h, source_attrs_);
    if (in_model_ && (h.Is(FrameKind::kBytes) || h.Is(FrameKind::kTensor))) {
      return checker_.Check(h);
    }
    return {};
  }

  Result<void> EndModel() {
    if (!in_model_) return {};
    in_model_ = false;
    MLN_RETURN_IF_ERROR(checker_.Finish());
    // file_size 0: parsed from a pipe, size unknown.
    if (file_size_ != 0 && checker_.file_position() != file_size_) {
      return Fail(Errc::kBadData, "model '" + model_ + "' ends at byte " +
                                      std::to_string(checker_.file_position()) +
                                      ", its source frame says " + std::to_string(file_size_) +
                                      " bytes (frames missing)");
    }
    return {};
  }

  const std::vector<stream::Attribute>& source_attrs() const { return source_attrs_; }

 private:
  stream::ChunkSequenceChecker checker_;
  bool in_model_ = false;
  bool have_source_ = false;
  uint64_t file_size_ = 0;
  std::string model_;
  std::vector<stream::Attribute> source_attrs_;
};

}  // namespace

void AddPatchDigests(const FrameHeader& h, std::vector<stream::Attribute>& attrs) {
  for (auto [from, to] : {std::pair{delta::kAttrBaseSha256, kBaseSha256Attr},
                          std::pair{delta::kAttrNewSha256, kTargetSha256Attr}}) {
    if (auto v = h.Attr(from)) attrs.push_back({to, std::string(*v)});
  }
}

namespace {

SignatureFrame ToSignatureFrame(uint64_t index, const Frame& frame) {
  SignatureFrame s;
  s.frame = index;
  s.key_id = std::string(frame.header.Attr(kKeyIdAttr).value_or(""));
  s.signature = std::string(frame.header.Attr(kSignatureAttr).value_or(""));
  s.payload_size = frame.payload.size();
  if (frame.payload.size() <= kMaxManifestBytes) {
    s.manifest.assign(frame.payload.span().begin(), frame.payload.span().end());
  }
  return s;
}

// The sink of a check: layout and signature frames; payloads are dropped once checked.
class CheckSink final : public stream::FrameSink {
 public:
  Result<void> Put(Frame frame) override {
    MLN_RETURN_IF_ERROR(layout_.Put(frame.header));
    if (frame.header.Is(FrameKind::kSignature)) {
      signatures_.push_back(ToSignatureFrame(index_, frame));
    }
    ++index_;
    return {};
  }
  Result<void> Finish() override { return layout_.EndModel(); }

  LayoutCheck layout_;
  std::vector<SignatureFrame> signatures_;

 private:
  uint64_t index_ = 0;
};

Result<StreamReport> CheckFrom(ByteSource& src, unsigned threads,
                               stream::FrameObserver* progress) {
  stream::ReaderOptions reader_options;
  reader_options.verify_digest = true;
  stream::Reader reader(src, reader_options);
  ScanSource scan(reader);
  CheckSink sink;
  stream::PipelineOptions options;
  options.threads = threads;
  options.progress = progress;
  options.verify_input = true;  // payload checksums, in the parallel stage
  auto nothing = [](std::vector<Frame>&) -> Result<void> { return {}; };
  auto ok = stream::RunFramePipeline(scan, sink, nothing, options);
  if (!ok) return Fail(std::move(ok).error().WithFile(src.name()));
  StreamReport report;
  report.frames = reader.frames_read();
  report.bytes = src.position();
  const auto& digest = reader.trailer()->digest;
  std::copy_n(digest.begin(), std::min(digest.size(), report.stream_sha256.size()),
              report.stream_sha256.begin());
  report.content_sha256 = *scan.content();
  report.signatures = std::move(sink.signatures_);
  report.after_signature = scan.after_signature();
  report.source_attrs = sink.layout_.source_attrs();
  return report;
}

std::optional<std::string> OptionalAttr(const std::vector<stream::Attribute>& attrs,
                                        std::string_view key) {
  for (const auto& a : attrs) {
    if (a.key == key) return a.value;
  }
  return std::nullopt;
}

Result<void> ValidateName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return Fail(Errc::kUsage, "model name must be 1 to " + std::to_string(kMaxNameBytes) +
                                  " bytes, got " + std::to_string(name.size()));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return Fail(Errc::kUsage, "model name contains a control character");
  }
  return {};
}

// The manifest as a json value; std::map keys make nlohmann sort them (canonical form).
json ManifestJson(const Manifest& m) {
  json j;
  j["schema"] = kManifestSchema;
  j["name"] = m.name;
  j["version"] = m.version;
  j["created"] = m.created;
  if (m.expires) j["expires"] = *m.expires;
  j["content_sha256"] = crypto::ToHex(m.content_sha256);
  if (m.base_sha256) j["base_sha256"] = *m.base_sha256;
  if (m.target_sha256) j["target_sha256"] = *m.target_sha256;
  return j;
}

std::string Dump(const json& j) {
  // `replace` keeps dump() from throwing on bytes that are not UTF-8; names are checked
  // before signing, so this only matters for what we print.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string FormatTime(int64_t epoch_seconds) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  char buf[32];
  if (gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(epoch_seconds);
  }
  return buf;
}

std::string ManifestBytes(const Manifest& manifest) { return Dump(ManifestJson(manifest)); }

Result<Manifest> ParseManifest(std::span<const uint8_t> bytes) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(Errc::kRejected, "manifest is not a JSON object");
  }
  auto field = [&](const char* key) -> const json* {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };
  const json* schema = field("schema");
  if (schema == nullptr || !schema->is_number_unsigned() ||
      schema->get<uint64_t>() != kManifestSchema) {
    return Fail(Errc::kRejected, "manifest schema is " + (schema ? Dump(*schema) : "missing") +
                                     ", this build reads schema 1");
  }
  Manifest m;
  const json* name = field("name");
  const json* version = field("version");
  const json* created = field("created");
  const json* content = field("content_sha256");
  if (name == nullptr || !name->is_string()) {
    return Fail(Errc::kRejected, "manifest has no string 'name'");
  }
  if (version == nullptr || !version->is_number_unsigned()) {
    return Fail(Errc::kRejected, "manifest has no non-negative integer 'version'");
  }
  if (created == nullptr || !created->is_number_integer()) {
    return Fail(Errc::kRejected, "manifest has no integer 'created'");
  }
  if (content == nullptr || !content->is_string() ||
      !crypto::FromHex(content->get_ref<const std::string&>(), m.content_sha256)) {
    return Fail(Errc::kRejected, "manifest has no 64-hex-digit 'content_sha256'");
  }
  m.name = name->get<std::string>();
  m.version = version->get<uint64_t>();
  m.created = created->get<int64_t>();
  if (const json* e = field("expires")) {
    if (!e->is_number_integer()) return Fail(Errc::kRejected, "manifest 'expires' is not an integer");
    m.expires = e->get<int64_t>();
  }
  for (auto [key, slot] : {std::pair{kBaseSha256Attr, &m.base_sha256},
                           std::pair{kTargetSha256Attr, &m.target_sha256}}) {
    if (const json* v = field(key)) {
      if (!v->is_string()) return Fail(Errc::kRejected, std::string("manifest '") + key + "' is not a string");
      *slot = v->get<std::string>();
    }
  }
  // Only the canonical form is accepted: one manifest, one byte string, so duplicate keys,
  // unknown fields or other spellings cannot make two readers see different statements.
  std::string canonical = ManifestBytes(m);
  if (canonical.size() != bytes.size() ||
      !std::equal(canonical.begin(), canonical.end(), bytes.begin())) {
    return Fail(Errc::kRejected, "manifest is not in canonical form (sorted keys, no spaces, "
                                 "known fields only)");
  }
  return m;
}

Result<StreamReport> CheckStream(ByteSource& in, const CheckOptions& options) {
  if (options.pass_through == nullptr) return CheckFrom(in, options.threads, options.progress);
  // Input that is no stream at all (a model file, a tarball) is refused before any of it
  // passes through: the check fails on its first bytes, and the next filter gets none.
  MLN_TRY(auto head, in.Peek(16));
  if (!stream::LooksLikeStream(head)) return CheckFrom(in, options.threads, options.progress);
  ByteSink& out = *options.pass_through;
  TeeSource tee(in, [&out](std::span<const uint8_t> bytes) -> Result<void> {
    return out.Write(bytes.data(), bytes.size());
  });
  return CheckFrom(tee, options.threads, options.progress);
}

// ---------------------------------------------------------------------------------------
// Trust.

Result<Manifest> EvaluateTrust(const StreamReport& report, const TrustPolicy& policy,
                               const VersionState* state) {
  std::string need = std::to_string(policy.threshold) + " required";
  if (report.signatures.empty()) {
    return Fail(Errc::kRejected, "not trusted: the stream carries no signature (" +
                                     std::to_string(policy.threshold) +
                                     " by trusted keys required)");
  }
  if (report.after_signature) {
    return Fail(Error{Errc::kRejected,
                      "not trusted: frame follows the signature frames, so no signature covers it",
                      {}, report.after_signature->first, std::nullopt,
                      report.after_signature->second});
  }
  std::map<std::string, const crypto::PublicKey*> trusted;
  for (const auto& k : policy.trusted) trusted.emplace(k.KeyId(), &k);

  struct Problem {
    uint64_t frame;
    std::string what;
  };
  struct Valid {
    uint64_t frame;
    std::string key_id;
    Manifest manifest;
  };
  std::vector<Problem> problems;
  std::vector<Valid> valid;
  for (const SignatureFrame& sig : report.signatures) {
    auto problem = [&](std::string what) { problems.push_back({sig.frame, std::move(what)}); };
    auto it = trusted.find(sig.key_id);
    if (it == trusted.end()) {
      problem("signed by key " + ShortId(sig.key_id) + ", which is not a trusted key (--pubkey)");
      continue;
    }
    const crypto::PublicKey& key = *it->second;
    if (sig.payload_size > kMaxManifestBytes) {
      problem("manifest of " + std::to_string(sig.payload_size) + " bytes exceeds " +
              std::to_string(kMaxManifestBytes));
      continue;
    }
    crypto::Ed25519Signature signature{};
    if (!crypto::FromHex(sig.signature, signature)) {
      problem("signature attribute is " + std::to_string(sig.signature.size()) +
              " characters, expected 128 hex digits");
      continue;
    }
    if (!key.Verify(sig.manifest, signature)) {
      problem("bad Ed25519 signature by trusted key " + ShortId(sig.key_id) + " (" + key.name() +
              "): the manifest or signature was altered");
      continue;
    }
    auto manifest = ParseManifest(sig.manifest);
    if (!manifest) {
      problem(manifest.error().message);
      continue;
    }
    if (manifest->content_sha256 != report.content_sha256) {
      problem("signed manifest covers content sha256 " + crypto::ToHex(manifest->content_sha256) +
              ", the stream's content hashes to " + crypto::ToHex(report.content_sha256));
      continue;
    }
    if (manifest->expires && *manifest->expires <= policy.now) {
      problem("signed manifest expired at " + FormatTime(*manifest->expires) + " (now " +
              FormatTime(policy.now) + ")");
      continue;
    }
    valid.push_back({sig.frame, sig.key_id, std::move(*manifest)});
  }

  std::set<std::string> keys;
  for (const auto& v : valid) keys.insert(v.key_id);
  if (keys.size() < policy.threshold) {
    std::string head = "not trusted: " + std::to_string(keys.size()) + " of " + need +
                       " signatures by distinct trusted keys are valid";
    if (problems.size() == 1 && keys.empty()) {
      return Fail(Error{Errc::kRejected, "not trusted: " + problems[0].what, {},
                        problems[0].frame, std::nullopt, kSignatureFrameName});
    }
    for (const auto& p : problems) head += "; frame " + std::to_string(p.frame) + ": " + p.what;
    for (const auto& k : policy.trusted) {
      std::string id = k.KeyId();
      bool seen = std::any_of(report.signatures.begin(), report.signatures.end(),
                              [&](const SignatureFrame& s) { return s.key_id == id; });
      if (!seen) head += "; no signature by trusted key " + ShortId(id) + " (" + k.name() + ")";
    }
    return Fail(Errc::kRejected, head);
  }
  for (const auto& v : valid) {
    if (v.manifest.name != valid[0].manifest.name ||
        v.manifest.version != valid[0].manifest.version) {
      return Fail(Errc::kRejected, "not trusted: signatures disagree: frame " +
                                       std::to_string(valid[0].frame) + " signs '" +
                                       valid[0].manifest.name + "' version " +
                                       std::to_string(valid[0].manifest.version) + ", frame " +
                                       std::to_string(v.frame) + " signs '" + v.manifest.name +
                                       "' version " + std::to_string(v.manifest.version));
    }
  }
  const Manifest& m = valid[0].manifest;
  if (policy.name && m.name != *policy.name) {
    return Fail(Errc::kRejected, "signed for model '" + m.name + "', expected '" + *policy.name +
                                     "' (--name)");
  }
  if (policy.min_version && m.version < *policy.min_version) {
    return Fail(Errc::kRejected, "'" + m.name + "' version " + std::to_string(m.version) +
                                     " is below --min-version " +
                                     std::to_string(*policy.min_version));
  }
  if (state != nullptr && !policy.allow_downgrade) {
    if (auto last = state->Get(m.name); last && m.version <= *last) {
      return Fail(Errc::kRejected,
                  "'" + m.name + "' version " + std::to_string(m.version) +
                      " is not newer than version " + std::to_string(*last) +
                      " accepted before (--state): refusing a downgrade or replay "
                      "(--allow-downgrade overrides)");
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------
// Version state.

Result<VersionState> VersionState::Parse(std::string_view text, const std::string& name) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(Error{Errc::kBadData,
                      "state file is not a JSON object of model name -> version", name});
  }
  VersionState s;
  for (const auto& [model, v] : j.items()) {
    if (!v.is_number_unsigned()) {
      return Fail(Error{Errc::kBadData,
                        "state file: version of '" + model + "' is " + Dump(v) +
                            ", expected a non-negative integer",
                        name});
    }
    s.versions_[model] = v.get<uint64_t>();
  }
  return s;
}

Result<VersionState> VersionState::Load(const std::string& path) {
  // No state file yet is the first run; anything else (permissions, a directory) is an
  // error, as silently starting from an empty state would re-open every downgrade.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return VersionState();
  MLN_TRY(auto in, cli::OpenInput(path));
  std::string text(kMaxStateBytes + 1, '\0');
  MLN_TRY(size_t got, in->Read(text.data(), text.size()));
  if (got > kMaxStateBytes) {
    return Fail(Error{Errc::kBadData,
                      "state file larger than " + std::to_string(kMaxStateBytes) + " bytes", path});
  }
  text.resize(got);
  return Parse(text, path);
}

std::string VersionState::Serialize() const {
  json j = json::object();
  for (const auto& [model, v] : versions_) j[model] = v;
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<void> VersionState::Save(const std::string& path) const {
  MLN_TRY(auto out, cli::Output::Open(path, /*force=*/true, /*binary=*/false));
  std::string text = Serialize();
  MLN_RETURN_IF_ERROR(out->sink().Write(text.data(), text.size()));
  return out->Commit();
}

Result<void> CheckThreshold(unsigned threshold, size_t keys) {
  if (threshold != 0 && threshold <= keys) return {};
  return Fail(Errc::kUsage, "--threshold " + std::to_string(threshold) + " needs 1 to " +
                                std::to_string(keys) +
                                " (the number of --pubkey keys; one key a --pubkey)");
}

Result<void> VersionState::PrepareSave(const std::string& path) {
  const std::string dir = DirName(path);
  std::error_code ec;  // mkdir -p; existing levels are fine
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Fail(Error{Errc::kCantCreate,
                      "cannot make the state's directory " + dir + ": " + ec.message(), path});
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Fail(Error{Errc::kCantCreate,
                      "cannot write the state's directory " + dir + ": " + std::strerror(errno),
                      path});
  }
  return {};
}

std::optional<uint64_t> VersionState::Get(const std::string& model) const {
  auto it = versions_.find(model);
  if (it == versions_.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------------------
// Signing.

namespace {

class SignSink final : public stream::FrameSink {
 public:
  SignSink(ByteSink& out, const SignOptions& options, const ScanSource& scan)
      : hashing_(out), writer_(hashing_), options_(options), scan_(scan) {}

  Result<void> Put(Frame frame) override {
    if (frame.header.Is(FrameKind::kBundle)) {
      // Passed on as stored (re-encoding would change the signed bytes); its frames are
      // checked and laid out like any others.
      MLN_TRY(std::vector<Frame> inner, stream::ExpandBundle(frame));
      for (const Frame& f : inner) MLN_RETURN_IF_ERROR(layout_.Put(f.header));
    } else {
      MLN_RETURN_IF_ERROR(layout_.Put(frame.header));
    }
    if (frame.header.Is(FrameKind::kSignature)) {
      if (!out_content_) {
      MLN_TRY(out_content_, hashing_.DigestSoFar());
    }
      existing_.push_back(ToSignatureFrame(index_, frame));
    }
    ++index_;
    return writer_.Put(std::move(frame));
  }

  Result<void> Finish() override {
    MLN_RETURN_IF_ERROR(layout_.EndModel());
    if (scan_.after_signature()) {
      return Fail(Error{Errc::kBadData, "frame follows a signature frame; signatures must be last",
                        {}, scan_.after_signature()->first, std::nullopt,
                        scan_.after_signature()->second});
    }
    if (!out_content_) {
      MLN_TRY(out_content_, hashing_.DigestSoFar());
    }
    if (*out_content_ != *scan_.content()) {
      if (!existing_.empty()) {
        return Fail(Errc::kUnsupported,
                    "re-encoding the frames changed the signed content (written by another "
                    "writer?), so the signatures already in the stream would break");
      }
    }
    manifest_.name = options_.name;
    manifest_.version = options_.version;
    manifest_.created = options_.created;
    manifest_.expires = options_.expires;
    manifest_.content_sha256 = *out_content_;
    manifest_.base_sha256 = OptionalAttr(layout_.source_attrs(), kBaseSha256Attr);
    manifest_.target_sha256 = OptionalAttr(layout_.source_attrs(), kTargetSha256Attr);
    for (const SignatureFrame& s : existing_) {
      // Co-signing: a second signer must state the same release, or verifiers would see
      // trusted signatures that disagree.
      auto m = ParseManifest(s.manifest);
      if (m && (m->name != manifest_.name || m->version != manifest_.version)) {
        return Fail(Error{Errc::kUsage,
                          "stream is already signed for '" + m->name + "' version " +
                              std::to_string(m->version) + "; sign with the same --name and "
                              "--version",
                          {}, s.frame, std::nullopt, kSignatureFrameName});
      }
    }
    std::string bytes = ManifestBytes(manifest_);
    // Round trip: what we sign must be what a verifier parses back (UTF-8 names).
    auto back = ParseManifest({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    if (!back || *back != manifest_) {
      return Fail(Errc::kUsage, "model name is not valid UTF-8");
    }
    for (const crypto::PrivateKey& key : options_.keys) {
      MLN_TRY(crypto::Ed25519Signature sig,
              key.Sign({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
      Frame f;
      f.header.kind = static_cast<uint16_t>(FrameKind::kSignature);
      f.header.name = kSignatureFrameName;
      f.header.SetAttr(kAlgorithmAttr, "ed25519");
      f.header.SetAttr(kKeyIdAttr, key.public_key().KeyId());
      f.header.SetAttr(kSignatureAttr, crypto::ToHex(sig));
      f.payload.Append(bytes.data(), bytes.size());
      stream::SealFrame(f);
      MLN_RETURN_IF_ERROR(writer_.Put(std::move(f)));
    }
    return writer_.Finish();
  }

  LayoutCheck layout_;
  std::vector<SignatureFrame> existing_;
  Manifest manifest_;
  uint64_t frames_out() const { return writer_.frames_written(); }

 private:
  HashingSink hashing_;
  stream::Writer writer_;
  const SignOptions& options_;
  const ScanSource& scan_;
  std::optional<crypto::Sha256Digest> out_content_;
  uint64_t index_ = 0;
};

}  // namespace

Result<SignResult> SignStream(ByteSource& in, ByteSink& out, const SignOptions& options) {
  MLN_RETURN_IF_ERROR(ValidateName(options.name));
  if (options.keys.empty()) return Fail(Errc::kUsage, "no signing key");
  stream::ReaderOptions ropts;
  ropts.expand_bundles = false;  // the signed stream keeps every frame as stored
  stream::Reader reader(in, ropts);
  ScanSource scan(reader);
  SignSink sink(out, options, scan);
  stream::PipelineOptions popts;
  popts.threads = options.threads;
  popts.progress = options.progress;
  // Checked with VerifyFrame in the transform rather than verify_input, which decodes
  // payloads in place: the signed stream must keep each frame's stored encoding.
  // Bundles are decoded and checked once, by SignSink's ExpandBundle.
  auto check = [](std::vector<Frame>& frames) -> Result<void> {
    if (frames.front().header.Is(FrameKind::kBundle)) return {};
    return stream::VerifyFrame(frames.front());
  };
  auto ok = stream::RunFramePipeline(scan, sink, check, popts);
  if (!ok) return Fail(std::move(ok).error().WithFile(in.name()));
  SignResult result;
  result.manifest = sink.manifest_;
  result.frames_out = sink.frames_out();
  result.input.frames = reader.frames_read();
  result.input.bytes = in.position();
  const auto& digest = reader.trailer()->digest;
  std::copy_n(digest.begin(), std::min(digest.size(), result.input.stream_sha256.size()),
              result.input.stream_sha256.begin());
  result.input.content_sha256 = *scan.content();
  result.input.signatures = std::move(sink.existing_);
  result.input.source_attrs = sink.layout_.source_attrs();
  return result;
}

// ---------------------------------------------------------------------------------------
// File digests.

Result<FileDigest> DigestInput(ByteSource& in, unsigned threads) {
  crypto::Sha256 sha;
  uint64_t size = 0;
  TeeSource tee(in, [&](std::span<const uint8_t> bytes) -> Result<void> {
    sha.Update(bytes.data(), bytes.size());
    size += bytes.size();
    return {};
  });
  FileDigest d;
  MLN_TRY(auto head, tee.Peek(16));
  if (stream::LooksLikeStream(head)) {
    auto report = CheckFrom(tee, threads, nullptr);
    if (report) {
      d.stream = std::move(*report);
    } else if (report.error().code == Errc::kBadData ||
               report.error().code == Errc::kUnsupported) {
      d.stream_error = std::move(report).error();
    } else {
      return Fail(std::move(report).error());  // I/O errors: no digest to give
    }
  }
  // The rest of the input (all of it for a model file; after an error in a stream) goes
  // through the tee too, so the file digest always covers every byte.
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    MLN_TRY(size_t got, tee.Read(buf.data(), buf.size()));
    if (got == 0) break;
  }
  d.sha256 = sha.Final();
  d.size = size;
  return d;
}

std::string RenderDigestText(const std::string& name, const FileDigest& d) {
  std::string out = crypto::ToHex(d.sha256) + "  " + name + "\n";
  if (d.stream) {
    // A comment line: sha256sum -c skips lines that start with '#'.
    out += "# " + name + ": mln stream, " + std::to_string(d.stream->frames) +
           " frames, trailer sha256 " + crypto::ToHex(d.stream->stream_sha256);
    if (!d.stream->signatures.empty()) {
      out += ", content sha256 " + crypto::ToHex(d.stream->content_sha256) + ", " +
             std::to_string(d.stream->signatures.size()) + " signature(s)";
    }
    out += "\n";
  }
  return out;
}

std::string RenderDigestJson(const std::string& name, const FileDigest& d) {
  nlohmann::ordered_json j;
  j["file"] = name;
  j["size"] = d.size;
  j["sha256"] = crypto::ToHex(d.sha256);
  if (d.stream) {
    nlohmann::ordered_json s;
    s["frames"] = d.stream->frames;
    s["trailer_sha256"] = crypto::ToHex(d.stream->stream_sha256);
    s["content_sha256"] = crypto::ToHex(d.stream->content_sha256);
    nlohmann::ordered_json sigs = nlohmann::ordered_json::array();
    for (const SignatureFrame& sig : d.stream->signatures) {
      nlohmann::ordered_json e;
      e["frame"] = sig.frame;
      e["key_id"] = sig.key_id;
      // Shown as found, not trusted: only --pubkey decides trust.
      if (auto m = ParseManifest(sig.manifest)) {
        e["manifest"] = json::parse(sig.manifest.begin(), sig.manifest.end(), nullptr, false);
      } else {
        e["manifest_error"] = m.error().message;
      }
      sigs.push_back(std::move(e));
    }
    s["signatures"] = std::move(sigs);
    j["stream"] = std::move(s);
  } else if (d.stream_error) {
    j["stream_error"] = d.stream_error->ToString();
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void SignatureScan::Observe(const Frame& frame) {
  uint64_t index = reader_.frames_read() - 1;
  const FrameHeader& h = frame.header;
  if (h.Is(FrameKind::kSignature)) {
    if (!signed_) report_.content_sha256 = reader_.DigestBefore();
    signed_ = true;
    report_.signatures.push_back(ToSignatureFrame(index, frame));
    return;
  }
  if (signed_ && !report_.after_signature) report_.after_signature = {index, h.name};
  if (h.Is(FrameKind::kSource) && report_.source_attrs.empty()) report_.source_attrs = h.attrs;
  if (h.Is(FrameKind::kPatch)) AddPatchDigests(h, report_.source_attrs);
}

StreamReport SignatureScan::Finish(uint64_t bytes) {
  StreamReport r = std::move(report_);
  r.frames = reader_.frames_read();
  r.bytes = bytes;
  if (reader_.trailer()) {
    const auto& digest = reader_.trailer()->digest;
    std::copy_n(digest.begin(), std::min(digest.size(), r.stream_sha256.size()),
                r.stream_sha256.begin());
  }
  if (!signed_) r.content_sha256 = r.stream_sha256;
  return r;
}

}  // namespace mln::verify
