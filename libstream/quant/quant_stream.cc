// QuantizeStream: the serial reading stage plans each GGUF model from its header and
// places every frame in the new file layout; the parallel stage converts tensor chunks.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>

#include <nlohmann/json.hpp>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "libstream/codecs/codec.h"
#include "libstream/formats/format.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/kernels/quant_blocks.h"
#include "libstream/quant/gguf_rewrite.h"
#include "libstream/quant/quant.h"
#include "libstream/stream/pipeline.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"

namespace mln::quant {
namespace {

using stream::Dtype;
using stream::Frame;
using stream::FrameHeader;
using stream::FrameKind;

// Attributes the reading stage hands to the converting stage; removed before output.
constexpr char kAttrTo[] = "mln-quant.to";
constexpr char kAttrGamma[] = "mln-quant.gamma";
constexpr char kAttrSlot[] = "mln-quant.slot";
constexpr char kAttrElem[] = "mln-quant.elem";

constexpr uint32_t D(Dtype d) { return static_cast<uint32_t>(d); }

// Per-tensor reports, written by the reading stage (planning) and the converting stage
// (quality); a deque keeps references stable while it grows.
struct Shared {
  std::mutex mu;
  std::deque<TensorReport> reports;
  std::atomic<uint64_t> float_bytes{0};
  uint32_t file_type = 0;
};

void RemoveAttr(FrameHeader& h, std::string_view key) {
  std::erase_if(h.attrs, [&](const stream::Attribute& a) { return a.key == key; });
}

Frame BytesFrame(std::string name, uint64_t file_offset, std::span<const uint8_t> bytes,
                 uint64_t tensor_offset, uint64_t total, uint32_t index, uint32_t count) {
  Frame f;
  f.header.kind = static_cast<uint16_t>(FrameKind::kBytes);
  f.header.name = std::move(name);
  f.header.file_offset = file_offset;
  f.header.tensor_offset = tensor_offset;
  f.header.tensor_bytes = total;
  f.header.chunk_index = index;
  f.header.chunk_count = count;
  f.payload.Resize(bytes.size());
  if (!bytes.empty()) std::memcpy(f.payload.data(), bytes.data(), bytes.size());
  stream::SealFrame(f);
  return f;
}

// Float view of `n` f32 / f16 / bf16 elements at `in` (4-byte aligned for f32).
const float* AsFloats(uint32_t dtype, const uint8_t* in, size_t n, std::vector<float>& tmp) {
  if (dtype == D(Dtype::kF32)) return reinterpret_cast<const float*>(in);
  tmp.resize(n);
  const auto* h = reinterpret_cast<const uint16_t*>(in);
  if (dtype == D(Dtype::kF16)) {
    kernels::F16ToF32Row(h, n, tmp.data());
  } else {
    kernels::BF16ToF32Row(h, n, tmp.data());
  }
  return tmp.data();
}

std::optional<size_t> FirstNonFinite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, 4);
    if ((b & 0x7f800000u) == 0x7f800000u) return i;
  }
  return std::nullopt;
}

// The reading stage. Holds a source frame until its GGUF header is complete, then emits
// the rewritten header and every later frame at its new place; drops the input's padding
// and emits the new padding; gathers each ternary tensor to compute its scale.
class QuantSource final : public stream::FrameSource {
 public:
  QuantSource(stream::FrameSource& up, bool sealed, const QuantOptions& o, Shared& shared)
      : up_(up), sealed_(sealed), o_(o), shared_(shared) {}

  ~QuantSource() override {
    if (spool_) std::fclose(spool_);
  }

  Result<std::optional<Frame>> Next() override {
    while (true) {
      if (!queue_.empty()) {
        Frame f = std::move(queue_.front());
        queue_.pop_front();
        return f;
      }
      if (replay_ < spooled_.size()) {
        MLN_TRY(Frame f, Replay());
        return f;
      }
      if (done_) return std::nullopt;
      MLN_RETURN_IF_ERROR(Pull());
    }
  }

 private:
  Result<std::optional<Frame>> Upstream() {
    MLN_TRY(auto f, up_.Next());
    if (f && !sealed_) {
      // Parsed frames are raw and carry no checksum yet: the converting stage seals the
      // payload frames (in parallel); the others have no payload to speak of.
      if (f->header.Is(FrameKind::kBytes) || f->header.Is(FrameKind::kTensor)) {
        f->header.codec = static_cast<uint8_t>(stream::Codec::kRaw);
        f->header.decoded_size = f->payload.size();
      } else {
        stream::SealFrame(*f);
      }
    }
    if (f && o_.progress != nullptr) o_.progress->OnFrame(f->header);
    return f;
  }

  Result<void> Pull() {
    MLN_TRY(auto next, Upstream());
    if (!next) {
      if (source_ && !plan_) return Fail(Errc::kBadData, "stream ends before the GGUF header");
      MLN_RETURN_IF_ERROR(FinishModel());
      done_ = true;
      return {};
    }
    Frame f = std::move(*next);
    const FrameHeader& h = f.header;
    if (h.Is(FrameKind::kSource)) {
      MLN_RETURN_IF_ERROR(FinishModel());
      if (h.format != "gguf") {
        return Fail(Errc::kBadData, "quantization writes GGUF; input is " +
                                        (h.format.empty() ? std::string("unknown") : h.format));
      }
      source_ = std::move(f.header);
      plan_.reset();
      header_.clear();
      return {};
    }
    if (h.Is(FrameKind::kSignature)) {
      Note("dropping a signature frame: the signed content changes");
      return {};
    }
    if (!h.Is(FrameKind::kBytes) && !h.Is(FrameKind::kTensor)) {
      queue_.push_back(std::move(f));  // invariant 5: unknown kinds pass through
      return {};
    }
    if (!source_) {
      queue_.push_back(std::move(f));  // not inside a model: nothing to place
      return {};
    }
    if (!plan_) {
      if (!h.Is(FrameKind::kBytes) || h.name != "gguf.header") {
        return Fail(Errc::kBadData, "expected the gguf.header frames after the source frame, found '" +
                                        h.name + "'");
      }
      return AddHeader(std::move(f));
    }
    if (h.Is(FrameKind::kTensor)) return AddTensor(std::move(f));
    if (h.name == "gguf.padding") return {};  // regenerated for the new layout
    if (h.name == "gguf.tail") {
      tail_ += h.decoded_size;
      uint64_t pad = (plan_->in_data_end + plan_->alignment - 1) / plan_->alignment *
                         plan_->alignment - plan_->in_data_end;
      if (tail_ > pad) {
        return Fail(Errc::kUnsupported,
                    "the GGUF file has " + std::to_string(tail_ - pad) +
                        " bytes after its aligned data section; mln-quant does not carry them");
      }
      return {};
    }
    return Fail(Errc::kBadData, "unexpected bytes frame '" + h.name + "' in a GGUF stream");
  }

  Result<void> AddHeader(Frame f) {
    if (sealed_) MLN_RETURN_IF_ERROR(codecs::DecodeFrame(f));
    const uint32_t index = f.header.chunk_index, count = f.header.chunk_count;
    header_.insert(header_.end(), f.payload.data(), f.payload.data() + f.payload.size());
    if (count != 0 && index + 1 < count) return {};
    auto plan = PlanGguf(header_, o_);
    if (!plan) return Fail(std::move(plan).error().WithFile("gguf.header"));
    plan_ = std::move(*plan);
    header_.clear();
    header_.shrink_to_fit();
    {
      std::lock_guard lock(shared_.mu);
      slot_base_ = shared_.reports.size();
      for (const TensorPlan& t : plan_->tensors) {
        TensorReport r;
        r.name = t.name;
        r.from = stream::DtypeName(t.from);
        r.to = stream::DtypeName(t.out_dtype);
        r.elements = t.elements;
        r.converted = t.convert;
        r.reason = t.reason;
        shared_.reports.push_back(std::move(r));
      }
      if (plan_->file_type_set) shared_.file_type = plan_->file_type;
    }
    for (const TensorPlan& t : plan_->tensors) {
      Note(t.convert ? t.name + ": " + stream::DtypeName(t.from) + " -> " + TargetName(t.to)
                     : t.name + ": kept " + stream::DtypeName(t.from) + ": " + t.reason);
    }
    FrameHeader src = std::move(*source_);
    source_ = src;  // stays set: frames that follow belong to this model
    src.file_size = src.file_size != 0 ? plan_->out_file_size : 0;
    Frame sf;
    sf.header = std::move(src);
    queue_.push_back(std::move(sf));
    const std::vector<uint8_t>& hb = plan_->header;
    const size_t chunk = std::max<size_t>(o_.chunk_size, 1);
    const uint32_t chunks = static_cast<uint32_t>((hb.size() + chunk - 1) / chunk);
    for (uint32_t i = 0; i < chunks; ++i) {
      size_t at = static_cast<size_t>(i) * chunk;
      size_t n = std::min(chunk, hb.size() - at);
      queue_.push_back(BytesFrame("gguf.header", at, std::span(hb).subspan(at, n), at, hb.size(), i,
                                  chunks));
    }
    pos_ = plan_->out_data_offset;
    tensors_done_ = 0;
    tail_ = 0;
    finished_ = false;
    if (plan_->tensors.empty()) MLN_RETURN_IF_ERROR(FinishModel());
    return {};
  }

  void Pad(uint64_t to) {
    if (to > pos_) {
      std::vector<uint8_t> zeros(to - pos_);
      queue_.push_back(BytesFrame("gguf.padding", pos_, zeros, 0, zeros.size(), 0, 1));
      pos_ = to;
    }
  }

  // After the last tensor: padding to the alignment, as ggml's writer ends its files.
  Result<void> FinishModel() {
    if (!plan_ || finished_) return {};
    Pad(plan_->out_file_size);
    finished_ = true;
    return {};
  }

  Result<void> AddTensor(Frame f) {
    FrameHeader& h = f.header;
    auto idx_text = h.Attr("gguf.index");
    size_t idx = idx_text ? std::strtoull(std::string(*idx_text).c_str(), nullptr, 10) : SIZE_MAX;
    if (idx >= plan_->tensors.size() || plan_->tensors[idx].name != h.name) {
      return Fail(Errc::kBadData, "tensor frame '" + h.name + "' does not match the GGUF header");
    }
    const TensorPlan& t = plan_->tensors[idx];
    if (h.chunk_index == 0) Pad(plan_->out_data_offset + t.out_offset);
    auto in_info = stream::GetDtypeInfo(t.from);
    auto out_info = stream::GetDtypeInfo(t.out_dtype);
    if (!in_info || !out_info || h.dtype != t.from) {
      return Fail(Errc::kBadData, "tensor '" + h.name + "' has dtype " + stream::DtypeName(h.dtype) +
                                      ", the header says " + stream::DtypeName(t.from));
    }
    const uint64_t elem = h.tensor_offset / in_info->block_bytes * in_info->block_elems;
    const uint64_t elems = h.decoded_size / in_info->block_bytes * in_info->block_elems;
    if (elem % out_info->block_elems != 0 || (elems % out_info->block_elems != 0)) {
      return Fail(Errc::kUnsupported,
                  "chunk at element " + std::to_string(elem) + " of '" + h.name + "' splits a " +
                      stream::DtypeName(t.out_dtype) + " block of " +
                      std::to_string(out_info->block_elems) +
                      " elements; parse with a chunk size that is a multiple of 1 KiB");
    }
    const uint64_t out_off = elem / out_info->block_elems * out_info->block_bytes;
    h.file_offset = plan_->out_data_offset + t.out_offset + out_off;
    h.tensor_offset = out_off;
    h.tensor_bytes = t.out_bytes;
    pos_ = h.file_offset + elems / out_info->block_elems * out_info->block_bytes;
    if (t.convert) {
      h.SetAttr(kAttrTo, std::to_string(t.out_dtype));
      h.SetAttr(kAttrSlot, std::to_string(slot_base_ + idx));
      h.SetAttr(kAttrElem, std::to_string(elem));
    }
    const bool last = h.chunk_count == 0 || h.chunk_index + 1 == h.chunk_count;
    if (t.convert && t.to.ternary) {
      MLN_RETURN_IF_ERROR(Spool(std::move(f), t));
      if (!last) return {};
      return ReleaseTernary(idx);
    }
    queue_.push_back(std::move(f));
    if (last && ++tensors_done_ == plan_->tensors.size()) MLN_RETURN_IF_ERROR(FinishModel());
    return {};
  }

  // A ternary tensor's scale needs all of it, so its chunks go to an unlinked temporary
  // file (tmpfile(3), in $TMPDIR) while |w| is summed, and are read back one at a time once
  // the scale is known: memory stays at one chunk whatever the tensor's size.
  Result<void> Spool(Frame f, const TensorPlan& t) {
    if (sealed_) MLN_RETURN_IF_ERROR(codecs::DecodeFrame(f));
    if (!spool_) {
      spool_ = std::tmpfile();
      if (!spool_) return Fail(Errc::kIo, std::string("cannot create a temporary file: ") + std::strerror(errno));
      spool_sum_ = 0;
    }
    // This stage is serial, so the |w| pass runs in parallel within it: each 256-group's sum
    // in any order, then all of them added in order, which keeps gamma independent of -T.
    const size_t width = t.from == D(Dtype::kF32) ? 4 : 2;
    const size_t n = f.payload.size() / width;
    spool_groups_.resize(n / 256);
    constexpr size_t kGroupsPerTask = 256;
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n / 256, kGroupsPerTask), [&](const auto& r) {
      thread_local std::vector<float> widened;
      const size_t first = r.begin() * 256, count = (r.end() - r.begin()) * 256;
      const float* x = AsFloats(t.from, f.payload.data() + first * width, count, widened);
      kernels::GroupAbsSums(x, count, spool_groups_.data() + r.begin());
    });
    for (double g : spool_groups_) spool_sum_ += g;
    if (std::fwrite(f.payload.data(), 1, f.payload.size(), spool_) != f.payload.size()) {
      return Fail(Errc::kIo, std::string("writing the temporary file: ") + std::strerror(errno));
    }
    spooled_.push_back(std::move(f.header));
    return {};
  }

  // gamma = mean |w| over the whole tensor (BitNet b1.58), clamped to 1e-5 as BitNet does.
  Result<void> ReleaseTernary(size_t idx) {
    const TensorPlan& t = plan_->tensors[idx];
    float gamma = t.elements ? static_cast<float>(spool_sum_ / static_cast<double>(t.elements)) : 0.0f;
    if (!(gamma >= 1e-5f)) gamma = 1e-5f;  // also catches NaN from non-finite weights
    char text[32];
    std::snprintf(text, sizeof text, "%a", gamma);
    for (FrameHeader& h : spooled_) h.SetAttr(kAttrGamma, text);
    {
      std::lock_guard lock(shared_.mu);
      shared_.reports[slot_base_ + idx].gamma = gamma;
    }
    std::rewind(spool_);
    replay_ = 0;
    return {};
  }

  Result<Frame> Replay() {
    Frame f;
    f.header = std::move(spooled_[replay_++]);
    f.payload.Resize(f.header.decoded_size);
    if (std::fread(f.payload.data(), 1, f.payload.size(), spool_) != f.payload.size()) {
      return Fail(Errc::kIo, "reading back the temporary file");
    }
    if (replay_ == spooled_.size()) {
      std::fclose(spool_);
      spool_ = nullptr;
      spooled_.clear();
      replay_ = SIZE_MAX;
      if (++tensors_done_ == plan_->tensors.size()) MLN_RETURN_IF_ERROR(FinishModel());
    }
    return f;
  }

  void Note(const std::string& line) {
    if (o_.note) o_.note(line);
  }

  stream::FrameSource& up_;
  bool sealed_;
  const QuantOptions& o_;
  Shared& shared_;
  std::deque<Frame> queue_;
  std::optional<FrameHeader> source_;
  std::vector<uint8_t> header_;
  std::optional<GgufPlan> plan_;
  std::FILE* spool_ = nullptr;
  std::vector<FrameHeader> spooled_;  // headers of the spooled chunks, in order
  size_t replay_ = SIZE_MAX;          // next spooled chunk to hand out; SIZE_MAX: none
  double spool_sum_ = 0;
  std::vector<double> spool_groups_;  // one |w| sum per 256 weights of the chunk
  size_t slot_base_ = 0;
  uint64_t pos_ = 0, tail_ = 0;
  size_t tensors_done_ = 0;
  bool finished_ = false;
  bool done_ = false;
};

// The converting stage: one tensor chunk in, the same chunk in its new type out. Frames
// parsed from a model file arrive unsealed (`seal`) and are sealed here, in parallel.
Result<void> Convert(Frame& f, const QuantOptions& o, Shared& shared, bool seal) {
  FrameHeader& h = f.header;
  auto to_text = h.Attr(kAttrTo);
  if (!to_text) {
    if (seal) stream::SealFrame(f);
    return {};
  }
  const uint32_t to = static_cast<uint32_t>(std::strtoul(std::string(*to_text).c_str(), nullptr, 10));
  const size_t slot = std::strtoull(std::string(*h.Attr(kAttrSlot)).c_str(), nullptr, 10);
  const uint64_t elem0 = std::strtoull(std::string(*h.Attr(kAttrElem)).c_str(), nullptr, 10);
  std::optional<float> gamma;
  if (auto g = h.Attr(kAttrGamma)) gamma = std::strtof(std::string(*g).c_str(), nullptr);
  for (const char* k : {kAttrTo, kAttrSlot, kAttrElem, kAttrGamma}) RemoveAttr(h, k);

  const uint32_t from = h.dtype;
  auto in_info = *stream::GetDtypeInfo(from);
  auto out_info = *stream::GetDtypeInfo(to);
  const size_t n = f.payload.size() / in_info.block_bytes * in_info.block_elems;
  AlignedBuffer out(n / out_info.block_elems * out_info.block_bytes);
  thread_local std::vector<float> tmp, back;

  const bool from_float = from == D(Dtype::kF32) || from == D(Dtype::kF16) || from == D(Dtype::kBF16);
  if (from_float && (to == D(Dtype::kF32) || to == D(Dtype::kF16))) {
    // A type map's float rule (f32 -> f16, bf16 -> f32, ...): widen to f32, then narrow
    // with ggml's rounding (ggml_fp32_to_fp16_row, round to nearest even).
    const float* x = AsFloats(from, f.payload.data(), n, tmp);
    if (to == D(Dtype::kF32)) {
      std::memcpy(out.data(), x, n * sizeof(float));
    } else {
      kernels::F32ToF16Row(x, n, reinterpret_cast<uint16_t*>(out.data()));
    }
  } else if (to == D(Dtype::kF32) || to == D(Dtype::kF16)) {
    auto q = static_cast<kernels::QuantType>(from);
    if (to == D(Dtype::kF32)) {
      kernels::DequantizeBlocks(q, f.payload.data(), n, reinterpret_cast<float*>(out.data()));
    } else {
      tmp.resize(n);
      kernels::DequantizeBlocks(q, f.payload.data(), n, tmp.data());
      kernels::F32ToF16Row(tmp.data(), n, reinterpret_cast<uint16_t*>(out.data()));
    }
  } else {
    const float* x = AsFloats(from, f.payload.data(), n, tmp);
    if (auto bad = FirstNonFinite(x, n)) {
      if (!o.allow_nonfinite) {
        return Fail(Error{Errc::kBadData,
                          std::string(std::isnan(x[*bad]) ? "NaN" : "Inf") + " weight at element " +
                              std::to_string(elem0 + *bad) +
                              " (--allow-nonfinite quantizes it anyway)",
                          {}, std::nullopt, std::nullopt, h.name});
      }
    }
    auto q = static_cast<kernels::QuantType>(to);
    if (gamma) {
      kernels::QuantizeTernary(q, x, n, *gamma, out.data());
    } else {
      kernels::QuantizeBlocks(q, x, n, out.data());
    }
    if (o.quality) {
      back.resize(n);
      kernels::DequantizeBlocks(q, out.data(), n, back.data());
      double se = 0, mx = 0, dot = 0, nx = 0, ny = 0;
      for (size_t i = 0; i < n; ++i) {
        double a = x[i], b = back[i], e = a - b;
        se += e * e;
        mx = std::max(mx, std::fabs(e));
        dot += a * b;
        nx += a * a;
        ny += b * b;
      }
      std::lock_guard lock(shared.mu);
      TensorReport& r = shared.reports[slot];
      r.sum_sq_err += se;
      r.max_abs_err = std::max(r.max_abs_err, mx);
      r.dot += dot;
      r.norm_x += nx;
      r.norm_y += ny;
    }
  }
  shared.float_bytes += f.payload.size();
  f.payload = std::move(out);
  h.dtype = to;
  stream::SealFrame(f);
  return {};
}

}  // namespace

double TensorReport::rmse() const {
  return elements ? std::sqrt(sum_sq_err / static_cast<double>(elements)) : 0.0;
}

double TensorReport::cosine() const {
  if (norm_x == 0 && norm_y == 0) return 1.0;
  if (norm_x == 0 || norm_y == 0) return 0.0;
  return dot / (std::sqrt(norm_x) * std::sqrt(norm_y));
}

Result<QuantStats> QuantizeStream(ByteSource& in, ByteSink& out, const QuantOptions& options) {
  auto start = std::chrono::steady_clock::now();
  MLN_TRY(auto head, in.Peek(64));
  const bool is_stream = stream::LooksLikeStream(head);
  std::unique_ptr<stream::FrameSource> upstream;
  if (is_stream) {
    upstream = std::make_unique<stream::Reader>(in, stream::FrameChecksOnly());
  } else {
    formats::ParseOptions po;
    po.chunk_size = options.chunk_size;
    MLN_TRY(upstream, formats::OpenModel(in, "", po));
  }
  Shared shared;
  QuantSource source(*upstream, is_stream, options, shared);
  std::unique_ptr<stream::FrameSink> sink;
  if (options.write_model) {
    sink = std::make_unique<formats::LayoutSink>(out, formats::LayoutOptions{.background = true});
  } else {
    sink = std::make_unique<stream::Writer>(out, stream::WriterOptions{.background = true});
  }
  stream::PipelineOptions popts;
  popts.kinds = {FrameKind::kTensor, FrameKind::kBytes};
  popts.verify_input = is_stream;
  auto convert = [&](std::vector<Frame>& frames) -> Result<void> {
    return Convert(frames.front(), options, shared, !is_stream);
  };
  auto ok = stream::RunFramePipeline(source, *sink, convert, popts);
  if (!ok) return Fail(std::move(ok).error().WithFile(in.name()));
  QuantStats stats;
  stats.tensors.assign(shared.reports.begin(), shared.reports.end());
  stats.float_bytes = shared.float_bytes.load();
  stats.in_bytes = in.position();
  stats.out_bytes = out.position();
  stats.file_type = shared.file_type;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

std::string ReportJson(const QuantStats& stats) {
  nlohmann::json j;
  j["file_type"] = stats.file_type;
  j["float_bytes"] = stats.float_bytes;
  j["seconds"] = stats.seconds;
  auto& arr = j["tensors"] = nlohmann::json::array();
  for (const TensorReport& r : stats.tensors) {
    nlohmann::json t;
    t["name"] = r.name;
    t["from"] = r.from;
    t["to"] = r.to;
    t["elements"] = r.elements;
    t["converted"] = r.converted;
    if (!r.converted) t["reason"] = r.reason;
    if (r.gamma != 0) t["gamma"] = r.gamma;
    if (r.converted && (r.norm_x != 0 || r.sum_sq_err != 0 || r.norm_y != 0)) {
      t["rmse"] = r.rmse();
      t["max_abs_error"] = r.max_abs_err;
      t["cosine"] = r.cosine();
    }
    arr.push_back(std::move(t));
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace mln::quant
