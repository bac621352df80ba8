// What mln-verify does, as library calls: check a stream in one pass (every frame's
// checksum in the pipeline's parallel stage; headers, chunk layout, trailer count and
// digest in order), sign it (Ed25519 over a canonical JSON manifest carried by a
// signature frame), decide whether to trust it (threshold of trusted keys, expiry, model
// name, version floor and the per-model version state that refuses downgrades and replays),
// and digest plain files (sha256sum).
//
// Signature frames (kind 4, man/mln-verify.1 and man/mln-stream.5) come after every other
// frame and before the trailer. Each carries the manifest as its payload and, as header
// attributes, "mln.key_id" (hex SHA-256 of the raw public key) and "mln.signature" (hex
// Ed25519 signature of the payload bytes). The manifest's content_sha256 is the SHA-256 of
// every stream byte before the first signature frame, which for a stream signed once is the
// trailer digest of the unsigned stream; so one forward pass verifies everything.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/crypto/digest.h"
#include "libstream/crypto/sign.h"
#include "libstream/stream/frame.h"
#include "libstream/stream/frame_io.h"
#include "libstream/stream/reader.h"

namespace mln::verify {

/// Attribute keys and frame name of a signature frame.
inline constexpr char kKeyIdAttr[] = "mln.key_id";
inline constexpr char kSignatureAttr[] = "mln.signature";
inline constexpr char kAlgorithmAttr[] = "mln.algorithm";
inline constexpr char kSignatureFrameName[] = "mln.signature";
/// Manifests are a few hundred bytes; a bigger signature payload is refused unread.
inline constexpr size_t kMaxManifestBytes = 64 * 1024;
/// Source-frame attributes a patch carries (issue 5); copied into the manifest if present.
inline constexpr char kBaseSha256Attr[] = "base_sha256";
inline constexpr char kTargetSha256Attr[] = "target_sha256";

/// Adds the base and result digests of a patch.end frame as kBaseSha256Attr and
/// kTargetSha256Attr, so a signed patch states which file it applies to and what it makes.
void AddPatchDigests(const stream::FrameHeader& h, std::vector<stream::Attribute>& attrs);

/// The statement a signature covers.
struct Manifest {
  std::string name;                       ///< model name, the key of the version state
  uint64_t version = 0;                   ///< monotonic release number
  int64_t created = 0;                    ///< seconds since the epoch, UTC
  std::optional<int64_t> expires;         ///< seconds since the epoch; absent = never
  crypto::Sha256Digest content_sha256{};  ///< stream bytes before the first signature frame
  std::optional<std::string> base_sha256;    ///< patches: digest of the base file
  std::optional<std::string> target_sha256;  ///< patches: digest of the file produced

  bool operator==(const Manifest&) const = default;
};

/// Canonical bytes of a manifest: JSON, keys sorted, no whitespace, "schema":1.
std::string ManifestBytes(const Manifest& manifest);
/// Parses manifest bytes. Malformed JSON, a missing or mistyped field or an unknown schema
/// fails with Errc::kRejected (a signer's statement we cannot read is not trusted).
Result<Manifest> ParseManifest(std::span<const uint8_t> bytes);

/// One signature frame as read from a stream; nothing in it is trusted yet.
struct SignatureFrame {
  uint64_t frame = 0;             ///< frame index in the stream
  std::string key_id;             ///< attribute mln.key_id, as found
  std::string signature;          ///< attribute mln.signature (hex), as found
  std::vector<uint8_t> manifest;  ///< payload; empty if larger than kMaxManifestBytes
  uint64_t payload_size = 0;
};

/// What one pass over a stream found. Filled only when the whole stream checked out.
struct StreamReport {
  uint64_t frames = 0;                      ///< frames before the trailer
  uint64_t bytes = 0;                       ///< stream size, trailer included
  crypto::Sha256Digest stream_sha256{};     ///< the trailer's digest (verified)
  crypto::Sha256Digest content_sha256{};    ///< bytes before the first signature frame
  std::vector<SignatureFrame> signatures;
  /// Index and name of the first frame that follows a signature frame (not signed).
  std::optional<std::pair<uint64_t, std::string>> after_signature;
  std::vector<stream::Attribute> source_attrs;  ///< attributes of the first source frame
};

struct CheckOptions {
  unsigned threads = 0;              ///< 0 = what tbb::global_control allows
  ByteSink* pass_through = nullptr;  ///< receives every input byte, verbatim, as read
  stream::FrameObserver* progress = nullptr;  ///< sees each frame once read; not owned
};

/// Reads the stream in `in` to its end and checks it: stream header, each frame's header
/// check, FlatBuffers verifier and limits, padding, payload checksum (in parallel), the
/// chunk layout of each model (no missing, reordered or misplaced chunk; the size in its
/// source frame), the trailer's frame count and SHA-256, and end of input after it. Errors
/// are Errc::kBadData (exit 65) naming the file, frame index, frame name and offset.
/// `pass_through` sees the input bytes before they are checked; the caller decides
/// whether to release them (cli::Output::Commit) once this returns success.
Result<StreamReport> CheckStream(ByteSource& in, const CheckOptions& options);

/// What EvaluateTrust needs, collected while another consumer reads a stream once (mln-apply
/// reads a patch and applies it in the same pass): Observe every frame right after the
/// Reader returns it, then Finish once the Reader has returned nullopt.
class SignatureScan {
 public:
  explicit SignatureScan(const stream::Reader& reader) : reader_(reader) {}
  void Observe(const stream::Frame& frame);
  /// The report of the stream read; `bytes` is its size.
  StreamReport Finish(uint64_t bytes);

 private:
  const stream::Reader& reader_;
  StreamReport report_;
  bool signed_ = false;
};

/// Keys, thresholds and the version rules a stream must meet.
struct TrustPolicy {
  std::vector<crypto::PublicKey> trusted;  ///< only these count; never a key from a stream
  unsigned threshold = 1;                  ///< distinct trusted keys with valid signatures
  std::optional<std::string> name;         ///< the manifest must name this model
  std::optional<uint64_t> min_version;     ///< the manifest's version must be at least this
  bool allow_downgrade = false;            ///< accept a version <= the one in the state
  int64_t now = 0;                         ///< seconds since the epoch, for expiry
};

/// --threshold against the --pubkey keys given (mln-verify, mln-apply): 1 to their number,
/// else Errc::kUsage saying so.
Result<void> CheckThreshold(unsigned threshold, size_t keys);

/// The last accepted version of each model (mln-verify --state FILE): a JSON object
/// {"model name": version, ...}.
class VersionState {
 public:
  /// Reads `path`; a missing file is an empty state (first run). A malformed file fails
  /// with Errc::kBadData naming it.
  static Result<VersionState> Load(const std::string& path);
  static Result<VersionState> Parse(std::string_view json, const std::string& name);
  /// Writes the state atomically (temporary file, fsync, rename), so a crash leaves the
  /// old state or the new one.
  Result<void> Save(const std::string& path) const;
  /// Makes sure Save(path) can work, before anything is installed: creates the directory
  /// when missing (as mkdir -p) and checks it is writable; Errc::kCantCreate otherwise.
  /// Checked only after the output was committed, a state that could not be written left
  /// the new model in place and its version unrecorded (the README's /var/lib/mln did not
  /// exist on a fresh machine).
  static Result<void> PrepareSave(const std::string& path);
  std::string Serialize() const;

  std::optional<uint64_t> Get(const std::string& model) const;
  void Set(const std::string& model, uint64_t version) { versions_[model] = version; }

 private:
  std::map<std::string, uint64_t> versions_;
};

/// Decides whether a checked stream is trusted: at least `policy.threshold` distinct keys
/// of `policy.trusted` have valid, unexpired signatures over manifests that cover
/// `report.content_sha256` and agree on name and version; no frame follows the signatures;
/// then the name, version floor and `state` (unless allow_downgrade, the version must be
/// above the recorded one). Returns the accepted manifest; otherwise Errc::kRejected
/// (exit 1) with each reason, naming the signature frame.
Result<Manifest> EvaluateTrust(const StreamReport& report, const TrustPolicy& policy,
                               const VersionState* state);

struct SignOptions {
  std::vector<crypto::PrivateKey> keys;  ///< one signature frame per key, in this order
  std::string name;
  uint64_t version = 0;
  int64_t created = 0;
  std::optional<int64_t> expires;
  unsigned threads = 0;
  stream::FrameObserver* progress = nullptr;  ///< sees each frame once read; not owned
};

struct SignResult {
  Manifest manifest;     ///< what was signed
  StreamReport input;    ///< the input stream as checked
  uint64_t frames_out = 0;
};

/// Checks the stream in `in` like CheckStream, then writes it to `out` with one signature
/// frame per key appended after its frames (signature frames already there are kept, and
/// must agree on name and version) and a new trailer. The frames are re-encoded by
/// stream::Writer; if that changes the bytes an existing signature covers, fails with
/// Errc::kUnsupported rather than write a stream whose old signatures break.
Result<SignResult> SignStream(ByteSource& in, ByteSink& out, const SignOptions& options);

/// SHA-256 and size of every byte of an input (a model file, or anything). If the input is
/// an mln stream it is checked in the same pass: `stream` holds the report, or
/// `stream_error` what was wrong (the file digest is still complete).
struct FileDigest {
  crypto::Sha256Digest sha256{};
  uint64_t size = 0;
  std::optional<StreamReport> stream;
  std::optional<Error> stream_error;
};
Result<FileDigest> DigestInput(ByteSource& in, unsigned threads);

/// "HEX  name\n" as sha256sum prints it, and for a stream a comment line with the trailer
/// and content digests, which `sha256sum -c` skips.
std::string RenderDigestText(const std::string& name, const FileDigest& digest);
/// One JSON object on one line (fields in man/mln-verify.1).
std::string RenderDigestJson(const std::string& name, const FileDigest& digest);

/// "2026-11-26T23:00:00Z".
std::string FormatTime(int64_t epoch_seconds);

}  // namespace mln::verify
