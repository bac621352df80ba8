#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/formats/container.h"
#include "libstream/formats/convert.h"
#include "tests/support/test_util.h"

namespace mln::formats {
namespace {

using testing::PipeLikeSource;

using testing::GgufBuilder;
using testing::RandomBytes;

struct Member {
  std::string name;
  std::vector<uint8_t> data;
};

enum class Kind { kTar, kTarGz, kTarZst, kTarXz, kZipStore, kZipDeflate };
const char* KindName(Kind k) {
  static const char* kNames[] = {"tar", "tar.gz", "tar.zst", "tar.xz", "zip(store)", "zip(deflate)"};
  return kNames[static_cast<int>(k)];
}

// Writes an archive with libarchive's own writer, the independent side of these tests.
std::vector<uint8_t> MakeArchive(Kind kind, const std::vector<Member>& members) {
  archive* a = archive_write_new();
  bool zip = kind == Kind::kZipStore || kind == Kind::kZipDeflate;
  if (zip) {
    archive_write_set_format_zip(a);
    archive_write_set_format_option(a, "zip", "compression",
                                    kind == Kind::kZipStore ? "store" : "deflate");
  } else {
    archive_write_set_format_pax_restricted(a);
  }
  if (kind == Kind::kTarGz) archive_write_add_filter_gzip(a);
  if (kind == Kind::kTarZst) archive_write_add_filter_zstd(a);
  if (kind == Kind::kTarXz) archive_write_add_filter_xz(a);
  std::vector<uint8_t> buf(8 << 20);
  size_t used = 0;
  EXPECT_EQ(archive_write_open_memory(a, buf.data(), buf.size(), &used), ARCHIVE_OK);
  for (const auto& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    EXPECT_EQ(archive_write_data(a, m.data.data(), m.data.size()),
              static_cast<la_ssize_t>(m.data.size()));
    archive_entry_free(e);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  buf.resize(used);
  return buf;
}

std::vector<uint8_t> Gguf(uint64_t seed) {
  GgufBuilder b;
  b.KvString("general.architecture", "test")
      .Tensor("a", {64, 3}, 8, RandomBytes(34 * 2 * 3, seed))
      .Tensor("b", {300}, 0, RandomBytes(1200, seed + 1));
  return b.Build();
}

std::vector<uint8_t> Text(const std::string& s) { return {s.begin(), s.end()}; }


// archive -> stream -> model file, through ParseToStream and EmitFromStream.
Result<std::vector<uint8_t>> RoundTrip(ByteSource& in, const std::string& member) {
  return testing::RoundTripModel(in, 256, "", member);
}

constexpr Kind kKinds[] = {Kind::kTar,    Kind::kTarGz,     Kind::kTarZst,
                           Kind::kTarXz,  Kind::kZipStore, Kind::kZipDeflate};

TEST(ContainerTest, ListsMembersWithSizeAndFormat) {
  auto model = Gguf(1);
  for (Kind k : kKinds) {
    SCOPED_TRACE(KindName(k));
    auto arc = MakeArchive(k, {{"README", Text("hello")}, {"../up/m.gguf", model}});
    EXPECT_EQ(BidArchive(arc), 80);
    auto src = MakeMemorySource(arc, "a");
    ASSERT_OK_AND_ASSIGN(auto members, ListArchive(*src));
    ASSERT_EQ(members.size(), 2u);
    EXPECT_EQ(members[0].name, "README");
    EXPECT_EQ(members[0].format, "");
    EXPECT_EQ(members[1].name, "../up/m.gguf");  // only a name: nothing is extracted
    EXPECT_EQ(members[1].format, "gguf");
    if (members[1].size) {
      EXPECT_EQ(*members[1].size, model.size());
    }
  }
}

TEST(ContainerTest, MemberRoundTripsByteForByte) {
  auto model = Gguf(2), other = Gguf(3);
  for (Kind k : kKinds) {
    SCOPED_TRACE(KindName(k));
    auto arc = MakeArchive(k, {{"a.gguf", other}, {"notes.txt", Text("x")}, {"m.gguf", model}});
    auto mem = MakeMemorySource(arc, "a");
    ASSERT_OK_AND_ASSIGN(auto back, RoundTrip(*mem, "m.gguf"));
    EXPECT_EQ(back, model);
    PipeLikeSource pipe(arc);
    ASSERT_OK_AND_ASSIGN(auto back2, RoundTrip(pipe, "a.gguf"));
    EXPECT_EQ(back2, other);
  }
}

TEST(ContainerTest, PicksTheOnlyModelByContent) {
  auto model = Gguf(4);
  for (Kind k : kKinds) {
    SCOPED_TRACE(KindName(k));
    // The model has no telling name; detection is by content.
    auto arc = MakeArchive(k, {{"LICENSE", Text("MIT")}, {"weights.bin", model}});
    PipeLikeSource pipe(arc);
    ASSERT_OK_AND_ASSIGN(auto back, RoundTrip(pipe, ""));  // OpenModel bids "archive"
    EXPECT_EQ(back, model);
  }
}

TEST(ContainerTest, RefusesAmbiguousOrMissingMembers) {
  auto arc = MakeArchive(Kind::kTarGz, {{"x.gguf", Gguf(5)}, {"y.gguf", Gguf(6)}});
  // From a pipe the second model is found after the first went out: an error, no trailer.
  PipeLikeSource pipe(arc);
  auto r = RoundTrip(pipe, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUsage);
  EXPECT_NE(r.error().message.find("x.gguf"), std::string::npos) << r.error().ToString();
  EXPECT_NE(r.error().message.find("y.gguf"), std::string::npos) << r.error().ToString();

  // From a regular file the members are listed first, before any output.
  char path[] = "/tmp/mln-container-test.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, arc.data(), arc.size()), static_cast<ssize_t>(arc.size()));
  lseek(fd, 0, SEEK_SET);
  auto file = MakeFdSource(fd, path, /*owned=*/true);
  unlink(path);
  ParseOptions options;
  auto p = ParseArchiveMember(*file, "", "", options);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kUsage);
  EXPECT_NE(p.error().message.find("several models"), std::string::npos) << p.error().ToString();

  auto mem = MakeMemorySource(arc, "a");
  auto q = ParseArchiveMember(*mem, "z.gguf", "", options);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::kNoInput);  // a member named and not there: a missing input
  EXPECT_NE(q.error().message.find("no member 'z.gguf'"), std::string::npos);

  auto none = MakeArchive(Kind::kTar, {{"a.txt", Text("a")}});
  auto mem2 = MakeMemorySource(none, "b");
  auto n = ParseArchiveMember(*mem2, "", "", options);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("no member of the archive is a model"), std::string::npos);
}

TEST(ContainerTest, RefusesTruncatedAndCorruptArchives) {
  auto model = Gguf(7);
  for (Kind k : kKinds) {
    SCOPED_TRACE(KindName(k));
    auto arc = MakeArchive(k, {{"m.gguf", model}});
    auto cut = std::vector<uint8_t>(arc.begin(), arc.begin() + arc.size() * 2 / 3);
    auto mem = MakeMemorySource(cut, "a");
    auto r = RoundTrip(*mem, "m.gguf");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kBadData) << r.error().ToString();
    auto mem2 = MakeMemorySource(cut, "a");
    EXPECT_FALSE(ListArchive(*mem2));
  }
  // A flipped byte in a stored zip member written with a data descriptor: the parser reads
  // exactly the stated size and never asks for more, so only the end-of-member check can
  // notice. Streaming libarchive finds no descriptor whose CRC matches and reads on past
  // the stated size ("longer than"); a reader that saw the descriptor reports the CRC.
  auto arc = MakeArchive(Kind::kZipStore, {{"m.gguf", model}});
  auto at = std::search(arc.begin(), arc.end(), model.begin() + 100, model.begin() + 140);
  ASSERT_NE(at, arc.end());
  at[5] ^= 0x40;
  auto mem = MakeMemorySource(arc, "a");
  auto r = RoundTrip(*mem, "m.gguf");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kBadData) << r.error().ToString();
  std::string msg = r.error().ToString();
  EXPECT_TRUE(msg.find("CRC") != std::string::npos || msg.find("longer than") != std::string::npos)
      << msg;
  EXPECT_NE(msg.find("m.gguf"), std::string::npos) << msg;
}

TEST(ContainerTest, BidsOnlyOnArchives) {
  auto model = Gguf(8);
  EXPECT_EQ(BidArchive(model), 0);
  EXPECT_EQ(BidArchive(Text("plain text, not an archive at all")), 0);
  EXPECT_EQ(BidArchive({}), 0);
  // A model that only went through gzip (no tar) is not an archive: no "raw" format.
  archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  archive_write_add_filter_gzip(a);
  std::vector<uint8_t> buf(1 << 20);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  archive_entry* e = archive_entry_new();
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_pathname(e, "m");
  archive_write_header(a, e);
  archive_write_data(a, model.data(), model.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  buf.resize(used);
  EXPECT_GT(used, 10u);
  EXPECT_EQ(BidArchive(buf), 0);
}

}  // namespace
}  // namespace mln::formats
