#include "libstream/delta/diff.h"

#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <unordered_map>

#include "libstream/codecs/bundle.h"
#include "libstream/codecs/codec.h"
#include "libstream/crypto/digest.h"
#include "libstream/delta/idelta.h"
#include "libstream/delta/model_file.h"
#include "libstream/delta/patch.h"
#include "libstream/delta/zstd_prefix.h"
#include "libstream/kernels/delta.h"
#include "libstream/kernels/q8_delta.h"
#include "libstream/stream/pipeline.h"
#include "libstream/stream/writer.h"

namespace mln::delta {
namespace {

using stream::Frame;
using stream::FrameHeader;
using stream::FrameKind;

bool IsFloat(uint32_t dtype) {
  switch (static_cast<stream::Dtype>(dtype)) {
    case stream::Dtype::kF32:
    case stream::Dtype::kF16:
    case stream::Dtype::kBF16:
    case stream::Dtype::kF64:
    case stream::Dtype::kF8E4M3:
    case stream::Dtype::kF8E5M2:
      return true;
    default:
      return false;
  }
}

void SetOp(FrameHeader& h, PatchOp op) { h.op = static_cast<uint8_t>(op); }
bool HasOp(const FrameHeader& h, PatchOp op) { return h.op == static_cast<uint8_t>(op); }

// SHA-256 of a whole file, read in its own thread while the diff runs. A 256 KiB buffer
// stays in cache between read and hash; a 4 MiB one cost a page fault per 4 KiB of a
// small model, which for a 2.5 MB TFLite was a tenth of the diff.
Result<crypto::Sha256Digest> FileSha256(const ModelFile& file, const std::atomic<bool>& cancel) {
  crypto::Sha256 sha;
  AlignedBuffer buf(static_cast<size_t>(std::min<uint64_t>(file.size(), 256u << 10)));
  for (uint64_t at = 0; at < file.size() && !cancel.load(std::memory_order_relaxed);) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), file.size() - at));
    MLN_RETURN_IF_ERROR(file.ReadAt(at, buf.data(), n));
    sha.Update(buf.data(), n);
    at += n;
  }
  return sha.Final();
}

// Where a non-tensor range of the new file looks in the base: the base bytes right after
// the previous range's base bytes (`cont`), the same place in the base range of the same
// name and occurrence (`same`), and a window around it for the binary delta (`ref_*`).
struct BytesPlan {
  std::optional<uint64_t> cont, same;
  uint64_t ref_offset = 0, ref_size = 0;
};

// A tensor under kSmallTensor bytes may share an op with its neighbours, up to
// kMergedOpMax; a non-tensor range under kSmallGap (alignment padding) joins the op before it.
constexpr uint64_t kSmallTensor = 16u << 10;
constexpr uint64_t kSmallGap = 256;
constexpr uint64_t kMergedOpMax = 256u << 10;

// The serial first stage: walks the new model's frames in file order and decides what
// each should be made from. The decisions that need the bytes (keep or delta, which
// delta) are made in parallel by MakeOp.
class Planner final : public stream::FrameSource {
 public:
  Planner(stream::FrameSource& src, const ModelFile& base_file, const ModelIndex& base,
          const TensorMatch& match, const DiffOptions& options)
      : src_(src),
        base_file_(base_file),
        base_(base),
        match_(match),
        base_size_(base_file.size()),
        options_(options) {}

  Result<std::optional<Frame>> Next() override {
    MLN_TRY(auto f, Pull());
    if (!f) return f;
    FrameHeader& h = f->header;
    if (h.Is(FrameKind::kSource)) return Begin(h);
    if (!h.Is(FrameKind::kBytes) && !h.Is(FrameKind::kTensor)) return f;
    uint64_t n = f->payload.size();
    h.out_size = n;
    // A sparse TFLite tensor's values travel as u8; codecs::ValueDtype names their floats.
    const uint32_t values = h.Is(FrameKind::kTensor) ? codecs::ValueDtype(h) : h.dtype;
    h.attrs.clear();  // format facts of the new file: the patch does not need them
    if (h.Is(FrameKind::kTensor)) {
      PlanTensor(h, n);
      if (values != h.dtype && (HasOp(h, PatchOp::kInsert) || HasOp(h, PatchOp::kReplace))) {
        // The payload is the tensor's own bytes: say what they are, so mln-compress codes
        // them as floats (byte planes) rather than as opaque u8 (the attributes that told
        // are cleared above).
        uint64_t width = FloatLayoutOf(values)->width;
        if (h.tensor_bytes % width == 0 && n % width == 0) {
          h.dtype = values;
          h.shape = {static_cast<int64_t>(h.tensor_bytes / width)};
        }
      }
      MLN_RETURN_IF_ERROR(AbsorbNeighbours(*f));
    } else {
      PlanBytes(h, n);
    }
    return f;
  }

  BytesPlan TakePlan(uint64_t file_offset) {
    std::lock_guard lock(mu_);
    auto it = plans_.find(file_offset);
    if (it == plans_.end()) return {};
    BytesPlan p = it->second;
    plans_.erase(it);
    return p;
  }

 private:
  Result<std::optional<Frame>> Begin(const FrameHeader& source) {
    Frame begin;
    FrameHeader& h = begin.header;
    h.kind = static_cast<uint16_t>(FrameKind::kPatch);
    h.name = std::string(kBeginName);
    h.format = source.format;
    h.file_size = source.file_size;
    h.SetAttr(std::string(kAttrBaseSize), std::to_string(base_size_));
    h.SetAttr(std::string(kAttrBaseFormat), base_.source.format);
    h.SetAttr(std::string(kAttrNewSize), std::to_string(source.file_size));
    h.SetAttr(std::string(kAttrNewFormat), source.format);
    stream::SealFrame(begin);
    return begin;
  }

  void PlanTensor(FrameHeader& h, uint64_t n) {
    auto it = match_.base_of.find(h.name);
    if (it == match_.base_of.end()) {
      SetOp(h, PatchOp::kInsert);
      return;
    }
    const IndexEntry& b = base_.entries[it->second];
    if (b.tmpl.dtype != h.dtype || b.size != h.tensor_bytes) {
      SetOp(h, PatchOp::kReplace);
      h.base_offset = b.offset;  // which base tensor it replaces, for mln-inspect
      return;
    }
    SetOp(h, IsFloat(h.dtype) ? PatchOp::kXor : PatchOp::kSub);
    h.base_offset = b.offset + h.tensor_offset;
    h.base_size = n;
    next_base_ = h.base_offset + n;
  }

  // The next frame of the new model: the one a merge looked at and left, or a new one.
  Result<std::optional<Frame>> Pull() {
    if (held_) return std::exchange(held_, std::nullopt);
    if (src_done_) return std::optional<Frame>();
    MLN_TRY(auto f, src_.Next());
    if (!f) src_done_ = true;
    return f;
  }

  // Small tensors (norms, biases, per-channel scales) are most of a model's tensors but few
  // of its bytes, and the alignment padding between tensors is a bytes range of its own. As
  // one op each, every one costs a frame (~300 bytes of prefix, header and padding) and a
  // payload too short to compress well: on a real 15 MB GGUF that was 10% of the patch. So
  // a tensor op takes in the padding after it, and a run of small tensors of one dtype that
  // lie back to back in both files, each matched to its base tensor, becomes one op over
  // their whole range: the element-wise ops do not care where one tensor ends. `run.frames`
  // and `run.last` name what the op covers.
  Result<void> AbsorbNeighbours(Frame& f) {
    FrameHeader& h = f.header;
    if (!Mergeable(h)) return {};
    bool small_run = h.out_size < kSmallTensor && h.chunk_count <= 1;
    // An unchanged tensor stays out of merged ops: as a keep it joins the keep runs, which
    // cost 8 bytes per run.piece, and its base bytes are checked, not differenced.
    if (small_run) {
      MLN_TRY(bool same, SameAsBase(h, f.payload.span()));
      if (same) return {};
    }
    uint64_t width = 1;
    if (auto layout = FloatLayoutOf(h.dtype)) width = layout->width;
    std::string last;
    uint64_t frames = 1;
    while (h.out_size < kMergedOpMax) {
      MLN_TRY(held_, Pull());
      if (!held_) break;
      FrameHeader& g = held_->header;
      uint64_t n = held_->payload.size();
      if (g.file_offset != h.file_offset + h.out_size) break;
      uint64_t base_end = h.base_offset + h.base_size;
      if (g.Is(FrameKind::kBytes) && n < kSmallGap && n % width == 0 &&
          base_end + n <= base_size_) {
        if (g.chunk_index == 0) ++occurrences_[g.name];  // as PlanBytes would count it
        next_base_ = base_end + n;
      } else if (small_run && g.Is(FrameKind::kTensor) && g.dtype == h.dtype &&
                 g.chunk_count <= 1 && n < kSmallTensor) {
        g.out_size = n;
        PlanTensor(g, n);
        bool joins = Mergeable(g) && g.base_offset == base_end;
        if (joins) {
          MLN_TRY(bool same, SameAsBase(g, held_->payload.span()));
          joins = !same;
        }
        if (!joins) {
          next_base_ = base_end;  // g is planned again when Next() takes it
          break;
        }
        last = g.name;
      } else {
        break;
      }
      f.payload.Append(held_->payload.data(), n);
      h.out_size += n;
      h.base_size += n;
      ++frames;
      held_.reset();
    }
    if (frames > 1) {
      h.shape.clear();
      h.tensor_bytes = h.out_size;
      h.SetAttr(std::string(kAttrRunFrames), std::to_string(frames));
      if (!last.empty()) h.SetAttr(std::string(kAttrRunLast), last);
    }
    return {};
  }

  // Whether a small tensor planned against its base equals it (read here, in the serial
  // stage: at most kSmallTensor bytes).
  Result<bool> SameAsBase(const FrameHeader& h, std::span<const uint8_t> bytes) const {
    if (bytes.empty()) return true;
    AlignedBuffer base(bytes.size());
    MLN_RETURN_IF_ERROR(base_file_.ReadAt(h.base_offset, base.data(), bytes.size()));
    return std::memcmp(base.data(), bytes.data(), bytes.size()) == 0;
  }

  // Planned as a delta against a base tensor of the same dtype and size (xor or sub).
  static bool Mergeable(const FrameHeader& h) {
    return h.Is(FrameKind::kTensor) && (HasOp(h, PatchOp::kXor) || HasOp(h, PatchOp::kSub));
  }

  void PlanBytes(FrameHeader& h, uint64_t n) {
    if (h.chunk_index == 0) ordinal_ = occurrences_[h.name]++;
    BytesPlan p;
    if (next_base_ + n <= base_size_) p.cont = next_base_;
    const IndexEntry* ref = nullptr;
    if (auto it = base_.bytes_by_name.find(h.name); it != base_.bytes_by_name.end()) {
      const auto& list = it->second;
      ref = &base_.entries[list[std::min<size_t>(ordinal_, list.size() - 1)]];
    }
    uint64_t w = options_.bytes_window;
    uint64_t rel = h.tensor_offset;
    if (ref != nullptr && ref->size > 0) {
      if (rel + n <= ref->size) p.same = ref->offset + rel;
      uint64_t lo = rel > w ? rel - w : 0;
      uint64_t hi = std::min(ref->size, rel + n + w);
      if (lo >= hi) lo = hi > n + 2 * w ? hi - n - 2 * w : 0;  // past its end: its tail
      p.ref_offset = ref->offset + lo;
      p.ref_size = hi - lo;
    } else if (base_size_ > 0 && !IdeltaWidth(h.dtype)) {
      // No range of that name in the base: look around where the bytes would continue. A
      // typed integer array (a sparse tensor's indices) has nothing to match there: an
      // unrelated window would only cost a level-19 pass over up to twice bytes_window.
      uint64_t c = std::min(next_base_, base_size_);
      uint64_t lo = c > w ? c - w : 0;
      p.ref_offset = lo;
      p.ref_size = std::min(base_size_, c + n + w) - lo;
    }
    SetOp(h, PatchOp::kZdelta);
    {
      std::lock_guard lock(mu_);
      plans_[h.file_offset] = p;
    }
    next_base_ += n;
  }

  stream::FrameSource& src_;
  const ModelFile& base_file_;
  const ModelIndex& base_;
  const TensorMatch& match_;
  uint64_t base_size_;
  const DiffOptions& options_;
  uint64_t next_base_ = 0;
  uint32_t ordinal_ = 0;
  std::unordered_map<std::string, uint32_t> occurrences_;
  std::mutex mu_;
  std::unordered_map<uint64_t, BytesPlan> plans_;
  std::optional<Frame> held_;
  bool src_done_ = false;
};

// Stored size of `bytes` after mln-compress's codecs at level 1: how the candidate ops of
// one tensor chunk are compared.
size_t EstimateStored(std::span<const uint8_t> bytes, uint32_t dtype) {
  Frame f;
  f.header.dtype = dtype;
  f.payload.Resize(bytes.size());
  std::memcpy(f.payload.data(), bytes.data(), bytes.size());
  stream::SealFrame(f);
  if (!codecs::EncodeFrame(f, {.level = 1})) return bytes.size();
  return f.payload.size();
}

// Writes `op`'s payload for `target` against `base` (n bytes each) to `out`, which holds
// kernels::SparseBound(n) bytes; returns the payload size, 0 when the op cannot code it (a
// Q8_0 delta that would not fit there is no candidate).
size_t MakeDelta(PatchOp op, const uint8_t* base, const uint8_t* target, size_t n,
                 uint32_t dtype, uint8_t* out) {
  if (op == PatchOp::kSparse) return kernels::EncodeSparse(base, target, n, out);
  if (op == PatchOp::kQ8delta) return kernels::EncodeQ8Delta(base, target, n, out, kernels::SparseBound(n));
  if (op == PatchOp::kFdelta) {
    auto layout = *FloatLayoutOf(dtype);
    kernels::EncodeFloatDelta(base, target, n / layout.width, layout, out);
    return n;
  }
  if (out != target) std::memcpy(out, target, n);
  if (op == PatchOp::kXor) kernels::XorBytes(out, base, n);
  else if (op == PatchOp::kSub) kernels::SubBytes(out, base, n);
  return n;
}

// The ops worth trying on a changed tensor of `dtype`, best guess first.
std::vector<PatchOp> CandidateOps(uint32_t dtype, uint64_t n) {
  auto layout = FloatLayoutOf(dtype);
  if (layout && n % layout->width == 0) return {PatchOp::kFdelta, PatchOp::kXor, PatchOp::kSub};
  if (IsFloat(dtype)) return {PatchOp::kXor, PatchOp::kSub};
  if (dtype == static_cast<uint32_t>(stream::Dtype::kQ8_0)) {
    return {PatchOp::kQ8delta, PatchOp::kSub, PatchOp::kSparse, PatchOp::kXor};
  }
  return {PatchOp::kSub, PatchOp::kSparse, PatchOp::kXor};
}

// A base window that non-tensor ranges of the new file are delta-coded against, with its
// checksum.
struct Window {
  Window(AlignedBuffer bytes, int level, bool shared)
      : checksum(crypto::Xxh3(bytes.span())), prefix(std::move(bytes), level, shared) {}
  uint64_t checksum;
  SharedPrefix prefix;
};

// The zstd level of a binary delta of `n` bytes against a `window` of base bytes. zstd
// indexes the whole window before it reads the input, and at level 19 that costs about a
// third of compressing as many input bytes. A renumbered TFLite buffer has no base range of
// its name and looks into the whole base file: 544 bytes against the 2 MB base of the arch
// hand pair took 0.26 s, 492 bytes against the prune pair's 1 MB base 0.4 s (CPU, one
// thread), each most of its diff. Past kWindowPerInput, level 3 indexes ~25x faster and
// what it misses cost a few hundred bytes per pair (prune +120, arch pose +768, of patches of
// 0.44 and 5.6 MB); up to 64x the input, where a delta's gains are, level 19 stays.
constexpr uint64_t kWindowPerInput = 64;
constexpr int kFastDeltaLevel = 3;
int DeltaLevel(uint64_t n, uint64_t window, int level) {
  return window > kWindowPerInput * n ? std::min(level, kFastDeltaLevel) : level;
}

// The base windows ops used last, by base range and level. Many small ranges of a new file
// may look into one window: in a pruned TFLite model, the ~140 flatbuffer pieces past the
// last one the base has all take the base's last piece; reading, hashing and (at level 19,
// most of the time) indexing it again for each was most of that diff. Windows stay while
// their bytes and tables fit kBudget, least recently used out first; a window larger than
// kLargest is read for its op alone, as before, so memory stays bounded.
class WindowCache {
 public:
  explicit WindowCache(const ModelFile& base) : base_(base) {}

  Result<std::shared_ptr<Window>> Get(uint64_t offset, uint64_t size, int level) {
    auto read = [&](bool shared) -> Result<std::shared_ptr<Window>> {
      AlignedBuffer bytes(size);
      MLN_RETURN_IF_ERROR(base_.ReadAt(offset, bytes.data(), size));
      return std::make_shared<Window>(std::move(bytes), level, shared);
    };
    if (size > kLargest) return read(false);
    std::lock_guard lock(mu_);
    for (auto it = recent_.begin(); it != recent_.end(); ++it) {
      if (it->offset == offset && it->size == size && it->level == level) {
        recent_.splice(recent_.begin(), recent_, it);
        return recent_.front().window;
      }
    }
    MLN_TRY(auto w, read(true));
    recent_.push_front({offset, size, level, w});
    size_t held = 0;
    for (auto it = recent_.begin(); it != recent_.end();) {
      held += it->window->prefix.footprint();
      if (it != recent_.begin() && held > kBudget) {
        it = recent_.erase(it);  // an op still using it keeps it alive until done
      } else {
        ++it;
      }
    }
    return w;
  }

 private:
  static constexpr uint64_t kLargest = 4u << 20;
  static constexpr size_t kBudget = 96u << 20;
  struct Entry {
    uint64_t offset, size;
    int level;
    std::shared_ptr<Window> window;
  };
  const ModelFile& base_;
  std::mutex mu_;
  std::list<Entry> recent_;
};

// The parallel stage: turns one planned frame of the new file into its op.
class OpMaker {
 public:
  OpMaker(const ModelFile& base, Planner& planner, const DiffOptions& options)
      : base_(base), planner_(planner), options_(options), windows_(base) {}

  Result<void> operator()(std::vector<Frame>& frames) const {
    Frame& f = frames.front();
    FrameHeader& h = f.header;
    if (!h.Is(FrameKind::kBytes) && !h.Is(FrameKind::kTensor)) return {};
    h.kind = static_cast<uint16_t>(FrameKind::kDelta);
    h.out_checksum = crypto::Xxh3(f.payload.span());
    switch (static_cast<PatchOp>(h.op)) {
      case PatchOp::kXor:
      case PatchOp::kSub:
        MLN_RETURN_IF_ERROR(TensorDelta(f));
        break;
      case PatchOp::kZdelta:
        MLN_RETURN_IF_ERROR(BytesDelta(f));
        break;
      default:
        break;  // insert, replace: the payload is the new bytes
    }
    if (HasOp(h, PatchOp::kKeep)) return {};  // the sink folds it into a run
    stream::SealFrame(f);
    if (options_.compress_level) {
      MLN_RETURN_IF_ERROR(codecs::EncodeFrame(f, {.level = *options_.compress_level}));
    }
    return {};
  }

 private:
  Result<void> TensorDelta(Frame& f) const {
    FrameHeader& h = f.header;
    size_t n = f.payload.size();
    AlignedBuffer base(n);
    MLN_RETURN_IF_ERROR(base_.ReadAt(h.base_offset, base.data(), n));
    if (std::memcmp(base.data(), f.payload.data(), n) == 0) {
      SetOp(h, PatchOp::kKeep);
      h.base_checksum = h.out_checksum;
      return {};
    }
    h.base_checksum = crypto::Xxh3(base.span());
    // A trial on a sample from the middle of the chunk, whole blocks of the dtype, picks
    // the op; sending the bytes as they are (replace) competes too, for a tensor retrained
    // from scratch that has nothing left of its base.
    uint64_t block = 1;
    if (auto info = stream::GetDtypeInfo(h.dtype)) block = std::max<uint64_t>(info->block_bytes, 1);
    size_t sample = static_cast<size_t>(std::min<uint64_t>(n, (64u << 10) / block * block));
    if (sample == 0) sample = n;
    size_t start = static_cast<size_t>((n - sample) / 2 / block * block);
    std::span<const uint8_t> target_sample = f.payload.span().subspan(start, sample);
    PatchOp best = PatchOp::kReplace;
    size_t best_size = EstimateStored(target_sample, h.dtype);
    AlignedBuffer trial(kernels::SparseBound(sample));
    for (PatchOp op : CandidateOps(h.dtype, n)) {
      size_t made =
          MakeDelta(op, base.data() + start, target_sample.data(), sample, h.dtype, trial.data());
      if (made == 0 && sample > 0) continue;  // the op cannot code it
      size_t size = EstimateStored(trial.span().first(made), h.dtype);
      if (size < best_size) {
        best_size = size;
        best = op;
      }
    }
    SetOp(h, best);
    if (best == PatchOp::kReplace) {
      h.base_size = 0;
      h.base_checksum = 0;
    } else if (best == PatchOp::kFdelta || best == PatchOp::kSparse ||
               best == PatchOp::kQ8delta) {
      AlignedBuffer delta(kernels::SparseBound(n));
      size_t made = MakeDelta(best, base.data(), f.payload.data(), n, h.dtype, delta.data());
      if (made == 0 && n > 0) {  // the sample fitted, the whole does not: send it as it is
        SetOp(h, PatchOp::kReplace);
        h.base_size = 0;
        h.base_checksum = 0;
        return {};
      }
      delta.Resize(made);
      f.payload = std::move(delta);
    } else {
      MakeDelta(best, base.data(), f.payload.data(), n, h.dtype, f.payload.data());
    }
    return {};
  }

  Result<void> BytesDelta(Frame& f) const {
    FrameHeader& h = f.header;
    size_t n = f.payload.size();
    BytesPlan p = planner_.TakePlan(h.file_offset);
    AlignedBuffer probe(n);
    for (std::optional<uint64_t> at : {p.cont, p.same}) {
      if (!at) continue;
      MLN_RETURN_IF_ERROR(base_.ReadAt(*at, probe.data(), n));
      if (std::memcmp(probe.data(), f.payload.data(), n) == 0) {
        SetOp(h, PatchOp::kKeep);
        h.base_offset = *at;
        h.base_size = n;
        h.base_checksum = h.out_checksum;
        return {};
      }
    }
    probe = AlignedBuffer();
    auto width = IdeltaWidth(h.dtype);
    std::shared_ptr<Window> window;
    const int level = DeltaLevel(n, p.ref_size, options_.bytes_level);
    if (p.ref_size > 0 && n > 0) {
      MLN_TRY(window, windows_.Get(p.ref_offset, p.ref_size, level));
    }
    std::span<const uint8_t> ref = window ? window->prefix.bytes() : std::span<const uint8_t>();
    std::optional<AlignedBuffer> best;
    if (!ref.empty()) {
      // A range that is its base but for a few bytes (a metadata edit) is a few long matches,
      // which level 3 finds too: if its delta is under 1/1024 of the input, level 19 could
      // save less than that, at ~25x the cost (for the 100 KB tail of a 2.5 MB TFLite whose
      // description changed, a tenth of the diff). No zstd frame is under 9 bytes (magic,
      // frame header, block header, a byte of block), so below 9 KiB of input the trial
      // cannot succeed: the ~2 KB flatbuffer pieces of a pruned TFLite model spent a tenth
      // of their diff on it.
      constexpr size_t kSmallestFrame = 9;
      if (level > kFastDeltaLevel && n / 1024 >= kSmallestFrame) {
        MLN_TRY(AlignedBuffer z, CompressWithPrefix(f.payload.span(), ref, kFastDeltaLevel));
        if (z.size() <= n / 1024) best = std::move(z);
      }
      if (!best) {
        MLN_TRY(AlignedBuffer z, window->prefix.Compress(f.payload.span()));
        if (z.size() < n) best = std::move(z);
      }
    }
    // Typed integer arrays compete as differences against their base. With no base range
    // to match (a sparse tensor's indices, new in a pruned model) they stay an insert:
    // mln-compress codes sorted indices smaller (bitmaps, codec 6) and far faster than a
    // level-19 frame of their differences, which was most of the prune pair's diff.
    if (width && !ref.empty() && n > 0 && n % *width == 0) {
      MLN_TRY(AlignedBuffer d, EncodeIdelta(f.payload.span(), ref, *width, level));
      if (d.size() < (best ? best->size() : n)) {
        SetOp(h, PatchOp::kIdelta);
        best = std::move(d);
      }
    }
    if (best) {
      h.base_offset = window ? p.ref_offset : 0;
      h.base_size = ref.size();
      h.base_checksum = window ? window->checksum : crypto::Xxh3(ref);
      f.payload = std::move(*best);
      return {};
    }
    SetOp(h, PatchOp::kInsert);
    h.base_offset = 0;
    h.base_size = 0;
    return {};
  }

  const ModelFile& base_;
  Planner& planner_;
  const DiffOptions& options_;
  mutable WindowCache windows_;
};

// The serial last stage: folds consecutive keeps whose base bytes are consecutive too into
// one run (so an unchanged model costs a few frames, not one per tensor), hashes each
// run.piece bytes of a run so mln-apply can check base bytes before it uses them, and
// writes everything else as it comes.
class PatchSink final : public stream::FrameSink {
 public:
  using Tail = std::function<Result<std::vector<Frame>>()>;
  PatchSink(stream::FrameSink& out, uint64_t piece, DiffStats& stats, Tail tail)
      : out_(out), piece_(piece), stats_(stats), tail_(std::move(tail)) {}

  Result<void> Put(Frame f) override {
    FrameHeader& h = f.header;
    if (h.Is(FrameKind::kDelta) && HasOp(h, PatchOp::kKeep)) {
      bool extends = run_ && run_->h.file_offset + run_->h.out_size == h.file_offset &&
                     run_->h.base_offset + run_->h.base_size == h.base_offset;
      if (!extends) {
        MLN_RETURN_IF_ERROR(FlushRun());
        StartRun(h);
      }
      Feed(f.payload.span());
      run_->h.out_size += f.payload.size();
      run_->h.base_size += f.payload.size();
      ++run_->frames;
      run_->last = h.name;
      return {};
    }
    MLN_RETURN_IF_ERROR(FlushRun());
    return Write(std::move(f));
  }

  Result<void> Finish() override {
    MLN_RETURN_IF_ERROR(FlushRun());
    MLN_TRY(auto tail, tail_());
    for (Frame& f : tail) MLN_RETURN_IF_ERROR(Write(std::move(f)));
    return out_.Finish();
  }

 private:
  struct Run {
    Run() {}  // clang wants it declared for optional<Run>::emplace() of a nested class
    FrameHeader h;
    crypto::Xxh3Hasher whole;
    std::optional<crypto::Xxh3Hasher> piece;
    uint64_t in_piece = 0;
    std::vector<uint64_t> hashes;
    uint64_t frames = 0;
    std::string last;
  };

  void StartRun(const FrameHeader& first) {
    run_.emplace();
    FrameHeader& h = run_->h;
    h.kind = static_cast<uint16_t>(FrameKind::kDelta);
    h.name = first.name;
    h.dtype = first.dtype;
    h.shape = first.shape;
    h.tensor_offset = first.tensor_offset;
    h.tensor_bytes = first.tensor_bytes;
    h.file_offset = first.file_offset;
    h.base_offset = first.base_offset;
    SetOp(h, PatchOp::kKeep);
    run_->piece.emplace();
  }

  void Feed(std::span<const uint8_t> bytes) {
    run_->whole.Update(bytes.data(), bytes.size());
    while (!bytes.empty()) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(bytes.size(), piece_ - run_->in_piece));
      run_->piece->Update(bytes.data(), take);
      run_->in_piece += take;
      bytes = bytes.subspan(take);
      if (run_->in_piece == piece_) {
        run_->hashes.push_back(run_->piece->Digest());
        run_->piece.emplace();
        run_->in_piece = 0;
      }
    }
  }

  Result<void> FlushRun() {
    if (!run_) return {};
    if (run_->in_piece > 0) run_->hashes.push_back(run_->piece->Digest());
    Frame f;
    f.header = std::move(run_->h);
    FrameHeader& h = f.header;
    h.base_checksum = h.out_checksum = run_->whole.Digest();
    h.chunk_count = static_cast<uint32_t>(run_->hashes.size());
    h.SetAttr(std::string(kAttrPiece), std::to_string(piece_));
    h.SetAttr(std::string(kAttrRunFrames), std::to_string(run_->frames));
    if (run_->last != h.name) h.SetAttr(std::string(kAttrRunLast), run_->last);
    f.payload.Resize(run_->hashes.size() * 8);
    for (size_t i = 0; i < run_->hashes.size(); ++i) {
      for (int b = 0; b < 8; ++b) {
        f.payload.data()[i * 8 + b] = static_cast<uint8_t>(run_->hashes[i] >> (8 * b));
      }
    }
    run_.reset();
    stream::SealFrame(f);
    return Write(std::move(f));
  }

  Result<void> Write(Frame f) {
    if (f.header.Is(FrameKind::kDelta) && f.header.op < stats_.by_op.size()) {
      OpTotals& t = stats_.by_op[f.header.op];
      ++t.ops;
      t.out_bytes += f.header.out_size;
      t.payload_bytes += f.payload.size();
    }
    return out_.Put(std::move(f));
  }

  stream::FrameSink& out_;
  uint64_t piece_;
  DiffStats& stats_;
  Tail tail_;
  std::optional<Run> run_;
};

bool SameShape(const IndexEntry& a, const IndexEntry& b) {
  return a.tmpl.dtype == b.tmpl.dtype && a.tmpl.shape == b.tmpl.shape && a.size == b.size;
}

}  // namespace

TensorMatch MatchTensors(const ModelIndex& base, const ModelIndex& target) {
  TensorMatch m;
  std::vector<size_t> orphans;
  for (size_t i : base.tensors) {
    if (!target.tensor_by_name.contains(base.entries[i].tmpl.name)) orphans.push_back(i);
  }
  std::vector<bool> claimed(orphans.size(), false);
  for (size_t j : target.tensors) {
    const IndexEntry& e = target.entries[j];
    if (auto it = base.tensor_by_name.find(e.tmpl.name); it != base.tensor_by_name.end()) {
      m.base_of.emplace(e.tmpl.name, it->second);
      continue;
    }
    size_t best = orphans.size();
    uint64_t best_distance = std::numeric_limits<uint64_t>::max();
    for (size_t k = 0; k < orphans.size(); ++k) {
      const IndexEntry& o = base.entries[orphans[k]];
      if (claimed[k] || !SameShape(o, e)) continue;
      uint64_t d = o.ordinal > e.ordinal ? o.ordinal - e.ordinal : e.ordinal - o.ordinal;
      if (d < best_distance) {
        best_distance = d;
        best = k;
      }
    }
    if (best < orphans.size()) {
      claimed[best] = true;
      m.base_of.emplace(e.tmpl.name, orphans[best]);
    }
  }
  for (size_t k = 0; k < orphans.size(); ++k) {
    if (!claimed[k]) m.deleted.push_back(orphans[k]);
  }
  return m;
}

Result<DiffStats> DiffModels(ByteSource& base_src, ByteSource& target_src, ByteSink& out,
                             const DiffOptions& options) {
  // Opening a model parses it (a TFLite's whole FlatBuffer is verified): the two are
  // opened and indexed on two threads, which for a pair of 2.5 MB TFLites one after the
  // other was a sixth of the diff.
  struct Side {
    std::unique_ptr<ModelFile> file;
    ModelIndex index;
  };
  auto open = [&options](ByteSource& src) -> Result<Side> {
    MLN_TRY(auto file, ModelFile::Open(src, options.parse));
    MLN_TRY(ModelIndex index, IndexModel(*file, options.parse));
    return Side{std::move(file), std::move(index)};
  };
  auto base_side = std::async(std::launch::async, open, std::ref(base_src));
  Result<Side> target_side = open(target_src);
  MLN_TRY(Side base_opened, base_side.get());
  if (!target_side) return Fail(std::move(target_side).error());
  std::unique_ptr<ModelFile> base = std::move(base_opened.file);
  std::unique_ptr<ModelFile> target = std::move(target_side->file);
  const ModelIndex& base_index = base_opened.index;
  const ModelIndex& target_index = target_side->index;
  TensorMatch match = MatchTensors(base_index, target_index);

  DiffStats stats;
  stats.base_size = base->size();
  stats.new_size = target->size();
  stats.base_format = base_index.source.format;
  stats.new_format = target_index.source.format;
  std::atomic<bool> cancel{false};
  auto base_sha = std::async(std::launch::async, [&] { return FileSha256(*base, cancel); });
  auto target_sha = std::async(std::launch::async, [&] { return FileSha256(*target, cancel); });
  struct CancelOnExit {
    std::atomic<bool>& flag;
    ~CancelOnExit() { flag.store(true); }
  } cancel_on_exit{cancel};

  std::unique_ptr<ByteSource> reader;
  MLN_TRY(auto frames, OpenFrames(*target, options.parse, reader));
  Planner planner(*frames, *base, base_index, match, options);
  OpMaker make_op(*base, planner, options);

  auto tail = [&]() -> Result<std::vector<Frame>> {
    std::vector<Frame> out_frames;
    for (size_t i : match.deleted) {
      const IndexEntry& e = base_index.entries[i];
      Frame f;
      FrameHeader& h = f.header;
      h.kind = static_cast<uint16_t>(FrameKind::kDelta);
      SetOp(h, PatchOp::kDelete);
      h.name = e.tmpl.name;
      h.dtype = e.tmpl.dtype;
      h.shape = e.tmpl.shape;
      h.file_offset = target->size();
      h.base_offset = e.offset;
      h.base_size = e.size;
      h.out_checksum = crypto::Xxh3({});
      stream::SealFrame(f);
      out_frames.push_back(std::move(f));
    }
    auto b = base_sha.get();
    if (!b) return Fail(std::move(b).error());
    auto t = target_sha.get();
    if (!t) return Fail(std::move(t).error());
    stats.base_sha256 = crypto::ToHex(*b);
    stats.new_sha256 = crypto::ToHex(*t);
    Frame end;
    end.header.kind = static_cast<uint16_t>(FrameKind::kPatch);
    end.header.name = std::string(kEndName);
    end.header.SetAttr(std::string(kAttrBaseSha256), stats.base_sha256);
    end.header.SetAttr(std::string(kAttrNewSha256), stats.new_sha256);
    stream::SealFrame(end);
    out_frames.push_back(std::move(end));
    return out_frames;
  };

  stream::Writer writer(out, stream::WriterOptions{.background = true});
  // Compressing in one step (-l) packs small op frames into bundles, as mln-compress does.
  std::optional<codecs::BundleSink> bundles;
  if (options.compress_level) bundles.emplace(writer, *options.compress_level);
  stream::FrameSink& to = bundles ? static_cast<stream::FrameSink&>(*bundles) : writer;
  PatchSink sink(to, options.parse.chunk_size, stats, tail);
  stream::PipelineOptions popts;
  popts.threads = options.threads;
  popts.progress = options.progress;
  auto ok = stream::RunFramePipeline(planner, sink,
                                     [&](std::vector<Frame>& f) { return make_op(f); }, popts);
  if (!ok) return Fail(std::move(ok).error().WithFile(target->name()));
  stats.frames = writer.frames_written();
  stats.patch_bytes = out.position();
  return stats;
}

}  // namespace mln::delta
