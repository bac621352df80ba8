#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "libstream/base/byte_io.h"
#include "libstream/formats/convert.h"
#include "libstream/formats/format.h"
#include "libstream/formats/safetensors.h"
#include "tests/support/test_util.h"

namespace mln::formats {
namespace {

using testing::PipeLikeSource;

using stream::Dtype;
using stream::FrameKind;
using testing::RandomBytes;


struct StTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
  uint64_t gap_before = 0;  // padding bytes in the data section before this tensor
};

// Writes a safetensors file the way the reference writer does (JSON padded with spaces to
// a multiple of 8), with the header listing tensors in reverse data order so header order
// and file order differ. `json_override` replaces the JSON text (hostile inputs).
std::vector<uint8_t> BuildSafetensors(const std::vector<StTensor>& tensors,
                                      const std::map<std::string, std::string>& metadata,
                                      std::vector<uint8_t> tail = {},
                                      const std::string* json_override = nullptr) {
  std::vector<std::string> entries;
  uint64_t off = 0;
  std::vector<uint8_t> data;
  for (const auto& t : tensors) {
    data.insert(data.end(), t.gap_before, 0xAB);
    off += t.gap_before;
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? "," : "") + std::to_string(t.shape[i]);
    entries.push_back("\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[" + shape +
                      "],\"data_offsets\":[" + std::to_string(off) + "," +
                      std::to_string(off + t.data.size()) + "]}");
    off += t.data.size();
    data.insert(data.end(), t.data.begin(), t.data.end());
  }
  std::string json = "{";
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      json += (first ? "\"" : ",\"") + k + "\":\"" + v + "\"";
      first = false;
    }
    json += "}";
    if (!entries.empty()) json += ",";
  }
  for (size_t i = entries.size(); i-- > 0;) json += entries[i] + (i ? "," : "");
  json += "}";
  if (json_override) json = *json_override;
  while (json.size() % 8) json += ' ';
  std::vector<uint8_t> file;
  testing::PutU64(file, json.size());
  file.insert(file.end(), json.begin(), json.end());
  file.insert(file.end(), data.begin(), data.end());
  file.insert(file.end(), tail.begin(), tail.end());
  return file;
}

Result<std::vector<stream::Frame>> ParseAll(ByteSource& src, size_t chunk = 64) {
  ParseOptions options;
  options.chunk_size = chunk;
  MLN_TRY(auto source, ParseSafetensors(src, options));
  std::vector<stream::Frame> frames;
  for (;;) {
    MLN_TRY(auto f, source->Next());
    if (!f) break;
    frames.push_back(std::move(*f));
  }
  return frames;
}

Result<std::vector<stream::Frame>> ParseBytes(const std::vector<uint8_t>& file,
                                              size_t chunk = 1 << 20) {
  auto src = MakeMemorySource(file, "t.safetensors");
  return ParseAll(*src, chunk);
}

Result<std::vector<uint8_t>> RoundTrip(ByteSource& in) { return testing::RoundTripModel(in, 100); }

struct DtypeCase {
  const char* name;
  Dtype dtype;
  size_t item;
};
constexpr DtypeCase kAllDtypes[] = {
    {"F64", Dtype::kF64, 8},   {"F32", Dtype::kF32, 4},         {"F16", Dtype::kF16, 2},
    {"BF16", Dtype::kBF16, 2}, {"I64", Dtype::kI64, 8},         {"I32", Dtype::kI32, 4},
    {"I16", Dtype::kI16, 2},   {"I8", Dtype::kI8, 1},           {"U8", Dtype::kU8, 1},
    {"U16", Dtype::kU16, 2},   {"U32", Dtype::kU32, 4},         {"U64", Dtype::kU64, 8},
    {"BOOL", Dtype::kBool, 1}, {"F8_E4M3", Dtype::kF8E4M3, 1}, {"F8_E5M2", Dtype::kF8E5M2, 1},
};

std::vector<StTensor> EveryDtype() {
  std::vector<StTensor> ts;
  uint64_t seed = 1;
  for (const auto& d : kAllDtypes) {
    ts.push_back({std::string("t.") + d.name, d.name, {3, 5}, RandomBytes(15 * d.item, seed++)});
  }
  ts.push_back({"scalar", "F32", {}, RandomBytes(4, 99)});             // 0-d: one element
  ts.push_back({"empty", "F16", {0, 4}, {}});                          // no elements
  ts.push_back({"after_gap", "I32", {7}, RandomBytes(28, 100), 13});  // 13 padding bytes
  return ts;
}

TEST(SafetensorsParseTest, CarriesEveryDtypeMetadataAndPadding) {
  auto tensors = EveryDtype();
  auto file = BuildSafetensors(tensors, {{"format", "pt"}, {"note", "a b"}}, {1, 2, 3});
  ASSERT_OK_AND_ASSIGN(auto frames, ParseBytes(file, 64));

  ASSERT_FALSE(frames.empty());
  const auto& src = frames[0].header;
  ASSERT_TRUE(src.Is(FrameKind::kSource));
  EXPECT_EQ(src.format, "safetensors");
  EXPECT_EQ(src.file_size, file.size());
  EXPECT_EQ(src.Attr("safetensors.tensors"), std::to_string(tensors.size()));
  EXPECT_EQ(src.Attr("safetensors.metadata.format"), "pt");
  EXPECT_EQ(src.Attr("safetensors.metadata.note"), "a b");
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(src.Attr("safetensors.header_bytes"), std::to_string(n));

  // The header run (in 64-byte chunks here) is the file's first 8 + N bytes, verbatim.
  std::vector<uint8_t> header_bytes;
  size_t first = 1;
  for (; first < frames.size() && frames[first].header.name == "safetensors.header"; ++first) {
    header_bytes.insert(header_bytes.end(), frames[first].payload.data(),
                        frames[first].payload.data() + frames[first].payload.size());
  }
  EXPECT_EQ(header_bytes, std::vector<uint8_t>(file.begin(), file.begin() + 8 + n));
  // Tensors come back whole, in data order, each with its dtype, shape and bytes.
  std::map<std::string, std::vector<uint8_t>> got;
  std::vector<std::string> order;
  bool saw_padding = false, saw_tail = false;
  for (size_t i = first; i < frames.size(); ++i) {
    const auto& h = frames[i].header;
    if (h.Is(FrameKind::kBytes)) {
      saw_padding |= h.name == "safetensors.padding" && frames[i].payload.size() == 13;
      saw_tail |= h.name == "safetensors.tail" && frames[i].payload.size() == 3;
      continue;
    }
    ASSERT_TRUE(h.Is(FrameKind::kTensor));
    if (h.chunk_index == 0) order.push_back(h.name);
    auto& v = got[h.name];
    v.insert(v.end(), frames[i].payload.data(), frames[i].payload.data() + frames[i].payload.size());
    const StTensor* t = nullptr;
    for (const auto& x : tensors) if (x.name == h.name) t = &x;
    ASSERT_NE(t, nullptr) << h.name;
    EXPECT_EQ(h.shape, t->shape) << h.name;
    EXPECT_EQ(h.Attr("safetensors.dtype"), t->dtype);
    EXPECT_EQ(h.dtype, SafetensorsDtype(t->dtype));
    EXPECT_NE(h.dtype, static_cast<uint32_t>(Dtype::kUnknown)) << h.name;
  }
  EXPECT_TRUE(saw_padding);
  EXPECT_TRUE(saw_tail);
  ASSERT_EQ(order.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(order[i], tensors[i].name);  // file order, though the header lists them reversed
    EXPECT_EQ(got[tensors[i].name], tensors[i].data) << tensors[i].name;
  }
  for (const auto& d : kAllDtypes) {
    EXPECT_EQ(SafetensorsDtype(d.name), static_cast<uint32_t>(d.dtype)) << d.name;
  }
}

TEST(SafetensorsParseTest, RoundTripsFromFileAndPipe) {
  auto file = BuildSafetensors(EveryDtype(), {{"format", "pt"}}, {9, 9});
  auto mem = MakeMemorySource(file, "t.safetensors");
  ASSERT_OK_AND_ASSIGN(auto back, RoundTrip(*mem));
  EXPECT_EQ(back, file);
  PipeLikeSource pipe(file);
  ASSERT_OK_AND_ASSIGN(auto back2, RoundTrip(pipe));
  EXPECT_EQ(back2, file);
  // Detected by content: the round trip above went through OpenModel's bidding.
  EXPECT_GT(BidSafetensors(file), 0);
}

TEST(SafetensorsParseTest, UnknownDtypeIsCarriedAsBytes) {
  auto file = BuildSafetensors({{"w", "F8_E8M0", {5}, RandomBytes(5, 3)}}, {});
  ASSERT_OK_AND_ASSIGN(auto frames, ParseBytes(file));
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[2].header.dtype, static_cast<uint32_t>(Dtype::kUnknown));
  EXPECT_EQ(frames[2].header.Attr("safetensors.dtype"), "F8_E8M0");
  auto mem = MakeMemorySource(file, "t");
  ASSERT_OK_AND_ASSIGN(auto back, RoundTrip(*mem));
  EXPECT_EQ(back, file);
}

TEST(SafetensorsParseTest, EmptyHeaderAndNoTensors) {
  auto file = BuildSafetensors({}, {{"k", "v"}});
  ASSERT_OK_AND_ASSIGN(auto frames, ParseBytes(file));
  ASSERT_EQ(frames.size(), 2u);  // source + header
  EXPECT_EQ(frames[0].header.Attr("safetensors.tensors"), "0");
}

void ExpectBad(const std::vector<uint8_t>& file, const std::string& needle,
               Errc code = Errc::kBadData) {
  auto r = ParseBytes(file);
  ASSERT_FALSE(r.has_value()) << "accepted; expected: " << needle;
  EXPECT_EQ(r.error().code, code) << r.error().ToString();
  EXPECT_NE(r.error().ToString().find(needle), std::string::npos) << r.error().ToString();
  // From a pipe (size unknown) it fails too, never crashes.
  PipeLikeSource pipe(file);
  auto p = ParseAll(pipe);
  EXPECT_FALSE(p.has_value()) << "pipe accepted; expected: " << needle;
}

std::vector<uint8_t> WithJson(const std::string& json, size_t data_bytes = 16) {
  return BuildSafetensors({{"x", "U8", {static_cast<int64_t>(data_bytes)}, RandomBytes(data_bytes, 7)}}, {},
                          {}, &json);
}

TEST(SafetensorsParseTest, RefusesA4GiBHeaderBeforeAllocating) {
  std::vector<uint8_t> file;
  testing::PutU64(file, 4ull << 30);
  file.push_back('{');
  file.resize(64, ' ');
  ExpectBad(file, "exceeds the limit of 100000000");
  // Under the cap but past the end of the file.
  std::vector<uint8_t> f2;
  testing::PutU64(f2, 5000);
  f2.push_back('{');
  f2.resize(64, ' ');
  auto r = ParseBytes(f2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("runs past the end"), std::string::npos) << r.error().ToString();
}

TEST(SafetensorsParseTest, RefusesHostileTensorTables) {
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})"),
            "overlap");
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[12,20]}})"),
            "past the data section");
  ExpectBad(WithJson(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"),
            "expected 12");
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
            "overflows");
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})"),
            "not a non-negative integer");
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[4,2]}})"),
            "end before they begin");
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[2]}})"), "data_offsets missing");
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"x":1}})"),
            "unexpected field");
  ExpectBad(WithJson(R"({"__metadata__":{"k":1}})"), "expected a string");
  ExpectBad(WithJson(R"([1,2,3])"), "does not start with '{'");
  ExpectBad(WithJson(R"({"a":{"dtype":"U8",)"), "not valid JSON");
  ExpectBad(WithJson("{\"a\":\"\xff\xfe\"}"), "not valid JSON");
}

TEST(SafetensorsParseTest, RefusesDuplicateKeys) {
  ExpectBad(WithJson(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                     R"("a":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}})"),
            "key 'a' twice");
  ExpectBad(WithJson(R"({"__metadata__":{"k":"1","k":"2"}})"), "key 'k' twice");
}

TEST(SafetensorsParseTest, RefusesTruncatedFiles) {
  auto file = BuildSafetensors(EveryDtype(), {{"format", "pt"}});
  // Cut inside the data section: the header names bytes the file lacks.
  auto cut = std::vector<uint8_t>(file.begin(), file.end() - 5);
  ExpectBad(cut, "past the data section");
  // Cut inside the JSON header and inside the length.
  ExpectBad(std::vector<uint8_t>(file.begin(), file.begin() + 20), "runs past the end");
  ExpectBad(std::vector<uint8_t>(file.begin(), file.begin() + 5), "truncated");
  // From a pipe the data cut shows up as a short read while streaming.
  PipeLikeSource pipe(cut);
  auto p = ParseAll(pipe);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kBadData) << p.error().ToString();
}

TEST(SafetensorsParseTest, BidsOnlyOnSafetensors) {
  auto file = BuildSafetensors(EveryDtype(), {});
  EXPECT_EQ(BidSafetensors(file), 90);
  std::vector<uint8_t> gguf = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(BidSafetensors(gguf), 0);
  std::string json = R"({"metadata":{},"weight_map":{"a":"m-1.safetensors"}})";
  std::vector<uint8_t> index(json.begin(), json.end());
  EXPECT_EQ(BidSafetensors(index), 0);
  EXPECT_GT(BidSafetensorsIndex(index), 0);
  EXPECT_EQ(BidSafetensorsIndex(file), 0);
}

class SafetensorsIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mln-st-index.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Write("m-1.safetensors", BuildSafetensors({{"a", "U8", {4}, RandomBytes(4, 1)},
                                               {"b", "U8", {4}, RandomBytes(4, 2)}}, {}));
    Write("m-2.safetensors", BuildSafetensors({{"c", "F16", {2}, RandomBytes(4, 3)}}, {}));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  static std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }
  std::string dir_;
};

TEST_F(SafetensorsIndexTest, ChecksEveryShardAndTensor) {
  auto index = Bytes(R"({"metadata":{"total_size":12},"weight_map":)"
                     R"({"a":"m-1.safetensors","b":"m-1.safetensors","c":"m-2.safetensors"}})");
  ASSERT_OK_AND_ASSIGN(auto shards, CheckSafetensorsIndex(index, dir_));
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[0].file, "m-1.safetensors");
  EXPECT_EQ(shards[0].mapped_tensors, 2u);
  EXPECT_TRUE(shards[0].checked);
  EXPECT_EQ(shards[1].file_tensors, 1u);

  auto missing_tensor = Bytes(R"({"weight_map":{"a":"m-1.safetensors","z":"m-2.safetensors"}})");
  auto r = CheckSafetensorsIndex(missing_tensor, dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("does not hold tensor 'z'"), std::string::npos);

  auto missing_shard = Bytes(R"({"weight_map":{"a":"m-3.safetensors"}})");
  r = CheckSafetensorsIndex(missing_shard, dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'m-3.safetensors' is missing"), std::string::npos);

  auto escaping = Bytes(R"({"weight_map":{"a":"../m-1.safetensors"}})");
  r = CheckSafetensorsIndex(escaping, dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a file name"), std::string::npos);

  Write("m-2.safetensors", Bytes("not a safetensors file"));
  r = CheckSafetensorsIndex(index, dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("m-2.safetensors"), std::string::npos);

  // Without a directory (a pipe) nothing is opened; the JSON is still checked.
  ASSERT_OK_AND_ASSIGN(auto unchecked, CheckSafetensorsIndex(missing_shard, ""));
  EXPECT_FALSE(unchecked[0].checked);
  EXPECT_FALSE(CheckSafetensorsIndex(Bytes(R"({"weight_map":{"a":"x","a":"y"}})"), ""));
  EXPECT_FALSE(CheckSafetensorsIndex(Bytes(R"({"metadata":{}})"), ""));
}

}  // namespace
}  // namespace mln::formats
