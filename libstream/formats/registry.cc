#include <string>

#include "libstream/formats/container.h"
#include "libstream/formats/format.h"
#include "libstream/formats/gguf.h"
#include "libstream/formats/onnx.h"
#include "libstream/formats/tflite.h"
#include "libstream/formats/safetensors.h"
#include "libstream/stream/reader.h"

namespace mln::formats {

std::span<const FormatHandler> AllFormats() {
  static const FormatHandler kFormats[] = {
      {"gguf", BidGguf, ParseGguf},
      {"onnx", BidOnnx, ParseOnnx},
      {"tflite", BidTflite, ParseTflite},
      {"safetensors", BidSafetensors, ParseSafetensors},
      {"safetensors-index", BidSafetensorsIndex, ParseSafetensorsIndex},
      {"archive", BidArchive, ParseArchive, kArchiveBid},
  };
  return kFormats;
}

const FormatHandler* FindFormat(std::string_view name) {
  for (const auto& f : AllFormats()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string FormatNames() {
  std::string s;
  for (const auto& f : AllFormats()) {
    if (!s.empty()) s += ", ";
    s += f.name;
  }
  return s;
}

const FormatHandler* BestBid(std::span<const uint8_t> head,
                             bool (*allowed)(const FormatHandler&)) {
  const FormatHandler* best = nullptr;
  int best_bid = 0;
  for (const auto& f : AllFormats()) {
    if (allowed != nullptr && !allowed(f)) continue;
    if (f.max_bid <= best_bid) continue;  // cannot win (the archive bidder loads libarchive)
    int bid = f.bid(head);
    if (bid > best_bid) {
      best_bid = bid;
      best = &f;
    }
  }
  return best;
}

Result<std::unique_ptr<stream::FrameSource>> OpenModel(ByteSource& src,
                                                       std::string_view forced_format,
                                                       const ParseOptions& options) {
  if (!forced_format.empty()) {
    const FormatHandler* f = FindFormat(forced_format);
    if (f == nullptr) {
      return Fail(Errc::kUsage, "unknown format '" + std::string(forced_format) +
                                    "' (known: " + FormatNames() + ")");
    }
    return f->parse(src, options);
  }
  MLN_TRY(auto head, src.Peek(64 * 1024));
  if (head.empty()) return Fail(Error{Errc::kBadData, "empty input: expected a model file", src.name()});
  if (stream::LooksLikeStream(head)) {
    return Fail(Error{Errc::kBadData, "input is already an mln stream, not a model file",
                      src.name()});
  }
  const FormatHandler* best = BestBid(head);
  if (best == nullptr) {
    return Fail(Error{Errc::kBadData,
                      "unrecognised model format (reads " + FormatNames() + ")", src.name()});
  }
  return best->parse(src, options);
}

}  // namespace mln::formats
