#include "libstream/quant/gguf_rewrite.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "libstream/base/endian.h"
#include "libstream/formats/gguf.h"
#include "libstream/kernels/quant_blocks.h"
#include "libstream/stream/frame.h"

namespace mln::quant {
namespace {

using stream::Dtype;

constexpr uint32_t D(Dtype d) { return static_cast<uint32_t>(d); }

bool IsFloat(uint32_t t) { return t == D(Dtype::kF32) || t == D(Dtype::kF16) || t == D(Dtype::kBF16); }

bool IsOurQuant(uint32_t t) {
  return t == D(Dtype::kQ8_0) || t == D(Dtype::kQ4_0) || t == D(Dtype::kQ4_K) ||
         t == D(Dtype::kTQ1_0) || t == D(Dtype::kTQ2_0);
}

bool Glob(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Tensors llama.cpp never quantizes even though they are 2-D weights
// (llama-quant.cpp: routers, position and token-type embeddings, conv/ssm kernels).
bool LlamaKeeps(const std::string& name) {
  static const char* kKeep[] = {"ffn_gate_inp.weight", "pos_embd", "token_types", "ssm_conv1d",
                                "ssm_x", "ssm_dt", "time_mix_first", "time_mix_w1",
                                "time_mix_w2", "time_mix_decay_w1", "time_mix_decay_w2"};
  for (const char* k : kKeep) {
    if (name.find(k) != std::string::npos) return true;
  }
  return false;
}

// Walks GGUF header bytes that formats::ReadGgufHeader has already validated, noting where
// each KV and each tensor info's type and offset fields lie.
class Walker {
 public:
  explicit Walker(std::span<const uint8_t> b) : b_(b) {}
  size_t pos = 0;
  bool ok = true;
  template <typename T>
  T Get() {
    if (pos + sizeof(T) > b_.size()) {
      ok = false;
      return T{};
    }
    T v = LoadLE<T>(b_.data() + pos);
    pos += sizeof(T);
    return v;
  }
  std::string String() {
    uint64_t n = Get<uint64_t>();
    if (!ok || n > b_.size() - pos) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(b_.data() + pos), n);
    pos += n;
    return s;
  }
  void SkipValue(uint32_t type, int depth) {
    using formats::GgufType;
    switch (static_cast<GgufType>(type)) {
      case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: pos += 1; break;
      case GgufType::kU16: case GgufType::kI16: pos += 2; break;
      case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: pos += 4; break;
      case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: pos += 8; break;
      case GgufType::kString: String(); break;
      case GgufType::kArray: {
        uint32_t et = Get<uint32_t>();
        uint64_t count = Get<uint64_t>();
        if (depth > 4) {
          ok = false;
          return;
        }
        for (uint64_t i = 0; i < count && ok; ++i) SkipValue(et, depth + 1);
        break;
      }
      default: ok = false;
    }
    if (pos > b_.size()) ok = false;
  }

 private:
  std::span<const uint8_t> b_;
};

template <typename T>
void Put(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // GGUF is little-endian, as every supported host
  out.insert(out.end(), b, b + sizeof(T));
}

void PutString(std::vector<uint8_t>& out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

struct Names {
  const char* name;
  Target target;
};

const Names kTargets[] = {
    {"q8_0", {D(Dtype::kQ8_0)}},   {"q4_0", {D(Dtype::kQ4_0)}}, {"q4_k", {D(Dtype::kQ4_K)}},
    {"tq1_0", {D(Dtype::kTQ1_0)}}, {"tq2_0", {D(Dtype::kTQ2_0)}}, {"ternary", {D(Dtype::kTQ2_0), true}},
    {"f32", {D(Dtype::kF32)}},     {"f16", {D(Dtype::kF16)}},
};

}  // namespace

std::string TargetNames() {
  std::string s;
  for (const auto& n : kTargets) {
    if (!s.empty()) s += ", ";
    s += n.name;
  }
  return s;
}

Result<Target> ParseTarget(std::string_view name, uint32_t ternary_pack) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "keep") return Target{0, false, true};
  for (const auto& n : kTargets) {
    if (lower == n.name) {
      Target t = n.target;
      if (t.ternary) t.dtype = ternary_pack;
      return t;
    }
  }
  return Fail(Errc::kUsage, "unknown type '" + std::string(name) + "' (valid: " + TargetNames() + ")");
}

std::string TargetName(const Target& t) {
  if (t.keep) return "keep";
  std::string n = stream::DtypeName(t.dtype);
  return t.ternary ? "ternary/" + n : n;
}

Result<std::vector<TypeRule>> ParseTypeMap(std::string_view text, uint32_t ternary_pack,
                                           std::string_view source) {
  std::vector<TypeRule> rules;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string line(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> words;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (j > i) words.emplace_back(line.substr(i, j - i));
      i = j;
    }
    if (words.empty()) continue;
    if (words.size() != 2) {
      return Fail(Errc::kUsage, "type map line " + std::to_string(line_no) +
                                    ": expected 'PATTERN TYPE', found " +
                                    std::to_string(words.size()) + " words");
    }
    auto target = ParseTarget(words[1], ternary_pack);
    if (!target) {
      return Fail(Errc::kUsage, "type map line " + std::to_string(line_no) + ": " +
                                    target.error().message);
    }
    rules.push_back({words[0], *target, std::string(source), line_no});
  }
  return rules;
}

uint32_t LlamaFileType(uint32_t dtype) {
  // LLAMA_FTYPE_* in llama.cpp's include/llama.h, for a ggml type as llama.cpp's model
  // loader maps the commonest tensor type when a file has no general.file_type: a K-quant
  // becomes its _M recipe. Types the loader does not list give ALL_F32, as there.
  switch (static_cast<Dtype>(dtype)) {
    case Dtype::kF32: return 0;      // ALL_F32
    case Dtype::kF16: return 1;      // MOSTLY_F16
    case Dtype::kQ4_0: return 2;     // MOSTLY_Q4_0
    case Dtype::kQ4_1: return 3;     // MOSTLY_Q4_1
    case Dtype::kQ8_0: return 7;     // MOSTLY_Q8_0
    case Dtype::kQ5_0: return 8;     // MOSTLY_Q5_0
    case Dtype::kQ5_1: return 9;     // MOSTLY_Q5_1
    case Dtype::kQ2_K: return 10;    // MOSTLY_Q2_K
    case Dtype::kQ3_K: return 12;    // MOSTLY_Q3_K_M
    case Dtype::kQ4_K: return 15;    // MOSTLY_Q4_K_M, what `llama-quantize --pure ... Q4_K_M` writes
    case Dtype::kQ5_K: return 17;    // MOSTLY_Q5_K_M
    case Dtype::kQ6_K: return 18;    // MOSTLY_Q6_K
    case Dtype::kBF16: return 32;    // MOSTLY_BF16
    case Dtype::kTQ1_0: return 36;   // MOSTLY_TQ1_0
    case Dtype::kTQ2_0: return 37;   // MOSTLY_TQ2_0
    default: return 0;
  }
}

namespace {

// A matrix in llama.cpp's sense: a dimension other than the row has more than one element.
// LLAMA_FTYPE_MOSTLY_* describe these ("except 1d tensors", llama.h).
bool IsMatrix(const std::vector<int64_t>& ne) {
  for (size_t i = 1; i < ne.size(); ++i) {
    if (ne[i] > 1) return true;
  }
  return false;
}

// Decides one tensor's fate. Returns the reason it stays, or empty when it converts; fails
// only for a type-map rule that cannot apply to a tensor it explicitly names.
Result<std::string> Decide(const QuantOptions& o, TensorPlan& t) {
  const bool dequant = !o.target.keep && (o.target.dtype == D(Dtype::kF32) || o.target.dtype == D(Dtype::kF16));
  Target target = o.target;
  const TypeRule* rule = nullptr;
  for (const auto& r : o.type_map) {
    if (Glob(r.pattern, t.name)) {
      target = r.target;
      rule = &r;
      break;
    }
  }
  const bool mapped = rule != nullptr;
  for (const auto& p : o.exclude) {
    if (Glob(p, t.name)) return "excluded by --exclude " + p;
  }
  if (!o.include.empty() && !mapped) {
    bool any = std::any_of(o.include.begin(), o.include.end(),
                           [&](const std::string& p) { return Glob(p, t.name); });
    if (!any) return "not matched by --include";
  }
  if (target.keep) return "kept by the type map";
  t.to = target;
  const bool to_float = target.dtype == D(Dtype::kF32) || target.dtype == D(Dtype::kF16);
  if (to_float && mapped && IsFloat(t.from) && t.from != target.dtype) {
    // A recipe may keep some float matrices at another float width (f32 -> f16, bf16 ->
    // f32); vectors stay as they are, as llama.cpp keeps them in f32.
    if (!IsMatrix(t.ne)) return std::string("1-D tensor (norms, biases and vectors stay as they are)");
    return std::string();
  }
  if (to_float) {
    if (!IsOurQuant(t.from)) {
      return t.from == target.dtype ? "already " + stream::DtypeName(t.from)
                                    : stream::DtypeName(t.from) + " is not a type mln-quant dequantizes";
    }
    return {};
  }
  if (!IsFloat(t.from)) return "already " + stream::DtypeName(t.from) + " (only f32, f16 and bf16 are quantized)";
  // llama.cpp's rule: only matrices are quantized; norms, biases and vectors stay.
  if (!IsMatrix(t.ne)) return std::string("1-D tensor (norms, biases and vectors stay as they are)");
  if (!dequant && !mapped && o.include.empty()) {
    // Its default selection among them (an explicit --include or type map overrides it).
    if (t.name.size() < 6 || t.name.compare(t.name.size() - 6, 6, "weight") != 0) {
      return std::string("not a weight (name does not end in 'weight')");
    }
    if (LlamaKeeps(t.name)) return std::string("llama.cpp keeps this tensor in float");
  }
  auto q = static_cast<kernels::QuantType>(target.dtype);
  const uint64_t block = kernels::QuantBlockElems(q);
  const uint64_t row = t.ne.empty() ? 1 : static_cast<uint64_t>(t.ne[0]);
  if (row % block != 0) {
    std::string why = "row length " + std::to_string(row) + " is not a multiple of " +
                      stream::DtypeName(target.dtype) + "'s block of " + std::to_string(block);
    if (rule) {
      // The recipe asked for this type by name; keeping the tensor would silently give a
      // different model than the recipe describes.
      return Fail(Error{Errc::kUsage,
                        "type map line " + std::to_string(rule->line) + " ('" + rule->pattern +
                            " " + TargetName(rule->target) + "'): " + why,
                        rule->source, std::nullopt, std::nullopt, t.name});
    }
    return why;
  }
  return std::string();
}

}  // namespace

Result<GgufPlan> PlanGguf(std::span<const uint8_t> header, const QuantOptions& options) {
  auto src = MakeMemorySource(header, "gguf.header");
  MLN_TRY(formats::GgufHeader h, formats::ReadGgufHeader(*src, header.size(), nullptr));
  if (h.data_offset != header.size()) {
    return Fail(Errc::kBadData, "gguf.header frames hold " + std::to_string(header.size()) +
                                    " bytes, the header needs " + std::to_string(h.data_offset));
  }
  GgufPlan plan;
  plan.alignment = h.alignment;
  plan.in_data_offset = h.data_offset;
  bool any_converted = false;
  for (const auto& ti : h.tensors) {
    TensorPlan t;
    t.name = ti.name;
    t.ne = ti.ne;
    t.from = ti.type;
    t.out_dtype = ti.type;
    t.in_bytes = ti.bytes;
    t.out_bytes = ti.bytes;
    t.in_offset = ti.offset;
    t.elements = 1;
    for (int64_t d : ti.ne) t.elements *= static_cast<uint64_t>(d);
    MLN_TRY(t.reason, Decide(options, t));
    if (t.reason.empty()) {
      t.convert = true;
      t.out_dtype = t.to.dtype;
      auto info = stream::GetDtypeInfo(t.out_dtype);
      t.out_bytes = t.elements / info->block_elems * info->block_bytes;
      any_converted = true;
    } else if (options.strict && t.reason.find("row length") != std::string::npos) {
      return Fail(Error{Errc::kBadData, t.reason + " (--strict)", {}, std::nullopt, std::nullopt, t.name});
    }
    plan.tensors.push_back(std::move(t));
  }
  plan.file_order.resize(plan.tensors.size());
  for (size_t i = 0; i < plan.file_order.size(); ++i) plan.file_order[i] = i;
  std::stable_sort(plan.file_order.begin(), plan.file_order.end(), [&](size_t a, size_t b) {
    return plan.tensors[a].in_offset < plan.tensors[b].in_offset;
  });
  // New layout as ggml's writer makes it: tensors in the same order, each at the next
  // multiple of the alignment.
  uint64_t pos = 0;
  for (size_t idx : plan.file_order) {
    TensorPlan& t = plan.tensors[idx];
    pos = AlignUp(pos, plan.alignment);
    t.out_offset = pos;
    pos += t.out_bytes;
    plan.in_data_end = std::max(plan.in_data_end, h.data_offset + t.in_offset + t.in_bytes);
  }
  if (plan.tensors.empty()) plan.in_data_end = h.data_offset;
  if (any_converted) {
    // general.file_type names the file's dominant type. llama-quantize writes its recipe's
    // ftype, named after the type most weights get (Q4_K_M: mostly q4_K, some q6_K); with
    // no key, llama.cpp's loader guesses from the type most tensors have. A type map is a
    // recipe of its own, so this takes the type that holds the most weights (elements) of
    // the output's matrices, the first to reach the top winning ties: on llama.cpp's own
    // recipes both rules agree, and where they differ (attention q8_0, feed-forward q4_K:
    // four tensors against three, a third of the weights against two thirds) this one says
    // what the file's size is made of. 1-D tensors do not count: LLAMA_FTYPE_MOSTLY_* mean
    // "except 1d tensors" (llama.h). A plain -t run that converts most weights thus writes
    // that type's ftype, as llama-quantize --pure does.
    std::map<uint32_t, uint64_t> weights;
    uint64_t best = 0;
    uint32_t best_type = 0;
    for (const TensorPlan& t : plan.tensors) {
      if (!IsMatrix(t.ne)) continue;
      uint64_t& w = weights[t.out_dtype];
      w += t.elements;
      if (w > best) {
        best = w;
        best_type = t.out_dtype;
      }
    }
    plan.file_type = LlamaFileType(best_type);
    plan.file_type_set = true;
  }

  // The new header: KVs verbatim except general.file_type; tensor infos with new types and
  // offsets (gguf.md: name, n_dims, ne[n_dims], type u32, offset u64).
  Walker w(header);
  std::vector<uint8_t>& out = plan.header;
  out.insert(out.end(), header.begin(), header.begin() + 8);  // magic, version
  w.pos = 8;
  uint64_t n_tensors = w.Get<uint64_t>();
  uint64_t n_kv = w.Get<uint64_t>();
  std::vector<uint8_t> kvs;
  bool had_file_type = false;
  for (uint64_t i = 0; i < n_kv && w.ok; ++i) {
    size_t start = w.pos;
    std::string key = w.String();
    uint32_t type = w.Get<uint32_t>();
    w.SkipValue(type, 0);
    if (key == "general.file_type" && plan.file_type_set) {
      had_file_type = true;
      PutString(kvs, key);
      Put<uint32_t>(kvs, static_cast<uint32_t>(formats::GgufType::kU32));
      Put<uint32_t>(kvs, plan.file_type);
    } else {
      kvs.insert(kvs.end(), header.begin() + start, header.begin() + w.pos);
    }
  }
  if (plan.file_type_set && !had_file_type) {
    PutString(kvs, "general.file_type");
    Put<uint32_t>(kvs, static_cast<uint32_t>(formats::GgufType::kU32));
    Put<uint32_t>(kvs, plan.file_type);
    ++n_kv;
  }
  Put<uint64_t>(out, n_tensors);
  Put<uint64_t>(out, n_kv);
  out.insert(out.end(), kvs.begin(), kvs.end());
  for (uint64_t i = 0; i < n_tensors && w.ok; ++i) {
    size_t start = w.pos;
    w.String();
    uint32_t n_dims = w.Get<uint32_t>();
    w.pos += 8ull * n_dims;
    out.insert(out.end(), header.begin() + start, header.begin() + w.pos);
    w.Get<uint32_t>();
    w.Get<uint64_t>();
    Put<uint32_t>(out, plan.tensors[i].out_dtype);
    Put<uint64_t>(out, plan.tensors[i].out_offset);
  }
  if (!w.ok) return Fail(Errc::kInternal, "GGUF header walk went past the validated bytes");
  plan.out_data_offset = AlignUp(out.size(), plan.alignment);
  out.resize(plan.out_data_offset, 0);
  plan.out_data_end = plan.out_data_offset + pos;
  plan.out_file_size = AlignUp(plan.out_data_end, plan.alignment);
  return plan;
}

}  // namespace mln::quant
