#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "libstream/base/byte_io.h"
#include "libstream/formats/tflite.h"
#include "tests/support/test_util.h"

namespace mln::formats {
namespace {

using stream::Dtype;
using stream::FrameKind;
using testing::RandomBytes;

// TFLite models are built here with FlatBufferBuilder's untyped table API and the field
// ids of tensorflow/lite/schema/schema.fbs, not with mln's own schema subset, so a wrong id
// in libstream/schema/tflite.fbs shows up as a test failure.
constexpr flatbuffers::voffset_t Slot(int id) {
  return static_cast<flatbuffers::voffset_t>(4 + 2 * id);
}
using TableRef = flatbuffers::Offset<flatbuffers::Table>;

struct TensorSpec {
  std::string name;
  std::vector<int32_t> shape;
  int8_t type = 0;  // TensorType
  uint32_t buffer = 0;
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int32_t quantized_dimension = 0;
  bool sparse = false;
};

struct BufferSpec {
  std::vector<uint8_t> data;  // inside the FlatBuffer
  uint64_t offset = 0, size = 0;  // outside it
};

struct ModelSpec {
  std::vector<std::vector<TensorSpec>> subgraphs;
  std::vector<BufferSpec> buffers;
  std::vector<std::pair<std::string, uint32_t>> metadata;
  std::string description;
  int operators = 0;  // empty Operator tables in subgraph 0
};

TableRef EndTable(flatbuffers::FlatBufferBuilder& b, flatbuffers::uoffset_t start) {
  return TableRef(b.EndTable(start));
}

std::vector<uint8_t> BuildTflite(const ModelSpec& m) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<TableRef> buffers;
  for (const BufferSpec& bs : m.buffers) {
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> data;
    if (!bs.data.empty()) {
      b.ForceVectorAlignment(bs.data.size(), 1, 16);  // schema.fbs: force_align: 16
      data = b.CreateVector(bs.data);
    }
    auto start = b.StartTable();
    if (!bs.data.empty()) b.AddOffset(Slot(0), data);
    b.AddElement<uint64_t>(Slot(1), bs.offset, 0);
    b.AddElement<uint64_t>(Slot(2), bs.size, 0);
    buffers.push_back(EndTable(b, start));
  }
  std::vector<TableRef> subgraphs;
  for (size_t s = 0; s < m.subgraphs.size(); ++s) {
    std::vector<TableRef> tensors;
    for (const TensorSpec& t : m.subgraphs[s]) {
      auto shape = b.CreateVector(t.shape);
      auto name = b.CreateString(t.name);
      TableRef quant, sparsity;
      if (!t.scale.empty()) {
        auto scale = b.CreateVector(t.scale);
        auto zp = b.CreateVector(t.zero_point);
        auto q = b.StartTable();
        b.AddOffset(Slot(2), scale);
        b.AddOffset(Slot(3), zp);
        b.AddElement<int32_t>(Slot(6), t.quantized_dimension, 0);
        quant = EndTable(b, q);
      }
      if (t.sparse) {
        auto order = b.CreateVector(std::vector<int32_t>{0, 1});
        auto sp = b.StartTable();
        b.AddOffset(Slot(0), order);
        sparsity = EndTable(b, sp);
      }
      auto start = b.StartTable();
      b.AddOffset(Slot(0), shape);
      b.AddElement<int8_t>(Slot(1), t.type, 0);
      b.AddElement<uint32_t>(Slot(2), t.buffer, 0);
      b.AddOffset(Slot(3), name);
      if (!quant.IsNull()) b.AddOffset(Slot(4), quant);
      if (!sparsity.IsNull()) b.AddOffset(Slot(6), sparsity);
      tensors.push_back(EndTable(b, start));
    }
    auto tv = b.CreateVector(tensors);
    std::vector<TableRef> ops;
    for (int i = 0; s == 0 && i < m.operators; ++i) ops.push_back(EndTable(b, b.StartTable()));
    auto ov = b.CreateVector(ops);
    auto start = b.StartTable();
    b.AddOffset(Slot(0), tv);
    b.AddOffset(Slot(3), ov);
    subgraphs.push_back(EndTable(b, start));
  }
  std::vector<TableRef> metadata;
  for (const auto& [name, buffer] : m.metadata) {
    auto n = b.CreateString(name);
    auto start = b.StartTable();
    b.AddOffset(Slot(0), n);
    b.AddElement<uint32_t>(Slot(1), buffer, 0);
    metadata.push_back(EndTable(b, start));
  }
  auto sv = b.CreateVector(subgraphs);
  auto bv = b.CreateVector(buffers);
  auto mv = b.CreateVector(metadata);
  auto desc = b.CreateString(m.description);
  auto start = b.StartTable();
  b.AddElement<uint32_t>(Slot(0), 3, 0);
  b.AddOffset(Slot(2), sv);
  b.AddOffset(Slot(3), desc);
  b.AddOffset(Slot(4), bv);
  if (!metadata.empty()) b.AddOffset(Slot(6), mv);
  b.Finish(EndTable(b, start), "TFL3");
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

struct TensorRun {
  uint16_t kind;
  stream::FrameHeader first;
  std::vector<uint8_t> bytes;
};

struct Parsed {
  stream::FrameHeader source;
  std::vector<TensorRun> runs;
  std::vector<uint8_t> file;  // every bytes/tensor payload in order
  const TensorRun* Find(std::string_view name) const {
    for (const TensorRun& r : runs) {
      if (r.first.name == name) return &r;
    }
    return nullptr;
  }
};

Result<Parsed> Parse(const std::vector<uint8_t>& file, size_t chunk = 64) {
  auto src = MakeMemorySource(file, "m.tflite");
  ParseOptions options;
  options.chunk_size = chunk;
  MLN_TRY(auto frames, ParseTflite(*src, options));
  Parsed p;
  uint64_t pos = 0;
  for (;;) {
    MLN_TRY(auto f, frames->Next());
    if (!f) break;
    const stream::FrameHeader& h = f->header;
    if (h.Is(FrameKind::kSource)) {
      p.source = h;
      continue;
    }
    if (h.file_offset != pos) return Fail(Errc::kInternal, "frames do not tile the file");
    pos += f->payload.size();
    if (h.chunk_index == 0) p.runs.push_back({h.kind, h, {}});
    TensorRun& r = p.runs.back();
    r.bytes.insert(r.bytes.end(), f->payload.data(), f->payload.data() + f->payload.size());
    p.file.insert(p.file.end(), f->payload.data(), f->payload.data() + f->payload.size());
  }
  return p;
}

std::vector<uint8_t> F32Bytes(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

ModelSpec SampleModel() {
  ModelSpec m;
  m.description = "sample model";
  m.buffers = {{},                                               // 0: the empty sentinel
               {F32Bytes({1, 2, 3, 4, 5, 6}), 0, 0},             // 1: w (f32 [2,3]), shared
               {RandomBytes(8, 7), 0, 0},                        // 2: q (int8 [8]), quantized
               {{'1', '.', '5', '.', '0'}, 0, 0},                // 3: metadata
               {RandomBytes(5, 9), 0, 0},                        // 4: used by no tensor
               {RandomBytes(12, 10), 0, 0},                      // 5: sparse
               {RandomBytes(7, 11), 0, 0}};                      // 6: size disagrees with shape
  m.subgraphs = {{{"input", {1, 3}, 0, 0},
                  {"w", {2, 3}, 0, 1},
                  {"w_alias", {2, 3}, 0, 1},
                  {"q", {8}, 9, 2, {0.5f, 0.25f}, {3, 4}, 0},
                  {"sp", {4, 4}, 0, 5, {}, {}, 0, true},
                  {"odd", {2, 2}, 1, 6}},
                 {{"w", {3}, 3, 2}}};  // another subgraph reuses the name "w"
  m.metadata = {{"min_runtime_version", 3}};
  m.operators = 2;
  return m;
}

TEST(TfliteParseTest, MapsBuffersToTensorRunsAndTilesTheFile) {
  std::vector<uint8_t> file = BuildTflite(SampleModel());
  ASSERT_EQ(BidTflite(file), 100);
  ASSERT_OK_AND_ASSIGN(Parsed p, Parse(file, 4));
  EXPECT_EQ(p.file, file);  // the runs rebuild the file byte for byte
  EXPECT_EQ(p.source.format, "tflite");
  EXPECT_EQ(p.source.file_size, file.size());
  EXPECT_EQ(p.source.Attr("tflite.version"), "3");
  EXPECT_EQ(p.source.Attr("tflite.subgraphs"), "2");
  EXPECT_EQ(p.source.Attr("tflite.tensors"), "7");
  EXPECT_EQ(p.source.Attr("tflite.buffers"), "7");
  EXPECT_EQ(p.source.Attr("tflite.operators"), "2");
  EXPECT_EQ(p.source.Attr("tflite.description"), "sample model");
  EXPECT_EQ(p.source.Attr("tflite.metadata"), "[\"min_runtime_version\"]");

  const TensorRun* w = p.Find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->kind, static_cast<uint16_t>(FrameKind::kTensor));
  EXPECT_EQ(w->bytes, F32Bytes({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(w->first.dtype, static_cast<uint32_t>(Dtype::kF32));
  EXPECT_EQ(w->first.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->first.Attr("tflite.buffer"), "1");
  EXPECT_EQ(w->first.Attr("tflite.subgraph"), "0");
  EXPECT_EQ(w->first.Attr("tflite.tensor"), "1");
  EXPECT_EQ(w->first.Attr("tflite.shared_by"), "[\"w_alias\"]");
  EXPECT_EQ(p.Find("w_alias"), nullptr);

  // Buffer 2 is used first by "q" in subgraph 0, then by a second "w" in subgraph 1.
  const TensorRun* q = p.Find("q");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->bytes, RandomBytes(8, 7));
  EXPECT_EQ(q->first.dtype, static_cast<uint32_t>(Dtype::kI8));
  EXPECT_EQ(q->first.Attr("tflite.quant.scale"), "0.5, 0.25 (2 values)");
  EXPECT_EQ(q->first.Attr("tflite.quant.zero_point"), "3, 4 (2 values)");
  EXPECT_EQ(q->first.Attr("tflite.quant.dimension"), "0");
  EXPECT_EQ(q->first.Attr("tflite.shared_by"), "[\"w\"]");

  const TensorRun* sp = p.Find("sp");
  ASSERT_NE(sp, nullptr);
  EXPECT_EQ(sp->bytes, RandomBytes(12, 10));  // 12 bytes for a 4x4 f32: carried as is
  EXPECT_EQ(sp->first.dtype, static_cast<uint32_t>(Dtype::kU8));
  EXPECT_EQ(sp->first.Attr("tflite.type"), "FLOAT32");
  EXPECT_EQ(sp->first.Attr("tflite.sparsity"), "traversal_order=[0,1]");
  EXPECT_EQ(sp->first.shape, (std::vector<int64_t>{4, 4}));

  const TensorRun* odd = p.Find("odd");
  ASSERT_NE(odd, nullptr);
  EXPECT_EQ(odd->first.dtype, static_cast<uint32_t>(Dtype::kU8));
  EXPECT_EQ(odd->first.Attr("tflite.type"), "FLOAT16");

  const TensorRun* meta = p.Find("tflite.metadata.min_runtime_version");
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(meta->kind, static_cast<uint16_t>(FrameKind::kBytes));
  EXPECT_EQ(meta->bytes, (std::vector<uint8_t>{'1', '.', '5', '.', '0'}));
  const TensorRun* unused = p.Find("tflite.buffer.4");
  ASSERT_NE(unused, nullptr);
  EXPECT_EQ(unused->kind, static_cast<uint16_t>(FrameKind::kBytes));
  EXPECT_EQ(unused->bytes, RandomBytes(5, 9));

  // Tensor runs are in file order and never empty; everything else is FlatBuffer bytes.
  size_t tensors = 0;
  for (const TensorRun& r : p.runs) {
    EXPECT_FALSE(r.bytes.empty()) << r.first.name;
    if (r.kind == static_cast<uint16_t>(FrameKind::kTensor)) {
      ++tensors;
    } else if (!r.first.Attr("tflite.buffer")) {
      EXPECT_EQ(r.first.name, "tflite.flatbuffer");
    }
  }
  EXPECT_EQ(tensors, 4u);  // w, q, sp, odd: w_alias and the second "w" share buffers
}

TEST(TfliteParseTest, DuplicateTensorNamesGetTheBufferIndex) {
  ModelSpec m;
  m.buffers = {{}, {RandomBytes(4, 1)}, {RandomBytes(4, 2)}};
  m.subgraphs = {{{"x", {4}, 3, 1}}, {{"x", {4}, 3, 2}}};
  std::vector<uint8_t> file = BuildTflite(m);
  ASSERT_OK_AND_ASSIGN(Parsed p, Parse(file));
  const TensorRun* a = p.Find("x");
  const TensorRun* b = p.Find("x#2");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->bytes, RandomBytes(4, 1));
  EXPECT_EQ(b->bytes, RandomBytes(4, 2));
}

// Many tensors on one buffer, and a name of 100 KB: frame headers stay small.
TEST(TfliteParseTest, BoundsNamesAndSharedLists) {
  ModelSpec m;
  m.buffers = {{}, {RandomBytes(4, 1)}};
  m.subgraphs.resize(1);
  for (int i = 0; i < 20; ++i) m.subgraphs[0].push_back({"t" + std::to_string(i), {4}, 3, 1});
  m.subgraphs[0][0].name = std::string(100000, 'n');
  ASSERT_OK_AND_ASSIGN(Parsed p, Parse(BuildTflite(m)));
  const TensorRun* r = p.Find(std::string(1024, 'n'));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->first.Attr("tflite.shared_count"), "20");
  EXPECT_EQ(r->first.Attr("tflite.shared_by"),
            "[\"t1\",\"t2\",\"t3\",\"t4\",\"t5\",\"t6\",\"t7\",\"t8\",\"t9\",\"t10\","
            "\"t11\",\"t12\",\"t13\",\"t14\",\"t15\",\"t16\"]");
}

// Models over 2 GB keep buffer data after the FlatBuffer (Buffer.offset/size); a small
// model laid out the same way exercises the same path.
std::vector<uint8_t> ExternalModel(uint64_t claim_size, uint64_t second_offset_delta = 0) {
  ModelSpec m;
  m.buffers = {{}, {{}, 2, 32}, {{}, 2, 16}};
  m.subgraphs = {{{"big", {8}, 0, 1}, {"small", {4}, 0, 2}}};
  size_t fb_size = BuildTflite(m).size();  // offsets are fixed-width: the size stays
  uint64_t base = (fb_size + 63) / 64 * 64;
  m.buffers[1] = {{}, base, claim_size};
  m.buffers[2] = {{}, base + 32 + second_offset_delta, 16};
  std::vector<uint8_t> file = BuildTflite(m);
  EXPECT_EQ(file.size(), fb_size);
  file.resize(base, 0);
  std::vector<uint8_t> data = RandomBytes(48, 5);
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

TEST(TfliteParseTest, ReadsBuffersOutsideTheFlatBuffer) {
  std::vector<uint8_t> file = ExternalModel(32);
  ASSERT_OK_AND_ASSIGN(Parsed p, Parse(file));
  EXPECT_EQ(p.file, file);
  std::vector<uint8_t> data = RandomBytes(48, 5);
  const TensorRun* big = p.Find("big");
  const TensorRun* small = p.Find("small");
  ASSERT_TRUE(big && small);
  EXPECT_EQ(big->bytes, std::vector<uint8_t>(data.begin(), data.begin() + 32));
  EXPECT_EQ(small->bytes, std::vector<uint8_t>(data.begin() + 32, data.end()));
  EXPECT_EQ(big->first.file_offset, file.size() - 48);
}

void ExpectBadData(const std::vector<uint8_t>& file, std::string_view what) {
  auto p = Parse(file);
  ASSERT_FALSE(p.has_value()) << "accepted a file that should fail with: " << what;
  EXPECT_EQ(p.error().code, Errc::kBadData) << p.error().ToString();
  EXPECT_NE(p.error().ToString().find(what), std::string::npos) << p.error().ToString();
  EXPECT_NE(p.error().ToString().find("m.tflite"), std::string::npos) << p.error().ToString();
}

TEST(TfliteParseTest, RejectsBadIdentifierAndTruncation) {
  std::vector<uint8_t> file = BuildTflite(SampleModel());
  std::vector<uint8_t> bad = file;
  std::memcpy(bad.data() + 4, "TFL2", 4);
  EXPECT_EQ(BidTflite(bad), 0);
  ExpectBadData(bad, "expected identifier \"TFL3\"");
  ExpectBadData({file.begin(), file.begin() + 6}, "truncated TFLite file: 6 bytes");
  for (size_t keep : {file.size() / 2, file.size() - 1, size_t{12}}) {
    ExpectBadData({file.begin(), file.begin() + keep}, "fails verification");
  }
}

TEST(TfliteParseTest, RejectsBufferDataPastTheEnd) {
  ExpectBadData(ExternalModel(49), "runs past the end");  // 48 bytes follow
  ExpectBadData(ExternalModel(~0ull - 8), "runs past the end");  // offset + size overflows
}

TEST(TfliteParseTest, RejectsOverlappingBuffers) {
  // The second buffer starts 8 bytes inside the first one's 32.
  ExpectBadData(ExternalModel(32, static_cast<uint64_t>(-8)), "overlaps buffer 1");
}

TEST(TfliteParseTest, RejectsVtableOffsetOutOfRange) {
  std::vector<uint8_t> file = BuildTflite(SampleModel());
  uint32_t root;
  std::memcpy(&root, file.data(), 4);
  int32_t far = -0x40000000;  // vtable = table - soffset: far past the end of the file
  std::memcpy(file.data() + root, &far, 4);
  ExpectBadData(file, "fails verification");
  // The root offset itself pointing outside the file.
  std::vector<uint8_t> file2 = BuildTflite(SampleModel());
  uint32_t huge = 0x7ffffff0;
  std::memcpy(file2.data(), &huge, 4);
  ExpectBadData(file2, "fails verification");
}

TEST(TfliteParseTest, RejectsTensorNamingAMissingBuffer) {
  ModelSpec m = SampleModel();
  m.subgraphs[0][1].buffer = 99;
  ExpectBadData(BuildTflite(m), "refers to buffer 99, expected an index below the buffer count 7");
}

// A DAG of shared subtrees costs the Verifier one visit per path, not per table: 1500
// subgraph entries pointing at one SubGraph whose 1500 tensor entries point at one Tensor
// make 2.25 million visits from a 12 KB file. The table limit stops it early.
TEST(TfliteParseTest, RejectsSharedSubtreeBlowUp) {
  flatbuffers::FlatBufferBuilder b;
  auto name = b.CreateString("t");
  auto ts = b.StartTable();
  b.AddOffset(Slot(3), name);
  TableRef tensor = EndTable(b, ts);
  auto tv = b.CreateVector(std::vector<TableRef>(1500, tensor));
  auto ss = b.StartTable();
  b.AddOffset(Slot(0), tv);
  TableRef sg = EndTable(b, ss);
  auto sv = b.CreateVector(std::vector<TableRef>(1500, sg));
  auto ms = b.StartTable();
  b.AddOffset(Slot(2), sv);
  b.Finish(EndTable(b, ms), "TFL3");
  std::vector<uint8_t> file(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  ASSERT_LT(file.size(), 16u << 10);
  ExpectBadData(file, "number over 65536");
}

// mln's schema declares no recursive table, so nesting the Verifier follows is at most
// five deep (Model > SubGraph > Tensor > QuantizationParameters > CustomQuantization).
// Nesting inside fields it does not declare (here 20000 tables chained under an
// Operator's builtin_options, id 4) is never followed: no recursion, no crash, and the
// bytes still travel verbatim.
TEST(TfliteParseTest, DeepNestingInUnreadFieldsIsNotFollowed) {
  flatbuffers::FlatBufferBuilder b(1 << 20);
  TableRef inner;
  for (int i = 0; i < 20000; ++i) {
    auto s = b.StartTable();
    if (!inner.IsNull()) b.AddOffset(Slot(0), inner);
    inner = EndTable(b, s);
  }
  auto os = b.StartTable();
  b.AddElement<uint8_t>(Slot(3), 1, 0);
  b.AddOffset(Slot(4), inner);
  TableRef op = EndTable(b, os);
  auto ov = b.CreateVector(std::vector<TableRef>{op});
  auto ss = b.StartTable();
  b.AddOffset(Slot(3), ov);
  TableRef sg = EndTable(b, ss);
  auto sv = b.CreateVector(std::vector<TableRef>{sg});
  auto ms = b.StartTable();
  b.AddOffset(Slot(2), sv);
  b.Finish(EndTable(b, ms), "TFL3");
  std::vector<uint8_t> file(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  ASSERT_OK_AND_ASSIGN(Parsed p, Parse(file, 1 << 20));
  EXPECT_EQ(p.file, file);
  EXPECT_EQ(p.source.Attr("tflite.operators"), "1");
}

}  // namespace
}  // namespace mln::formats
