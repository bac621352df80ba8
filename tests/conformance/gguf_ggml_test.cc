// Conformance against ggml itself: files written by ggml's gguf writer (from real
// mediapipe weights, see tests/support/ggml_fixture.cc) survive parse -> stream -> emit
// byte for byte, and what mln reports about the emitted file is what ggml's
// gguf_init_from_file reports about it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "libstream/base/byte_io.h"
#include "libstream/formats/convert.h"
#include "libstream/inspect/inspect.h"
#include "tests/support/test_util.h"

namespace mln {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<uint8_t> ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// ggml's view of a GGUF file, from `ggml_fixture dump`.
nlohmann::json GgmlDump(const fs::path& file) {
  std::string cmd = Env("MLN_GGML_FIXTURE") + " dump '" + Env("MLN_LIBGGML") + "' '" +
                    file.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  EXPECT_EQ(status, 0) << "ggml could not load " << file;
  return nlohmann::json::parse(out);
}

std::vector<fs::path> Fixtures() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(Env("MLN_GGUF_FIXTURES"))) {
    if (e.path().extension() == ".gguf") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(GgufGgmlConformance, RoundTripLoadsInGgmlAndMatchesItsView) {
  std::vector<fs::path> files = Fixtures();
  ASSERT_GE(files.size(), 3u) << "fixtures missing in " << Env("MLN_GGUF_FIXTURES");
  fs::path tmp = fs::temp_directory_path() / ("mln-conf-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    std::vector<uint8_t> original = ReadFile(file);
    // parse -> stream -> emit, through files on disk as the filters do.
    std::vector<uint8_t> stream_bytes, emitted;
    {
      auto src = MakeMemorySource(original, file.string());
      auto sink = MakeMemorySink(&stream_bytes, "stream");
      formats::ParseOptions small_chunks;
      small_chunks.chunk_size = 64 << 10;  // several chunks per large tensor
      ASSERT_OK(formats::ParseToStream(*src, *sink, "", small_chunks));
      ASSERT_OK(sink->Flush());
      auto ssrc = MakeMemorySource(stream_bytes, "stream");
      auto msink = MakeMemorySink(&emitted, "emitted");
      ASSERT_OK(formats::EmitFromStream(*ssrc, *msink));
    }
    ASSERT_EQ(emitted, original) << "emit is not byte-identical";
    fs::path out = tmp / file.filename();
    std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(emitted.data()),
                                               static_cast<std::streamsize>(emitted.size()));

    nlohmann::json ggml = GgmlDump(out);
    auto ssrc = MakeMemorySource(stream_bytes, "stream");
    ASSERT_OK_AND_ASSIGN(inspect::Report mine, inspect::Inspect(*ssrc));
    ASSERT_TRUE(mine.gguf.has_value());
    EXPECT_EQ(ggml["version"].get<uint32_t>(), mine.gguf->version);
    EXPECT_EQ(ggml["alignment"].get<uint32_t>(), mine.gguf->alignment);
    EXPECT_EQ(ggml["data_offset"].get<uint64_t>(), mine.gguf->data_offset);
    EXPECT_EQ(ggml["n_kv"].get<size_t>(), mine.gguf->kvs.size());
    ASSERT_EQ(ggml["tensors"].size(), mine.tensors.size());
    // mln lists tensors in file order, ggml in header order; match by name.
    std::map<std::string, const inspect::TensorEntry*> by_name;
    for (const auto& t : mine.tensors) by_name[t.name] = &t;
    for (const auto& g : ggml["tensors"]) {
      auto it = by_name.find(g["name"].get<std::string>());
      ASSERT_NE(it, by_name.end()) << g["name"];
      const inspect::TensorEntry& t = *it->second;
      EXPECT_EQ(g["type"].get<uint32_t>(), t.dtype) << t.name;
      EXPECT_EQ(g["size"].get<uint64_t>(), t.bytes) << t.name;
      EXPECT_EQ(g["offset"].get<uint64_t>() + mine.gguf->data_offset, t.file_offset) << t.name;
    }
  }
  fs::remove_all(tmp);
}

TEST(GgufGgmlConformance, FixturesCoverEveryQuantizableGgmlType) {
  fs::path all = fs::path(Env("MLN_GGUF_FIXTURES")) / "all_types.gguf";
  std::vector<uint8_t> bytes = ReadFile(all);
  ASSERT_FALSE(bytes.empty());
  auto src = MakeMemorySource(bytes, all.string());
  ASSERT_OK_AND_ASSIGN(inspect::Report r, inspect::Inspect(*src));
  std::set<uint32_t> types;
  for (const auto& t : r.tensors) types.insert(t.dtype);
  // Quantized (q4_0 .. q2_0), ternary (tq1_0, tq2_0), float and integer types all present.
  for (uint32_t id : {0u, 1u, 2u, 8u, 12u, 14u, 24u, 27u, 28u, 30u, 34u, 35u, 39u, 40u, 41u, 42u}) {
    EXPECT_TRUE(types.count(id)) << "no tensor of ggml type " << id;
  }
}

}  // namespace
}  // namespace mln
