#include "libstream/stream/reader.h"

#include <cstring>

#include "libstream/base/checked_math.h"
#include "libstream/codecs/codec.h"
#include "libstream/base/endian.h"
#include "libstream/stream/frame_codec_internal.h"

namespace mln::stream {

using internal::kFramePrefixSize;

bool LooksLikeStream(std::span<const uint8_t> prefix) {
  return prefix.size() >= sizeof internal::kStreamMagic &&
         std::memcmp(prefix.data(), internal::kStreamMagic, sizeof internal::kStreamMagic) == 0;
}

Reader::Reader(ByteSource& src, ReaderOptions options) : src_(src), options_(options) {
  if (options_.verify_digest) sha_.emplace();
}

Result<void> Reader::Take(void* dst, size_t n, const char* what) {
  MLN_RETURN_IF_ERROR(src_.ReadExact(dst, n, what));
  if (sha_) sha_->Update(dst, n);
  return {};
}

Result<void> Reader::ReadStreamHeader() {
  uint8_t head[internal::kStreamHeaderSize];
  MLN_TRY(size_t got, src_.Read(head, sizeof head));
  if (got == 0) return Fail(Errc::kBadData, "empty input: expected an mln stream");
  if (!LooksLikeStream({head, got})) {
    return Fail(Errc::kBadData, "not an mln stream (bad magic; a model file needs mln-parse)");
  }
  if (got < sizeof head) return Fail(Errc::kBadData, "truncated stream header");
  if (sha_) sha_->Update(head, sizeof head);
  uint16_t major = LoadLE<uint16_t>(head + 8);
  if (major != internal::kVersionMajor) {
    return Fail(Errc::kUnsupported, "stream format version " + std::to_string(major) +
                                        " is not supported (this build reads version " +
                                        std::to_string(internal::kVersionMajor) + ")");
  }
  // No flag is defined yet; one we do not know could change how frames must be read.
  if (uint32_t flags = LoadLE<uint32_t>(head + 12); flags != 0) {
    return Fail(Errc::kUnsupported, "stream header flags 0x" + crypto::ToHex64(flags).substr(8) +
                                        " are not known to this build");
  }
  return {};
}

Result<std::optional<Frame>> Reader::ReadFrame() {
  uint64_t at = src_.position();
  uint8_t prefix[kFramePrefixSize];
  MLN_TRY(size_t got, src_.Read(prefix, sizeof prefix));
  if (got == 0 && options_.bare) return std::nullopt;  // a bundle's body ends with its frames
  if (got == 0) return Fail(Errc::kBadData, "truncated stream: no trailer");
  if (got < sizeof prefix) return Fail(Errc::kBadData, "truncated frame prefix");
  if (LoadLE<uint32_t>(prefix) != internal::kFrameMagic) {
    return Fail(Errc::kBadData, "bad frame magic (stream corrupt or misaligned)");
  }
  uint32_t header_len = LoadLE<uint32_t>(prefix + 4);
  uint64_t payload_len = LoadLE<uint64_t>(prefix + 8);
  if (header_len == 0 || header_len > internal::kMaxHeaderBytes) {
    return Fail(Errc::kBadData, "frame header length " + std::to_string(header_len) +
                                    " outside 1..1048576");
  }
  if (payload_len > options_.max_payload) {
    return Fail(Errc::kBadData, "payload length " + std::to_string(payload_len) +
                                    " exceeds the limit of " +
                                    std::to_string(options_.max_payload) + " bytes");
  }
  std::vector<uint8_t> fb(header_len);
  MLN_RETURN_IF_ERROR(src_.ReadExact(fb.data(), fb.size(), "frame header"));
  crypto::Xxh3Hasher check;
  check.Update(prefix, 16);
  check.Update(fb.data(), fb.size());
  if (check.Digest() != LoadLE<uint64_t>(prefix + 16)) {
    return Fail(Error{Errc::kBadData, "frame header checksum mismatch", {}, std::nullopt, at});
  }
  MLN_TRY(FrameHeader header, internal::DecodeHeader(fb));

  if (options_.bare && (header.Is(FrameKind::kTrailer) || header.Is(FrameKind::kBundle) ||
                        header.Is(FrameKind::kSignature))) {
    // A signature covers the stream before its frame, and a nested bundle could multiply
    // the decoded size: neither has a place inside a bundle.
    return Fail(Errc::kBadData, "a bundle holds a frame of kind " +
                                    std::to_string(header.kind) + ", which bundles may not");
  }
  if (header.Is(FrameKind::kTrailer)) {
    if (payload_len != 0) return Fail(Errc::kBadData, "trailer frame carries a payload");
    if (header.frame_count != index_) {
      return Fail(Errc::kBadData, "trailer counts " + std::to_string(header.frame_count) +
                                      " frames, stream has " + std::to_string(index_));
    }
    if (sha_) {
      crypto::Sha256Digest d = sha_->Final();
      digest_before_ = d;
      if (header.digest.size() != d.size() ||
          std::memcmp(header.digest.data(), d.data(), d.size()) != 0) {
        return Fail(Errc::kBadData, "stream SHA-256 mismatch: trailer says " +
                                        crypto::ToHex(header.digest) + ", content hashes to " +
                                        crypto::ToHex(d));
      }
    }
    MLN_TRY(bool end, src_.AtEnd());
    if (!end) return Fail(Errc::kBadData, "unexpected bytes after the trailer");
    trailer_ = std::move(header);
    return std::nullopt;
  }

  // The digest covers every byte before the trailer, so a frame's prefix and header are
  // hashed only once we know it is not the trailer.
  if (sha_) {
    digest_before_ = sha_->Peek();  // one context copy per frame, well under 1 us
    sha_->Update(prefix, sizeof prefix);
    sha_->Update(fb.data(), fb.size());
  }
  Frame frame;
  frame.header = std::move(header);
  if (payload_len != 0) {
    uint64_t pad = PadTo(src_.position(), kPayloadAlignment);
    uint8_t zeros[kPayloadAlignment];
    MLN_RETURN_IF_ERROR(Take(zeros, pad, "payload padding"));
    for (uint64_t i = 0; i < pad; ++i) {
      if (zeros[i] != 0) return Fail(Errc::kBadData, "non-zero padding before payload");
    }
    // Grow in steps as bytes arrive, so a lying length on a short input cannot make us
    // allocate more than it actually sent (plus one step).
    constexpr uint64_t kStep = 16ull << 20;
    uint64_t done = 0;
    while (done < payload_len) {
      uint64_t k = std::min(kStep, payload_len - done);
      frame.payload.Resize(done + k);
      MLN_RETURN_IF_ERROR(Take(frame.payload.data() + done, k, "frame payload"));
      done += k;
    }
  }
  return frame;
}

namespace {

// A bundle's decoded and checked body.
Result<AlignedBuffer> BundleBody(Frame bundle) {
  MLN_RETURN_IF_ERROR(codecs::DecodeFrame(bundle));  // decodes if coded, checks the XXH3
  if (bundle.payload.empty()) return Fail(Errc::kBadData, "empty bundle");
  return std::move(bundle.payload);
}

// An error of a bare reader over a bundle's body, as the outer stream reports it: the
// frame and offset become the bundle's (set by the caller); the place inside goes in words.
Error InsideBundle(Error e) {
  e.message = "bundle item " + std::to_string(e.frame.value_or(0)) + " (body offset " +
              std::to_string(e.offset.value_or(0)) + "): " + e.message;
  e.frame.reset();
  e.offset.reset();
  e.file.clear();
  return e;
}

ReaderOptions BareOptions(uint64_t max_payload) {
  ReaderOptions inner;
  inner.max_payload = max_payload;
  inner.verify_digest = false;  // the outer reader hashed the bundle as stored
  inner.bare = true;
  return inner;
}

}  // namespace

Result<void> Reader::OpenBundle(Frame bundle) {
  auto b = std::make_unique<Bundle>();
  MLN_TRY(b->body, BundleBody(std::move(bundle)));
  b->src = MakeMemorySource(b->body.span(), src_.name());
  b->reader = std::make_unique<Reader>(*b->src, BareOptions(options_.max_payload));
  bundle_ = std::move(b);
  return {};
}

Result<std::vector<Frame>> ExpandBundle(const Frame& bundle) {
  Frame copy;
  copy.header = bundle.header;
  copy.payload.Append(bundle.payload.data(), bundle.payload.size());
  MLN_TRY(AlignedBuffer body, BundleBody(std::move(copy)));
  auto src = MakeMemorySource(body.span(), "bundle");
  Reader reader(*src, BareOptions(ReaderOptions{}.max_payload));
  std::vector<Frame> frames;
  for (;;) {
    auto next = reader.Next();
    if (!next) return Fail(InsideBundle(std::move(next).error()));
    if (!*next) break;
    MLN_RETURN_IF_ERROR(VerifyFrame(**next));
    frames.push_back(std::move(**next));
  }
  return frames;
}

Result<std::optional<Frame>> Reader::Next() {
  if (done_) return std::nullopt;
  while (bundle_) {
    auto inner = bundle_->reader->Next();
    if (!inner) {
      done_ = true;
      return Fail(InsideBundle(std::move(inner).error())
                      .WithFile(src_.name())
                      .WithFrame(index_ - 1)
                      .WithOffset(bundle_at_));
    }
    if (inner->has_value()) {
      (**inner).read_index = index_ - 1;  // the bundle's place, not the body's
      return inner;
    }
    bundle_.reset();
  }
  if (!started_) {
    started_ = true;
    if (options_.bare) return Next();
    auto r = ReadStreamHeader();
    if (!r) {
      done_ = true;
      return Fail(std::move(r).error().WithFile(src_.name()));
    }
  }
  uint64_t at = src_.position();
  auto frame = ReadFrame();
  if (!frame) {
    done_ = true;
    return Fail(std::move(frame).error().WithFile(src_.name()).WithFrame(index_).WithOffset(at));
  }
  if (!frame->has_value()) {
    done_ = true;
    return std::nullopt;
  }
  ++index_;
  (**frame).read_index = index_ - 1;
  if ((*frame)->header.Is(FrameKind::kBundle) && options_.expand_bundles) {
    bundle_at_ = at;
    auto opened = OpenBundle(std::move(**frame));
    if (!opened) {
      done_ = true;
      return Fail(std::move(opened).error().WithFile(src_.name()).WithFrame(index_ - 1).WithOffset(at));
    }
    return Next();
  }
  return frame;
}

}  // namespace mln::stream
