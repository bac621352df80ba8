#include "libstream/delta/apply.h"

#include <charconv>
#include <cstring>
#include <optional>

#include "libstream/codecs/codec.h"
#include "libstream/crypto/digest.h"
#include "libstream/delta/idelta.h"
#include "libstream/delta/model_file.h"
#include "libstream/delta/zstd_prefix.h"
#include "libstream/kernels/delta.h"
#include "libstream/kernels/float_delta.h"
#include "libstream/kernels/q8_delta.h"
#include "libstream/stream/pipeline.h"
#include "libstream/stream/reader.h"

namespace mln::delta {
namespace {

using stream::Frame;
using stream::FrameHeader;
using stream::FrameKind;

std::string Range(uint64_t offset, uint64_t size) {
  return "[" + std::to_string(offset) + ", +" + std::to_string(size) + ")";
}

// What the three stages share. The source stage writes `info`; the sink reads it only
// after the frame that carried it has passed through, so no lock is needed.
struct ApplyState {
  PatchInfo info;
  bool begun = false;
  bool ended = false;
};

// The serial first stage: checks the patch's framing and splits each keep run into
// pieces, one per hash it carries, so every base byte is checked before it is used and no
// op holds more than a piece in memory.
class PatchSource final : public stream::FrameSource {
 public:
  PatchSource(stream::Reader& reader, const ModelFile& base, ApplyState& state,
              const ApplyOptions& options, verify::SignatureScan& scan)
      : reader_(reader), base_(base), state_(state), options_(options), scan_(scan) {}

  Result<std::optional<Frame>> Next() override {
    if (run_ && next_piece_ < pieces_.size()) return Piece();
    run_.reset();
    MLN_TRY(auto f, reader_.Next());
    if (!f) return f;
    FrameHeader& h = f->header;
    scan_.Observe(*f);
    if (!state_.begun) {
      MLN_RETURN_IF_ERROR(Begin(h));
      return f;
    }
    if (h.Is(FrameKind::kPatch)) {
      if (h.name == kEndName) {
        MLN_RETURN_IF_ERROR(ReadPatchFrame(h, state_.info));
        state_.ended = true;
      }
      return f;
    }
    if (state_.ended && h.Is(FrameKind::kDelta)) {
      return Fail(Errc::kBadData, "op after patch.end");
    }
    if (h.Is(FrameKind::kDelta) && h.op == static_cast<uint8_t>(PatchOp::kKeep)) {
      MLN_RETURN_IF_ERROR(StartRun(std::move(*f)));
      if (pieces_.empty()) return Next();  // an empty run makes nothing
      return Piece();
    }
    return f;
  }

 private:
  Result<void> Begin(const FrameHeader& h) {
    if (h.Is(FrameKind::kSource)) {
      return Fail(Errc::kBadData,
                  "this is a model stream, not a patch (mln-emit writes it out; mln-diff "
                  "makes patches)");
    }
    if (!h.Is(FrameKind::kPatch) || h.name != kBeginName) {
      return Fail(Errc::kBadData, "not a patch: its first frame is " +
                                      stream::KindName(h.kind) + " '" + h.name +
                                      "', expected patch.begin");
    }
    MLN_RETURN_IF_ERROR(ReadPatchFrame(h, state_.info));
    state_.begun = true;
    if (state_.info.base_size != base_.size()) {
      return Fail(Error{Errc::kBadData,
                        "is " + std::to_string(base_.size()) + " bytes; this patch applies to a " +
                            state_.info.base_format + " file of " +
                            std::to_string(state_.info.base_size) + " bytes",
                        base_.name()});
    }
    return {};
  }

  Result<void> StartRun(Frame run) {
    MLN_RETURN_IF_ERROR(codecs::DecodeFrame(run));
    const FrameHeader& h = run.header;
    uint64_t piece = 0;
    auto text = h.Attr(kAttrPiece).value_or("");
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), piece);
    if (ec != std::errc() || end != text.data() + text.size() || piece == 0 ||
        piece > options_.max_op_bytes) {
      return Fail(Errc::kBadData, "keep run has no valid run.piece ('" + std::string(text) + "')");
    }
    uint64_t count = h.out_size / piece + (h.out_size % piece != 0);
    if (h.base_size != h.out_size || run.payload.size() != count * 8 || h.chunk_count != count) {
      return Fail(Errc::kBadData, "keep run of " + std::to_string(h.out_size) +
                                      " bytes does not carry one hash per piece");
    }
    pieces_.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t v = 0;
      for (int b = 7; b >= 0; --b) v = (v << 8) | run.payload.data()[i * 8 + b];
      pieces_[i] = v;
    }
    piece_ = piece;
    next_piece_ = 0;
    run_ = std::move(run.header);
    return {};
  }

  Result<std::optional<Frame>> Piece() {
    Frame f;
    FrameHeader& h = f.header;
    const FrameHeader& run = *run_;
    uint64_t at = next_piece_ * piece_;
    h.kind = run.kind;
    h.op = run.op;
    h.name = run.name;
    h.file_offset = run.file_offset + at;
    h.base_offset = run.base_offset + at;
    h.out_size = h.base_size = std::min(piece_, run.out_size - at);
    h.base_checksum = pieces_[next_piece_];
    h.out_checksum = run.out_checksum;  // of the whole run, checked by the sink
    h.chunk_index = static_cast<uint32_t>(next_piece_);
    h.chunk_count = static_cast<uint32_t>(pieces_.size());
    ++next_piece_;
    return f;
  }

  stream::Reader& reader_;
  const ModelFile& base_;
  ApplyState& state_;
  const ApplyOptions& options_;
  verify::SignatureScan& scan_;
  std::optional<FrameHeader> run_;
  std::vector<uint64_t> pieces_;
  uint64_t piece_ = 0;
  size_t next_piece_ = 0;
};

Error BaseMismatch(const ModelFile& base, const FrameHeader& h, uint64_t found) {
  return Error{Errc::kBadData,
               "bytes " + Range(h.base_offset, h.base_size) +
                   " differ from the base this patch was made from: XXH3 " +
                   crypto::ToHex64(found) + ", expected " + crypto::ToHex64(h.base_checksum),
               base.name()};
}

// The parallel stage: makes one op's bytes of the new file.
class OpApplier {
 public:
  OpApplier(const ModelFile& base, const ApplyOptions& options)
      : base_(base), options_(options) {}

  Result<void> operator()(std::vector<Frame>& frames) const {
    Frame& f = frames.front();
    FrameHeader& h = f.header;
    if (!h.Is(FrameKind::kDelta)) return {};
    auto op = static_cast<PatchOp>(h.op);
    if (h.out_size > options_.max_op_bytes || h.base_size > options_.max_op_bytes) {
      return Fail(Errc::kBadData, "op of " + std::to_string(std::max(h.out_size, h.base_size)) +
                                      " bytes exceeds the limit of " +
                                      std::to_string(options_.max_op_bytes));
    }
    if (h.base_size > base_.size() || h.base_offset > base_.size() - h.base_size) {
      return Fail(Errc::kBadData, "base range " + Range(h.base_offset, h.base_size) +
                                      " lies outside the base (" + std::to_string(base_.size()) +
                                      " bytes)");
    }
    if (op == PatchOp::kKeep) {  // a piece of a run: no payload, checked base bytes
      MLN_TRY(f.payload, ReadBase(h));
      return {};
    }
    MLN_RETURN_IF_ERROR(codecs::DecodeFrame(f));
    switch (op) {
      case PatchOp::kXor:
      case PatchOp::kSub: {
        if (h.base_size != h.out_size || f.payload.size() != h.out_size) {
          return Fail(Errc::kBadData, "delta of " + std::to_string(f.payload.size()) +
                                          " bytes for a range of " + std::to_string(h.out_size));
        }
        MLN_TRY(AlignedBuffer base, ReadBase(h));
        if (op == PatchOp::kXor) kernels::XorBytes(f.payload.data(), base.data(), h.out_size);
        else kernels::AddBytes(f.payload.data(), base.data(), h.out_size);
        break;
      }
      case PatchOp::kFdelta: {
        auto layout = FloatLayoutOf(h.dtype);
        if (!layout || h.out_size % layout->width != 0 || h.base_size != h.out_size ||
            f.payload.size() != h.out_size) {
          return Fail(Errc::kBadData, "float delta of " + std::to_string(f.payload.size()) +
                                          " bytes does not fit a " + stream::DtypeName(h.dtype) +
                                          " range of " + std::to_string(h.out_size));
        }
        // Decoded over the base bytes, which the kernel allows: a third chunk-sized buffer
        // per op in flight would cost more memory than the pipeline's depth is worth.
        MLN_TRY(AlignedBuffer made, ReadBase(h));
        kernels::DecodeFloatDelta(made.data(), f.payload.data(), h.out_size / layout->width,
                                  *layout, made.data());
        f.payload = std::move(made);
        break;
      }
      case PatchOp::kSparse: {
        MLN_RETURN_IF_ERROR(SameSizeRanges(h, "sparse delta"));
        MLN_TRY(AlignedBuffer made, ReadBase(h));
        if (!kernels::ApplySparse(f.payload.data(), f.payload.size(), h.out_size, made.data())) {
          return Fail(Errc::kBadData, "sparse delta of " + std::to_string(f.payload.size()) +
                                          " bytes does not fit a range of " +
                                          std::to_string(h.out_size));
        }
        f.payload = std::move(made);
        break;
      }
      case PatchOp::kQ8delta: {
        MLN_RETURN_IF_ERROR(SameSizeRanges(h, "Q8_0 delta"));
        MLN_TRY(AlignedBuffer base, ReadBase(h));
        AlignedBuffer made(h.out_size);
        if (!kernels::DecodeQ8Delta(base.data(), f.payload.data(), f.payload.size(), h.out_size,
                                    made.data())) {
          return Fail(Errc::kBadData, "payload of " + std::to_string(f.payload.size()) +
                                          " bytes is not a Q8_0 delta");
        }
        f.payload = std::move(made);
        break;
      }
      case PatchOp::kZdelta: {
        MLN_TRY(AlignedBuffer base, ReadBase(h));
        MLN_TRY(f.payload, DecompressWithPrefix(f.payload.span(), base.span(), h.out_size));
        break;
      }
      case PatchOp::kIdelta: {
        auto width = IdeltaWidth(h.dtype);
        if (!width || h.out_size % *width != 0) {
          return Fail(Errc::kBadData, "index delta for a " + stream::DtypeName(h.dtype) +
                                          " range of " + std::to_string(h.out_size) +
                                          " bytes, expected whole 8-, 16- or 32-bit integers");
        }
        MLN_TRY(AlignedBuffer base, ReadBase(h));
        MLN_TRY(f.payload, DecodeIdelta(f.payload.span(), base.span(), *width, h.out_size));
        break;
      }
      case PatchOp::kReplace:
      case PatchOp::kInsert:
      case PatchOp::kDelete:
        if (f.payload.size() != h.out_size) {
          return Fail(Errc::kBadData, OpName(h.op) + " carries " +
                                          std::to_string(f.payload.size()) + " bytes for " +
                                          std::to_string(h.out_size));
        }
        break;
      default:
        return Fail(Errc::kUnsupported, "unknown patch op " + std::to_string(h.op) +
                                            " (made by a newer mln-diff?)");
    }
    uint64_t got = crypto::Xxh3(f.payload.span());
    if (got != h.out_checksum) {
      return Fail(Errc::kBadData, OpName(h.op) + " made bytes with XXH3 " + crypto::ToHex64(got) +
                                      ", the patch promises " + crypto::ToHex64(h.out_checksum));
    }
    return {};
  }

 private:
  // Ops that make each new byte from the base byte at the same place read as many base
  // bytes as they make.
  static Result<void> SameSizeRanges(const FrameHeader& h, std::string_view op) {
    if (h.base_size == h.out_size) return {};
    return Fail(Errc::kBadData, std::string(op) + " reads " + std::to_string(h.base_size) +
                                    " base bytes to make " + std::to_string(h.out_size));
  }

  Result<AlignedBuffer> ReadBase(const FrameHeader& h) const {
    AlignedBuffer b(h.base_size);
    MLN_RETURN_IF_ERROR(base_.ReadAt(h.base_offset, b.data(), h.base_size));
    uint64_t found = crypto::Xxh3(b.span());
    if (found != h.base_checksum) return Fail(BaseMismatch(base_, h, found));
    return b;
  }

  const ModelFile& base_;
  const ApplyOptions& options_;
};

// The serial check stage, in order after the parallel one: checks that the ops tile the
// new file, checks each keep run's XXH3 and feeds the SHA-256 of the whole output. It is a
// stage of its own, not part of the sink, so that this serial hashing (~1 GB/s) overlaps
// the writes of earlier ops and the making of later ones rather than adding to them.
class OutputCheck {
 public:
  explicit OutputCheck(ApplyStats& stats) : stats_(stats) {}

  Result<void> operator()(std::vector<Frame>& frames) {
    for (const Frame& f : frames) MLN_RETURN_IF_ERROR(Check(f));
    return {};
  }

  uint64_t made() const { return made_; }
  crypto::Sha256Digest Final() { return sha_.Final(); }

 private:
  Result<void> Check(const Frame& f) {
    const FrameHeader& h = f.header;
    if (!h.Is(FrameKind::kDelta)) return {};
    bool piece = h.op == static_cast<uint8_t>(PatchOp::kKeep);
    if (h.op < stats_.by_op.size() && (!piece || h.chunk_index == 0)) {
      ++stats_.by_op[h.op].ops;
      stats_.by_op[h.op].payload_bytes += h.decoded_size;
    }
    if (h.op < stats_.by_op.size()) stats_.by_op[h.op].out_bytes += h.out_size;
    if (h.out_size == 0) return {};
    if (h.file_offset != made_) {
      return Fail(Errc::kBadData, "op makes new bytes at " + std::to_string(h.file_offset) +
                                      ", expected " + std::to_string(made_) +
                                      " (ops must follow each other without gaps)");
    }
    made_ += f.payload.size();
    sha_.Update(f.payload.data(), f.payload.size());
    if (piece) {
      if (h.chunk_index == 0) run_.emplace();
      if (!run_) return Fail(Errc::kBadData, "keep piece without its run");
      run_->Update(f.payload.data(), f.payload.size());
      if (h.chunk_index + 1 == h.chunk_count && run_->Digest() != h.out_checksum) {
        return Fail(Errc::kBadData, "keep run made bytes with XXH3 " +
                                        crypto::ToHex64(run_->Digest()) + ", the patch promises " +
                                        crypto::ToHex64(h.out_checksum));
      }
    }
    return {};
  }

  ApplyStats& stats_;
  uint64_t made_ = 0;
  crypto::Sha256 sha_;
  std::optional<crypto::Xxh3Hasher> run_;
};

// The serial last stage: writes each op's bytes (already checked by OutputCheck) where the
// new file needs them and, at the end, compares the whole output with the patch's SHA-256.
class OutputSink final : public stream::FrameSink {
 public:
  OutputSink(ByteSink& out, const ApplyState& state, OutputCheck& check, ApplyStats& stats)
      : out_(out), state_(state), check_(check), stats_(stats) {}

  Result<void> Put(Frame f) override {
    const FrameHeader& h = f.header;
    if (!h.Is(FrameKind::kDelta) || h.out_size == 0) return {};
    if (auto ok = out_.Write(f.payload.data(), f.payload.size()); !ok) {
      return Fail(std::move(ok).error().WithFile(out_.name()));
    }
    return {};
  }

  Result<void> Finish() override {
    if (!state_.ended) return Fail(Errc::kBadData, "patch has no patch.end frame");
    if (check_.made() != state_.info.new_size || out_.position() != check_.made()) {
      return Fail(Errc::kBadData, "ops made " + std::to_string(out_.position()) +
                                      " bytes; the new file has " +
                                      std::to_string(state_.info.new_size));
    }
    std::string got = crypto::ToHex(check_.Final());
    if (got != state_.info.new_sha256) {
      return Fail(Errc::kBadData, "result has SHA-256 " + got + ", the patch promises " +
                                      state_.info.new_sha256);
    }
    stats_.bytes_written = out_.position();
    if (auto ok = out_.Flush(); !ok) return Fail(std::move(ok).error().WithFile(out_.name()));
    return {};
  }

 private:
  ByteSink& out_;
  const ApplyState& state_;
  OutputCheck& check_;
  ApplyStats& stats_;
};

}  // namespace

Result<ApplyStats> ApplyPatch(const ModelFile& base, ByteSource& patch, ByteSink& out,
                              const ApplyOptions& options) {
  stream::Reader reader(patch);
  verify::SignatureScan scan(reader);
  ApplyState state;
  ApplyStats stats;
  PatchSource source(reader, base, state, options, scan);
  OpApplier apply(base, options);
  OutputCheck check(stats);
  OutputSink sink(out, state, check, stats);
  stream::PipelineOptions popts;
  popts.threads = options.threads;
  popts.progress = options.progress;
  popts.ordered = [&](std::vector<Frame>& f) { return check(f); };
  // Each frame in flight holds a piece of output and, briefly, its base range: two per
  // thread keep both threads busy and memory near 4 pieces per thread.
  popts.frames_per_thread = 2;
  auto ok = stream::RunFramePipeline(source, sink,
                                     [&](std::vector<Frame>& f) { return apply(f); }, popts);
  if (!ok) return Fail(std::move(ok).error().WithFile(patch.name()));
  stats.info = state.info;
  stats.patch_frames = reader.frames_read();
  if (options.trust != nullptr) {
    verify::StreamReport report = scan.Finish(patch.position());
    auto accepted = verify::EvaluateTrust(report, *options.trust, options.state);
    if (!accepted) return Fail(std::move(accepted).error().WithFile(patch.name()));
    // The signed statement names the files too: they must be this patch's.
    if ((accepted->base_sha256 && *accepted->base_sha256 != state.info.base_sha256) ||
        (accepted->target_sha256 && *accepted->target_sha256 != state.info.new_sha256)) {
      return Fail(Error{Errc::kRejected, "signed manifest names other base or result digests",
                        patch.name()});
    }
    stats.accepted = *accepted;
  }
  return stats;
}

}  // namespace mln::delta
