// mln-diff and mln-apply as library calls, on GGUF files built here: the ops chosen, the
// round trip, and what a wrong base, a hostile op or a broken binary delta gets.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "libstream/delta/apply.h"
#include "libstream/delta/diff.h"
#include "libstream/delta/model_file.h"
#include "libstream/delta/zstd_prefix.h"
#include "libstream/stream/writer.h"
#include "tests/support/test_util.h"

namespace mln::delta {
namespace {

using testing::GgufBuilder;
using testing::PipeLikeSource;
using testing::RandomBytes;

constexpr uint32_t kF16 = 1, kF32 = 0, kQ8_0 = 8;

std::vector<uint8_t> F16Weights(size_t n, uint64_t seed) {
  // Plausible weights: exponents near 2^-4, random mantissas and signs.
  auto r = RandomBytes(n * 2, seed);
  for (size_t i = 0; i < n; ++i) r[2 * i + 1] = (r[2 * i + 1] & 0x83) | 0x2C;
  return r;
}

std::vector<uint8_t> Nudge(std::vector<uint8_t> w, size_t every) {
  for (size_t i = 0; i < w.size(); i += 2 * every) w[i] ^= 1;  // one ulp
  return w;
}

struct Pair {
  std::vector<uint8_t> v1, v2;
};

Pair MakePair() {
  auto a = F16Weights(4096, 1), b = F16Weights(4096, 2), q = RandomBytes(34 * 64, 3);
  auto q2 = q;
  q2[100] += 1;
  Pair p;
  p.v1 = GgufBuilder()
             .KvString("general.name", "v1")
             .Tensor("a.weight", {64, 64}, kF16, a)
             .Tensor("b.weight", {64, 64}, kF16, b)
             .Tensor("q.weight", {32, 64}, kQ8_0, q)
             .Tensor("gone.weight", {16}, kF32, RandomBytes(64, 4))
             .Build();
  p.v2 = GgufBuilder()
             .KvString("general.name", "v2, longer")
             .Tensor("a.weight", {64, 64}, kF16, Nudge(a, 3))
             .Tensor("b.renamed", {64, 64}, kF16, b)
             .Tensor("q.weight", {32, 64}, kQ8_0, q2)
             .Tensor("new.weight", {8}, kF32, RandomBytes(32, 5))
             .Build();
  return p;
}

Result<std::vector<uint8_t>> Diff(const std::vector<uint8_t>& v1, const std::vector<uint8_t>& v2,
                                  DiffOptions options = {}) {
  PipeLikeSource a(v1), b(v2);
  std::vector<uint8_t> patch;
  auto sink = MakeMemorySink(&patch, "patch");
  MLN_RETURN_IF_ERROR(DiffModels(a, b, *sink, options));
  MLN_RETURN_IF_ERROR(sink->Flush());
  return patch;
}

Result<std::vector<uint8_t>> Apply(const std::vector<uint8_t>& base,
                                   const std::vector<uint8_t>& patch) {
  PipeLikeSource b(base), p(patch);
  MLN_TRY(auto file, ModelFile::Open(b, {}, false));
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "out");
  MLN_RETURN_IF_ERROR(ApplyPatch(*file, p, *sink, {}));
  return out;
}

std::vector<std::pair<std::string, uint8_t>> Ops(const std::vector<uint8_t>& patch) {
  std::vector<std::pair<std::string, uint8_t>> ops;
  auto frames = testing::ReadStream(patch);
  EXPECT_TRUE(frames.has_value());
  for (const auto& f : *frames) {
    if (f.header.Is(stream::FrameKind::kDelta)) ops.emplace_back(f.header.name, f.header.op);
  }
  return ops;
}

bool HasOp(const std::vector<std::pair<std::string, uint8_t>>& ops, const std::string& name,
           PatchOp op) {
  for (const auto& [n, o] : ops) {
    if (n == name && o == static_cast<uint8_t>(op)) return true;
  }
  return false;
}

TEST(Delta, RoundTripPicksTheOpEachChangeNeeds) {
  Pair p = MakePair();
  auto patch = Diff(p.v1, p.v2);
  ASSERT_TRUE(patch.has_value()) << patch.error().ToString();
  auto out = Apply(p.v1, *patch);
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  EXPECT_EQ(*out, p.v2);
  auto ops = Ops(*patch);
  EXPECT_TRUE(HasOp(ops, "gguf.header", PatchOp::kZdelta));
  EXPECT_TRUE(HasOp(ops, "a.weight", PatchOp::kFdelta) || HasOp(ops, "a.weight", PatchOp::kXor));
  // The renamed tensor is found by type and shape, and kept.
  EXPECT_TRUE(HasOp(ops, "b.renamed", PatchOp::kKeep));
  EXPECT_TRUE(HasOp(ops, "q.weight", PatchOp::kSub) || HasOp(ops, "q.weight", PatchOp::kSparse) ||
              HasOp(ops, "q.weight", PatchOp::kXor));
  EXPECT_TRUE(HasOp(ops, "new.weight", PatchOp::kInsert));
  EXPECT_TRUE(HasOp(ops, "gone.weight", PatchOp::kDelete));
}

TEST(Delta, IdenticalModelsCostAFewFramesAtAnyChunkSize) {
  Pair p = MakePair();
  DiffOptions small;
  small.parse.chunk_size = 4096;
  auto patch = Diff(p.v1, p.v1, small);
  ASSERT_TRUE(patch.has_value()) << patch.error().ToString();
  auto ops = Ops(*patch);
  ASSERT_EQ(ops.size(), 1u);  // one keep run over the whole file
  EXPECT_EQ(ops[0].second, static_cast<uint8_t>(PatchOp::kKeep));
  auto out = Apply(p.v1, *patch);
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  EXPECT_EQ(*out, p.v1);
}

TEST(Delta, ChangedBaseIsRefusedNamingTheRange) {
  Pair p = MakePair();
  auto patch = Diff(p.v1, p.v2);
  ASSERT_TRUE(patch.has_value());
  auto changed = p.v1;
  changed[changed.size() - 10] ^= 0x40;  // inside gone.weight? no: the last tensor's bytes
  changed[p.v1.size() / 2] ^= 0x01;
  auto out = Apply(changed, *patch);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, Errc::kBadData);
  EXPECT_NE(out.error().ToString().find("differ from the base"), std::string::npos)
      << out.error().ToString();
}

TEST(Delta, TruncatedPatchFails) {
  Pair p = MakePair();
  auto patch = Diff(p.v1, p.v2);
  ASSERT_TRUE(patch.has_value());
  for (size_t cut : {size_t{0}, size_t{16}, patch->size() / 2, patch->size() - 1}) {
    std::vector<uint8_t> part(patch->begin(), patch->begin() + cut);
    auto out = Apply(p.v1, part);
    EXPECT_FALSE(out.has_value()) << "cut at " << cut;
  }
}

// A patch someone else wrote: an op that claims more than the limit is refused before any
// allocation, and one that reads outside the base too.
TEST(Delta, HostileOpsAreRefused) {
  Pair p = MakePair();
  for (auto [out_size, base_offset] : {std::pair<uint64_t, uint64_t>{1ull << 40, 0},
                                       std::pair<uint64_t, uint64_t>{16, 1ull << 40}}) {
    std::vector<stream::Frame> frames;
    stream::Frame begin;
    begin.header.kind = static_cast<uint16_t>(stream::FrameKind::kPatch);
    begin.header.name = std::string(kBeginName);
    begin.header.SetAttr(std::string(kAttrBaseSize), std::to_string(p.v1.size()));
    begin.header.SetAttr(std::string(kAttrNewSize), "16");
    stream::SealFrame(begin);
    frames.push_back(std::move(begin));
    stream::Frame op;
    op.header.kind = static_cast<uint16_t>(stream::FrameKind::kDelta);
    op.header.op = static_cast<uint8_t>(PatchOp::kXor);
    op.header.out_size = out_size;
    op.header.base_size = 16;
    op.header.base_offset = base_offset;
    op.payload.Resize(16);
    std::memset(op.payload.data(), 0, 16);
    stream::SealFrame(op);
    frames.push_back(std::move(op));
    auto out = Apply(p.v1, testing::WriteStream(std::move(frames)));
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, Errc::kBadData) << out.error().ToString();
  }
}

TEST(Delta, MatchTensorsByNameThenByTypeAndShape) {
  Pair p = MakePair();
  PipeLikeSource a(p.v1), b(p.v2);
  auto fa = ModelFile::Open(a, {});
  auto fb = ModelFile::Open(b, {});
  ASSERT_TRUE(fa && fb);
  auto ia = IndexModel(**fa, {});
  auto ib = IndexModel(**fb, {});
  ASSERT_TRUE(ia && ib);
  TensorMatch m = MatchTensors(*ia, *ib);
  ASSERT_TRUE(m.base_of.contains("b.renamed"));
  EXPECT_EQ(ia->entries[m.base_of["b.renamed"]].tmpl.name, "b.weight");
  EXPECT_EQ(ia->entries[m.base_of["a.weight"]].tmpl.name, "a.weight");
  EXPECT_FALSE(m.base_of.contains("new.weight"));  // f32 [8]: nothing of that shape left
  ASSERT_EQ(m.deleted.size(), 1u);
  EXPECT_EQ(ia->entries[m.deleted[0]].tmpl.name, "gone.weight");
}

TEST(ZstdPrefix, RoundTripAndRefusals) {
  auto prefix = RandomBytes(100000, 9);
  std::vector<uint8_t> in(prefix.begin() + 500, prefix.begin() + 60500);
  in[7] ^= 1;
  auto z = CompressWithPrefix(in, prefix, 19);
  ASSERT_TRUE(z.has_value());
  EXPECT_LT(z->size(), 200u);  // found in the prefix
  auto back = DecompressWithPrefix(z->span(), prefix, in.size());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(0, std::memcmp(back->data(), in.data(), in.size()));
  // Another size than the op says, a wrong prefix, and garbage.
  EXPECT_FALSE(DecompressWithPrefix(z->span(), prefix, in.size() + 1).has_value());
  auto other = RandomBytes(100000, 10);
  auto wrong = DecompressWithPrefix(z->span(), other, in.size());
  EXPECT_TRUE(!wrong.has_value() ||
              std::memcmp(wrong->data(), in.data(), in.size()) != 0);  // never silently right
  auto junk = RandomBytes(300, 11);
  EXPECT_FALSE(DecompressWithPrefix(junk, prefix, in.size()).has_value());
}

// Each thread reuses one zstd context: what it compressed or failed to decode before must
// not change the next frame's bytes (patches are reproducible) nor break the next decode.
TEST(ZstdPrefix, ReusedContextsGiveTheSameBytesAsFreshOnes) {
  auto prefix = RandomBytes(200000, 21);
  std::vector<uint8_t> in(prefix.begin() + 1000, prefix.begin() + 41000);
  for (size_t i = 0; i < in.size(); i += 997) in[i] ^= 0x5a;
  // A fresh thread has a fresh context.
  std::vector<uint8_t> fresh;
  std::thread([&] {
    auto z = CompressWithPrefix(in, prefix, 19);
    ASSERT_TRUE(z.has_value());
    fresh.assign(z->data(), z->data() + z->size());
  }).join();
  ASSERT_FALSE(fresh.empty());
  // This thread's context first does other work: another level, window and prefix, none.
  auto other_prefix = RandomBytes(3 << 20, 22);
  ASSERT_TRUE(CompressWithPrefix(RandomBytes(70000, 23), other_prefix, 3).has_value());
  ASSERT_TRUE(CompressWithPrefix(RandomBytes(5000, 24), {}, 1).has_value());
  for (int round = 0; round < 2; ++round) {
    auto z = CompressWithPrefix(in, prefix, 19);
    ASSERT_TRUE(z.has_value());
    EXPECT_EQ(std::vector<uint8_t>(z->data(), z->data() + z->size()), fresh) << round;
  }
  // A decode that fails halfway leaves the context usable, and the prefix of the failed
  // frame does not stick to it.
  auto junk = RandomBytes(300, 25);
  EXPECT_FALSE(DecompressWithPrefix(junk, other_prefix, in.size()).has_value());
  std::vector<uint8_t> cut(fresh.begin(), fresh.end() - 4);
  EXPECT_FALSE(DecompressWithPrefix(cut, prefix, in.size()).has_value());
  auto back = DecompressWithPrefix(fresh, prefix, in.size());
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(0, std::memcmp(back->data(), in.data(), in.size()));
  EXPECT_FALSE(DecompressWithPrefix(fresh, {}, in.size()).has_value());
}

// SharedPrefix builds the prefix's tables once and copies them into each frame; the frames
// must be the very bytes CompressWithPrefix writes (a patch does not depend on how many ops
// shared a window), for inputs small and large next to the prefix, at several levels.
TEST(ZstdPrefix, SharedPrefixGivesCompressWithPrefixBytes) {
  for (size_t prefix_size : {size_t{16}, size_t{5000}, size_t{50688}, size_t{300000}}) {
    for (int level : {19, 3}) {
      auto prefix = RandomBytes(prefix_size, prefix_size);
      AlignedBuffer bytes;
      bytes.Append(prefix.data(), prefix.size());
      SharedPrefix shared(std::move(bytes), level);
      for (size_t n : {size_t{1}, size_t{32}, size_t{700}, size_t{9000}, size_t{40000},
                       size_t{200000}}) {
        // Runs of the prefix with edits, and some bytes of its own.
        std::vector<uint8_t> in = RandomBytes(n, n + prefix_size);
        for (size_t at = 0; at + 64 < n; at += 256) {
          size_t from = (at * 7) % (prefix_size > 64 ? prefix_size - 64 : 1);
          std::memcpy(in.data() + at, prefix.data() + from, std::min<size_t>(64, prefix_size));
        }
        auto want = CompressWithPrefix(in, prefix, level);
        ASSERT_TRUE(want.has_value());
        for (int use = 0; use < 2; ++use) {  // the tables built, then the tables reused
          auto got = shared.Compress(in);
          ASSERT_TRUE(got.has_value());
          ASSERT_EQ(std::vector<uint8_t>(got->data(), got->data() + got->size()),
                    std::vector<uint8_t>(want->data(), want->data() + want->size()))
              << "prefix " << prefix_size << " level " << level << " input " << n;
          auto back = DecompressWithPrefix(got->span(), prefix, n);
          ASSERT_TRUE(back.has_value());
          EXPECT_EQ(0, std::memcmp(back->data(), in.data(), n));
        }
      }
      if (prefix_size >= (16u << 10)) {
        EXPECT_GT(shared.footprint(), prefix_size);  // tables were built
      }
    }
  }
}

}  // namespace
}  // namespace mln::delta
