#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

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
  // Any case: --format GGUF is what the format is called in its own documentation.
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const auto& f : AllFormats()) {
    if (same(f.name, name)) return &f;
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
    // A forced format that does not fit says nothing of the file ("protobuf field 8:
    // invalid wire type 7" for a GGUF read as ONNX): its error says what the content looks
    // like. The head is kept as it was before the parser read it, and bid on only when the
    // parse failed: a bid can load libarchive, which a good parse need not pay for.
    std::vector<uint8_t> head;
    if (auto peeked = src.Peek(64 * 1024)) head.assign(peeked->begin(), peeked->end());
    auto parsed = f->parse(src, options);
    if (!parsed && parsed.error().code == Errc::kBadData) {
      const FormatHandler* looks = BestBid(head);
      if (looks != nullptr && looks != f) {
        Error e = std::move(parsed).error();
        e.message += " (the content looks like " + std::string(looks->name) + "; drop --format)";
        return Fail(std::move(e));
      }
    }
    return parsed;
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
