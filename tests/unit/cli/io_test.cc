#include "libstream/cli/io.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libstream/cli/exit.h"
#include "tests/support/test_util.h"

namespace mln::cli {
namespace {

// A fresh directory under /tmp, removed with what is in it when the test ends (each run
// left one behind).
struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/mln-io-test-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path = tmpl;
  }
  ~ScratchDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t CountEntries(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.' || std::string(e->d_name).size() > 2;
  closedir(d);
  return n;
}

TEST(OutputTest, CommitReplacesTheFileAtomically) {
  ScratchDir scratch;
  std::string dir = scratch.path;
  std::string path = dir + "/out.bin";
  std::ofstream(path) << "old";
  ASSERT_OK_AND_ASSIGN(auto out, Output::Open(path, false));
  ASSERT_OK(out->sink().Write("new", 3));
  EXPECT_EQ(Slurp(path), "old");  // not visible before Commit
  ASSERT_OK(out->Commit());
  EXPECT_EQ(Slurp(path), "new");
  EXPECT_EQ(CountEntries(dir), 1u);
}

// A file output is written with direct I/O in aligned 4 MiB blocks where the filesystem
// allows it (a disk), buffered where it does not (tmpfs), and buffered after a Flush in
// the middle; the bytes must come out exactly as written in every case, across odd write
// sizes, block edges and the tail.
void WriteOddSizesAndCheck(const std::string& base, bool flush_midway) {
  char tmpl[4096];
  std::snprintf(tmpl, sizeof tmpl, "%s/mln-io-test-XXXXXX", base.c_str());
  if (mkdtemp(tmpl) == nullptr) GTEST_SKIP() << "no directory under " << base;
  std::string dir = tmpl;
  std::string path = dir + "/big.bin";
  auto bytes = testing::RandomBytes((21u << 20) + 4097, 31);
  ASSERT_OK_AND_ASSIGN(auto out, Output::Open(path, false));
  size_t at = 0;
  bool flushed = false;
  for (size_t step = 1; at < bytes.size(); step = step * 7 % 5000011 + 1) {
    size_t n = std::min(step, bytes.size() - at);
    ASSERT_OK(out->sink().Write(bytes.data() + at, n));
    at += n;
    if (flush_midway && !flushed && at > (9u << 20)) {
      ASSERT_OK(out->sink().Flush());
      flushed = true;
    }
  }
  ASSERT_OK(out->Commit());
  std::string got = Slurp(path);
  ASSERT_EQ(got.size(), bytes.size());
  EXPECT_EQ(0, std::memcmp(got.data(), bytes.data(), bytes.size()));
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST(OutputTest, LargeOutputOnDiskIsIntact) { WriteOddSizesAndCheck("/var/tmp", false); }
TEST(OutputTest, LargeOutputFlushedMidwayIsIntact) { WriteOddSizesAndCheck("/var/tmp", true); }
TEST(OutputTest, LargeOutputOnTmpfsIsIntact) { WriteOddSizesAndCheck("/dev/shm", false); }

TEST(OutputTest, AbandonedOutputLeavesTheOldFileAndNoTemporary) {
  ScratchDir scratch;
  std::string dir = scratch.path;
  std::string path = dir + "/out.bin";
  std::ofstream(path) << "old";
  {
    ASSERT_OK_AND_ASSIGN(auto out, Output::Open(path, false));
    ASSERT_OK(out->sink().Write("partial", 7));
    ASSERT_OK(out->sink().Flush());
    EXPECT_EQ(Slurp(path), "old");  // meanwhile the bytes are elsewhere (nameless, or hidden)
  }
  EXPECT_EQ(Slurp(path), "old");
  EXPECT_EQ(CountEntries(dir), 1u);
}

TEST(OutputTest, MissingDirectoryIsCantCreate) {
  auto out = Output::Open("/nonexistent-dir-mln/x", false);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(ExitCodeFor(out.error().code), kExitCantCreate);
}

TEST(InputTest, MissingFileIsNoInput) {
  auto in = OpenInput("/nonexistent-mln-file");
  ASSERT_FALSE(in.has_value());
  EXPECT_EQ(ExitCodeFor(in.error().code), kExitNoInput);
  EXPECT_EQ(in.error().file, "/nonexistent-mln-file");
}

TEST(ExitTest, EveryErrorClassHasItsSysexitsCode) {
  EXPECT_EQ(ExitCodeFor(Errc::kRejected), 1);
  EXPECT_EQ(ExitCodeFor(Errc::kUsage), 64);
  EXPECT_EQ(ExitCodeFor(Errc::kBadData), 65);
  EXPECT_EQ(ExitCodeFor(Errc::kNoInput), 66);
  EXPECT_EQ(ExitCodeFor(Errc::kUnsupported), 69);
  EXPECT_EQ(ExitCodeFor(Errc::kInternal), 70);
  EXPECT_EQ(ExitCodeFor(Errc::kOs), 71);
  EXPECT_EQ(ExitCodeFor(Errc::kCantCreate), 73);
  EXPECT_EQ(ExitCodeFor(Errc::kIo), 74);
}

TEST(ErrorTest, OneLineNamesFileFrameTensorAndOffset) {
  Error e{Errc::kBadData, "checksum mismatch", "v2.gguf", 12, 0x1f400, "blk.0.attn_q.weight"};
  EXPECT_EQ(e.ToString(), "v2.gguf: frame 12 'blk.0.attn_q.weight' @0x1f400: checksum mismatch");
}

}  // namespace
}  // namespace mln::cli
