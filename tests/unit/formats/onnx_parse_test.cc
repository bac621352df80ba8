#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "libstream/base/byte_io.h"
#include "libstream/formats/convert.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/formats/onnx.h"
#include "libstream/formats/protobuf_wire.h"
#include "tests/support/test_util.h"

namespace mln::formats {
namespace {

namespace fs = std::filesystem;
using testing::RandomBytes;

// Builds protobuf messages record by record (field numbers from onnx/onnx.proto), so the
// tests can also write what no ONNX writer would.
class Msg {
 public:
  Msg& Varint(uint32_t field, uint64_t v) {
    Tag(field, 0);
    Put(v);
    return *this;
  }
  Msg& Bytes(uint32_t field, const std::vector<uint8_t>& data) {
    Tag(field, 2);
    Put(data.size());
    b_.insert(b_.end(), data.begin(), data.end());
    return *this;
  }
  Msg& Str(uint32_t field, const std::string& s) { return Bytes(field, {s.begin(), s.end()}); }
  Msg& Sub(uint32_t field, const Msg& m) { return Bytes(field, m.b_); }
  Msg& Raw(std::vector<uint8_t> raw) {
    b_.insert(b_.end(), raw.begin(), raw.end());
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return b_; }

  static std::vector<uint8_t> Varints(const std::vector<int64_t>& vs) {
    Msg m;
    for (int64_t v : vs) m.Put(static_cast<uint64_t>(v));
    return m.b_;
  }

 private:
  void Tag(uint32_t field, uint32_t wire) { Put((uint64_t{field} << 3) | wire); }
  void Put(uint64_t v) {
    while (v >= 0x80) {
      b_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    b_.push_back(static_cast<uint8_t>(v));
  }
  std::vector<uint8_t> b_;
};

Msg TensorRaw(const std::string& name, int32_t type, std::vector<int64_t> dims,
              std::vector<uint8_t> raw) {
  Msg t;
  for (int64_t d : dims) t.Varint(1, static_cast<uint64_t>(d));
  t.Varint(2, static_cast<uint64_t>(type)).Str(8, name).Bytes(9, raw);
  return t;
}

Msg ConstantNode(const std::string& output, const Msg& tensor) {
  Msg attr;
  attr.Str(1, "value").Sub(5, tensor).Varint(20, 4);
  Msg node;
  node.Str(2, output).Str(4, "Constant").Sub(5, attr);
  return node;
}

Msg ModelWith(const Msg& graph) {
  Msg opset;
  opset.Str(1, "").Varint(2, 17);
  Msg m;
  m.Varint(1, 8).Str(2, "unit").Str(3, "1.0").Sub(7, graph).Sub(8, opset);
  return m;
}

// A model exercising each way ONNX stores tensor data.
struct Sample {
  std::vector<uint8_t> file;
  std::vector<uint8_t> w_raw, f_floats, i64_varints, c_raw, sub_raw;
};

Sample MakeSample() {
  Sample s;
  s.w_raw = RandomBytes(2 * 3 * 4, 1);
  std::vector<float> floats = {1.5f, -2.0f, 3.25f};
  s.f_floats.resize(12);
  std::memcpy(s.f_floats.data(), floats.data(), 12);
  s.i64_varints = Msg::Varints({-1, 300, 5});
  s.c_raw = RandomBytes(4 * 2, 2);
  s.sub_raw = RandomBytes(8, 3);

  Msg f;
  f.Varint(1, 3).Varint(2, 1).Bytes(4, s.f_floats).Str(8, "f.float_data");
  Msg i;
  i.Varint(1, 3).Varint(2, 7).Bytes(7, s.i64_varints).Str(8, "i.int64_data");
  Msg empty;
  empty.Varint(1, 0).Varint(2, 1).Str(8, "e.empty");
  Msg strings;
  strings.Varint(1, 1).Varint(2, 8).Str(6, "hello").Str(8, "s.string");

  // If node whose then_branch holds a Constant without a tensor name and an initializer.
  Msg then_graph;
  then_graph.Sub(1, ConstantNode("then_out", TensorRaw("", 7, {1}, s.sub_raw)))
      .Str(2, "then")
      .Sub(5, TensorRaw("sub.init", 10, {2, 2}, RandomBytes(8, 4)));
  Msg g_attr;
  g_attr.Str(1, "then_branch").Sub(6, then_graph).Varint(20, 5);
  Msg if_node;
  if_node.Str(1, "cond").Str(2, "y").Str(3, "if1").Str(4, "If").Sub(5, g_attr);

  Msg graph;
  graph.Sub(1, ConstantNode("c_out", TensorRaw("c.const", 1, {2}, s.c_raw)))
      .Sub(1, if_node)
      .Str(2, "g")
      .Sub(5, TensorRaw("w.raw", 1, {2, 3}, s.w_raw))
      .Sub(5, f)
      .Sub(5, i)
      .Sub(5, empty)
      .Sub(5, strings);
  s.file = ModelWith(graph).bytes();
  return s;
}

Result<std::vector<uint8_t>> RoundTrip(ByteSource& in, size_t chunk = 7) {
  return testing::RoundTripModel(in, chunk, "onnx");
}

const OnnxTensor* Find(const OnnxModel& m, const std::string& name) {
  for (const auto& t : m.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<uint8_t> Slice(const std::vector<uint8_t>& file, const OnnxTensor& t) {
  return {file.begin() + static_cast<ptrdiff_t>(t.data_offset),
          file.begin() + static_cast<ptrdiff_t>(t.data_offset + t.data_size)};
}

TEST(OnnxParseTest, FindsEveryTensorAndItsBytes) {
  Sample s = MakeSample();
  ASSERT_OK_AND_ASSIGN(OnnxModel m, ScanOnnx(s.file, {}));
  EXPECT_EQ(m.ir_version, 8);
  ASSERT_EQ(m.opsets.size(), 1u);
  EXPECT_EQ(m.opsets[0].second, 17);
  EXPECT_EQ(m.producer_name, "unit");
  EXPECT_EQ(m.nodes, 3u);
  EXPECT_EQ(m.graphs, 2u);
  EXPECT_EQ(m.constants, 2u);
  EXPECT_EQ(m.initializers, 6u);
  EXPECT_EQ(m.uncarried, 1u);  // the string tensor
  ASSERT_EQ(m.tensors.size(), 7u);
  for (size_t k = 1; k < m.tensors.size(); ++k) {
    EXPECT_LE(m.tensors[k - 1].data_offset + m.tensors[k - 1].data_size, m.tensors[k].data_offset);
  }

  const OnnxTensor* w = Find(m, "w.raw");
  ASSERT_TRUE(w);
  EXPECT_EQ(Slice(s.file, *w), s.w_raw);
  EXPECT_EQ(w->encoding, "raw_data");
  EXPECT_EQ(w->dtype, static_cast<uint32_t>(stream::Dtype::kF32));
  EXPECT_EQ(w->dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->source, "initializer");
  EXPECT_EQ(w->graph, "main");

  const OnnxTensor* f = Find(m, "f.float_data");
  ASSERT_TRUE(f);
  EXPECT_EQ(Slice(s.file, *f), s.f_floats);
  EXPECT_EQ(f->encoding, "float_data");
  EXPECT_EQ(f->dtype, static_cast<uint32_t>(stream::Dtype::kF32));

  const OnnxTensor* i = Find(m, "i.int64_data");
  ASSERT_TRUE(i);
  EXPECT_EQ(Slice(s.file, *i), s.i64_varints);
  EXPECT_EQ(i->encoding, "int64_data");
  EXPECT_EQ(i->dtype, static_cast<uint32_t>(stream::Dtype::kUnknown));  // varints

  const OnnxTensor* e = Find(m, "e.empty");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->encoding, "none");
  EXPECT_EQ(e->data_size, 0u);
  EXPECT_EQ(e->dtype, static_cast<uint32_t>(stream::Dtype::kF32));

  const OnnxTensor* c = Find(m, "c.const");
  ASSERT_TRUE(c);
  EXPECT_EQ(Slice(s.file, *c), s.c_raw);
  EXPECT_EQ(c->source, "constant");

  const OnnxTensor* sub = Find(m, "then_out");  // unnamed Constant tensor: its output
  ASSERT_TRUE(sub);
  EXPECT_EQ(Slice(s.file, *sub), s.sub_raw);
  EXPECT_EQ(sub->source, "constant");
  EXPECT_EQ(sub->graph, "main/if1.then_branch");
  EXPECT_EQ(sub->dtype, static_cast<uint32_t>(stream::Dtype::kI64));

  const OnnxTensor* si = Find(m, "sub.init");
  ASSERT_TRUE(si);
  EXPECT_EQ(si->source, "subgraph-initializer");
  EXPECT_EQ(si->dtype, static_cast<uint32_t>(stream::Dtype::kF16));
}

TEST(OnnxParseTest, RawDataOfTheWrongSizeClaimsNoDtype) {
  Msg graph;
  graph.Sub(5, TensorRaw("short", 1, {4}, RandomBytes(15, 1)));
  auto file = ModelWith(graph).bytes();
  ASSERT_OK_AND_ASSIGN(OnnxModel m, ScanOnnx(file, {}));
  ASSERT_EQ(m.tensors.size(), 1u);
  EXPECT_EQ(m.tensors[0].dtype, static_cast<uint32_t>(stream::Dtype::kUnknown));
}

TEST(OnnxParseTest, RoundTripIsByteIdenticalAndFramesCarryTheTensors) {
  Sample s = MakeSample();
  auto mem = MakeMemorySource(s.file, "m.onnx");
  ASSERT_OK_AND_ASSIGN(auto out, RoundTrip(*mem));
  EXPECT_EQ(out, s.file);

  std::vector<uint8_t> stream_bytes;
  auto sink = MakeMemorySink(&stream_bytes, "stream");
  auto mem2 = MakeMemorySource(s.file, "m.onnx");
  ASSERT_OK(ParseToStream(*mem2, *sink, "", {}));  // detected by content
  ASSERT_OK(sink->Flush());
  ASSERT_OK_AND_ASSIGN(auto frames, testing::ReadStream(stream_bytes));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].header.format, "onnx");
  EXPECT_EQ(frames[0].header.Attr("onnx.opsets"), "ai.onnx:17");
  EXPECT_EQ(frames[0].header.Attr("onnx.initializers"), "6");
  bool saw_w = false;
  for (const auto& fr : frames) {
    if (fr.header.name != "w.raw") continue;
    saw_w = true;
    EXPECT_TRUE(fr.header.Is(stream::FrameKind::kTensor));
    EXPECT_EQ(std::vector<uint8_t>(fr.payload.data(), fr.payload.data() + fr.payload.size()),
              s.w_raw);
    EXPECT_EQ(fr.header.Attr("onnx.encoding"), "raw_data");
    EXPECT_EQ(fr.header.shape, (std::vector<int64_t>{2, 3}));
  }
  EXPECT_TRUE(saw_w);
}

TEST(OnnxParseTest, BidsOnModelsButNotOnOtherFormats) {
  Sample s = MakeSample();
  EXPECT_EQ(BidOnnx(s.file), 20);
  // A 64 KiB head cut inside the graph still bids.
  EXPECT_EQ(BidOnnx(std::span<const uint8_t>(s.file.data(), 20)), 20);
  std::vector<uint8_t> gguf = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(BidOnnx(gguf), 0);
  std::vector<uint8_t> tflite = {0x1c, 0, 0, 0, 'T', 'F', 'L', '3', 0, 0, 0x14, 0};
  EXPECT_EQ(BidOnnx(tflite), 0);
  std::vector<uint8_t> stream = {0x89, 'M', 'L', 'N', '\r', '\n', 0x1a, '\n', 1, 0};
  EXPECT_EQ(BidOnnx(stream), 0);
  std::vector<uint8_t> safetensors = {0x58, 0, 0, 0, 0, 0, 0, 0, '{', '"'};
  EXPECT_EQ(BidOnnx(safetensors), 0);
  std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_EQ(BidOnnx(text), 0);
  std::vector<uint8_t> zip = {'P', 'K', 3, 4, 20, 0};
  EXPECT_EQ(BidOnnx(zip), 0);
}

TEST(OnnxParseTest, HostileLengthsVarintsAndNestingFailCleanly) {
  // A graph whose initializer claims more bytes than the graph holds.
  Msg tensor_head;
  tensor_head.Varint(2, 1);
  std::vector<uint8_t> bad_init = {(5 << 3) | 2, 0xff, 0x01};  // length 255
  Msg graph;
  graph.Raw(bad_init).Raw({1, 2, 3});
  auto r = ScanOnnx(ModelWith(graph).bytes(), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kBadData);
  EXPECT_NE(r.error().message.find("GraphProto"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("runs past"), std::string::npos) << r.error().message;

  // An 11-byte ir_version.
  std::vector<uint8_t> eleven = {(1 << 3) | 0};
  eleven.insert(eleven.end(), 10, 0x80);
  eleven.push_back(0);
  r = ScanOnnx(eleven, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("longer than 10 bytes"), std::string::npos);

  // If nodes nested 200 deep.
  Msg g;
  g.Sub(5, TensorRaw("leaf", 1, {1}, RandomBytes(4, 9)));
  for (int k = 0; k < 200; ++k) {
    Msg attr;
    attr.Str(1, "then_branch").Sub(6, g);
    Msg node;
    node.Str(4, "If").Sub(5, attr);
    Msg outer;
    outer.Sub(1, node);
    g = outer;
  }
  r = ScanOnnx(ModelWith(g).bytes(), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("nested deeper"), std::string::npos) << r.error().message;

  // A known field with the wrong wire type.
  Msg wrong;
  wrong.Varint(7, 5);
  r = ScanOnnx(wrong.bytes(), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("ModelProto.graph"), std::string::npos);
}

TEST(OnnxParseTest, EveryTruncationFailsOrParsesWithoutCrashing) {
  Sample s = MakeSample();
  for (size_t len = 0; len < s.file.size(); ++len) {
    std::span<const uint8_t> cut(s.file.data(), len);
    auto r = ScanOnnx(cut, {});
    if (r) {
      for (const auto& t : r->tensors) EXPECT_LE(t.data_offset + t.data_size, len);
    }
  }
}

TEST(OnnxParseTest, FlippedBytesNeverReachOutsideTheFile) {
  Sample s = MakeSample();
  for (size_t byte = 0; byte < s.file.size(); ++byte) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> bad = s.file;
      bad[byte] ^= mask;
      auto r = ScanOnnx(bad, {});
      if (!r) {
        EXPECT_EQ(r.error().code, Errc::kBadData) << r.error().message;
        continue;
      }
      uint64_t end = 0;
      for (const auto& t : r->tensors) {
        EXPECT_GE(t.data_offset, end) << "overlap after flipping byte " << byte;
        end = t.data_offset + t.data_size;
      }
      EXPECT_LE(end, bad.size());
    }
  }
}

// External data, with a real directory on disk.
class OnnxExternalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mln-onnx-ext.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "model");
    Write(root_ / "model" / "w.bin", RandomBytes(100, 5));
    Write(root_ / "outside.bin", RandomBytes(100, 6));
  }
  void TearDown() override { fs::remove_all(root_); }

  static void Write(const fs::path& p, const std::vector<uint8_t>& b) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                             static_cast<std::streamsize>(b.size()));
  }

  static std::vector<uint8_t> ExternalModel(const std::string& location, const std::string& offset,
                                            const std::string& length) {
    Msg t;
    t.Varint(1, 4).Varint(2, 1).Str(8, "ext");
    Msg e1, e2, e3;
    e1.Str(1, "location").Str(2, location);
    e2.Str(1, "offset").Str(2, offset);
    e3.Str(1, "length").Str(2, length);
    t.Sub(13, e1).Sub(13, e2).Sub(13, e3).Varint(14, 1);
    Msg graph;
    graph.Sub(5, t);
    return ModelWith(graph).bytes();
  }

  Result<OnnxModel> Scan(const std::vector<uint8_t>& file) {
    OnnxScanOptions o;
    o.model_dir = (root_ / "model").string();
    return ScanOnnx(file, o);
  }

  fs::path root_;
};

TEST_F(OnnxExternalTest, ListsAValidReference) {
  ASSERT_OK_AND_ASSIGN(OnnxModel m, Scan(ExternalModel("w.bin", "64", "16")));
  ASSERT_EQ(m.tensors.size(), 1u);
  EXPECT_EQ(m.tensors[0].encoding, "external");
  EXPECT_EQ(m.tensors[0].ext_location, "w.bin");
  EXPECT_EQ(m.tensors[0].ext_offset, 64u);
  EXPECT_EQ(m.tensors[0].ext_length, 16u);
  EXPECT_EQ(m.tensors[0].data_size, 0u);
}

TEST_F(OnnxExternalTest, RefusesPathsThatLeaveTheModelDirectory) {
  for (const std::string& loc : std::vector<std::string>{"../outside.bin", "sub/../../outside.bin", "..",
                          (root_ / "outside.bin").string(), "/etc/passwd"}) {
    auto r = Scan(ExternalModel(loc, "0", "4"));
    ASSERT_FALSE(r.has_value()) << loc;
    EXPECT_EQ(r.error().code, Errc::kBadData) << loc;
    EXPECT_EQ(r.error().tensor, "ext");
    EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
  }
  // Without a model directory (a pipe) the names are still refused.
  auto r = ScanOnnx(ExternalModel("../outside.bin", "0", "4"), {});
  EXPECT_FALSE(r.has_value());
}

TEST_F(OnnxExternalTest, RefusesSymlinksThatResolveOutside) {
  fs::create_symlink(root_ / "outside.bin", root_ / "model" / "link.bin");
  auto r = Scan(ExternalModel("link.bin", "0", "4"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kBadData);
  EXPECT_NE(r.error().message.find("outside the model's directory"), std::string::npos)
      << r.error().message;
}

TEST_F(OnnxExternalTest, RefusesRangesPastTheEndOfTheDataFile) {
  for (auto [off, len] : {std::pair{"100", "1"}, std::pair{"90", "11"}, std::pair{"101", "0"},
                          std::pair{"18446744073709551615", "2"}}) {
    auto r = Scan(ExternalModel("w.bin", off, len));
    ASSERT_FALSE(r.has_value()) << off << "+" << len;
    EXPECT_EQ(r.error().code, Errc::kBadData);
    EXPECT_NE(r.error().message.find("runs past the end"), std::string::npos) << r.error().message;
  }
  auto bad = Scan(ExternalModel("w.bin", "12x", "1"));
  EXPECT_FALSE(bad.has_value());
  EXPECT_TRUE(Scan(ExternalModel("w.bin", "90", "10")).has_value());
}

TEST_F(OnnxExternalTest, MissingFileIsNoInput) {
  auto r = Scan(ExternalModel("missing.bin", "0", "1"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kNoInput);
}

// Parses `model` as the named file mln-parse would open, and lays the stream out again.
TEST_F(OnnxExternalTest, CarriesTheDataFileAndRefusesToDropItByDefault) {
  std::string path = (root_ / "model" / "m.onnx").string();
  Write(path, ExternalModel("w.bin", "64", "16"));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto in = MakeFdSource(fd, path, true);
  std::vector<uint8_t> stream_bytes;
  auto sink = MakeMemorySink(&stream_bytes, "stream");
  ASSERT_OK(ParseToStream(*in, *sink, "", {}));
  ASSERT_OK(sink->Flush());
  ASSERT_OK_AND_ASSIGN(auto frames, testing::ReadStream(stream_bytes));
  // source, onnx.proto, then the data file: source, 64 bytes, the tensor, 20 bytes.
  std::vector<std::string> names;
  for (const auto& f : frames) names.push_back(f.header.name);
  ASSERT_EQ(names, (std::vector<std::string>{path, "onnx.proto", "w.bin", "onnx.external.bytes",
                                             "ext", "onnx.external.bytes"}));
  EXPECT_EQ(frames[2].header.Attr("onnx.part"), kOnnxExternalPart);
  EXPECT_EQ(frames[2].header.file_size, 100u);
  const auto& t = frames[4];
  EXPECT_EQ(t.header.dtype, static_cast<uint32_t>(stream::Dtype::kF32));
  EXPECT_EQ(t.header.file_offset, 64u);
  EXPECT_EQ(t.header.Attr("onnx.external.carried"), "true");
  auto data = RandomBytes(100, 5);  // what SetUp wrote to w.bin
  EXPECT_EQ(std::vector<uint8_t>(t.payload.data(), t.payload.data() + t.payload.size()),
            std::vector<uint8_t>(data.begin() + 64, data.begin() + 80));

  // Laid out into one file, the data file is refused, not dropped (mln-diff's path).
  std::vector<uint8_t> model;
  auto model_sink = MakeMemorySink(&model, "out");
  auto again = MakeMemorySource(stream_bytes, "stream");
  auto r = EmitFromStream(*again, *model_sink);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
  // Passed over on request, the model file alone comes back.
  LayoutOptions skip;
  skip.skip_external = true;
  model.clear();
  auto model_sink2 = MakeMemorySink(&model, "out");
  auto again2 = MakeMemorySource(stream_bytes, "stream");
  ASSERT_OK_AND_ASSIGN(auto stats, EmitFromStream(*again2, *model_sink2, nullptr, skip));
  EXPECT_EQ(stats.external_skipped, 1u);
  EXPECT_EQ(model, ExternalModel("w.bin", "64", "16"));
}

TEST_F(OnnxExternalTest, DirWriterRefusesLocationsOutsideTheDirectory) {
  fs::create_directories(root_ / "out");
  fs::create_symlink(root_, root_ / "out" / "up");
  ASSERT_OK_AND_ASSIGN(auto w, DirExternalWriter::Create((root_ / "out").string(),
                                                         (root_ / "out" / "m.onnx").string()));
  for (const char* loc : {"../x.bin", "a/../../x.bin", "/tmp/x.bin", "up/x.bin", "", "a/",
                          "m.onnx", "./m.onnx"}) {
    auto r = w->Open(loc, 0);
    ASSERT_FALSE(r.has_value()) << loc;
    EXPECT_EQ(r.error().code, Errc::kBadData) << loc;
    EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
  }
  w.reset();
  EXPECT_FALSE(fs::exists(root_ / "x.bin"));
  // Only the link is there: nothing was made for the refused locations.
  EXPECT_EQ(std::distance(fs::directory_iterator(root_ / "out"), fs::directory_iterator()), 1);
}

TEST_F(OnnxExternalTest, DirWriterShowsNothingBeforeCommit) {
  fs::create_directories(root_ / "out");
  fs::path dir = root_ / "out";
  {
    ASSERT_OK_AND_ASSIGN(auto w, DirExternalWriter::Create(dir.string(), ""));
    ASSERT_OK_AND_ASSIGN(ByteSink * s, w->Open("sub/deep/a.bin", 3));
    ASSERT_OK(s->Write("abc", 3));
    ASSERT_OK(w->Close());
    EXPECT_FALSE(fs::exists(dir / "sub" / "deep" / "a.bin"));
    auto dup = w->Open("sub/./deep/a.bin", 0);
    EXPECT_FALSE(dup.has_value());  // the same file twice
  }  // destroyed without Commit: nothing stays, not even the directories it made
  EXPECT_TRUE(fs::is_empty(dir));
  ASSERT_OK_AND_ASSIGN(auto w, DirExternalWriter::Create(dir.string(), ""));
  ASSERT_OK_AND_ASSIGN(ByteSink * s, w->Open("sub/a.bin", 3));
  ASSERT_OK(s->Write("xyz", 3));
  ASSERT_OK(w->Close());
  ASSERT_OK(w->Commit());
  EXPECT_EQ(fs::file_size(dir / "sub" / "a.bin"), 3u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "sub"), fs::directory_iterator()), 1);
}

}  // namespace
}  // namespace mln::formats
