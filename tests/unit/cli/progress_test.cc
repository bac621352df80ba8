#include "libstream/cli/progress.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "libstream/delta/diff.h"
#include "libstream/formats/convert.h"
#include "libstream/quant/quant.h"
#include "libstream/stream/frame.h"
#include "tests/support/test_util.h"

namespace mln::cli {
namespace {

using std::chrono::milliseconds;

TEST(ProgressFormat, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(12ull << 20), "12.0 MiB");
  EXPECT_EQ(FormatBytes(3ull << 30), "3.0 GiB");
}

TEST(ProgressFormat, Duration) {
  EXPECT_EQ(FormatDuration(0), "0:00");
  EXPECT_EQ(FormatDuration(7.4), "0:07");
  EXPECT_EQ(FormatDuration(754), "12:34");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-5), "0:00");
}

TEST(ProgressFormat, KnownTotalShowsPercentRateAndEta) {
  ProgressSnapshot s{50'000'000, 100'000'000, 5.0, "blk.0.attn_q.weight"};
  EXPECT_EQ(FormatProgress("mln-parse", s, 200),
            "mln-parse: 47.7 MiB / 95.4 MiB   50%  10.0 MB/s  ETA 0:05  blk.0.attn_q.weight");
}

TEST(ProgressFormat, UnknownTotalHasNoPercentOrEta) {
  ProgressSnapshot s{50'000'000, 0, 5.0, "w"};
  EXPECT_EQ(FormatProgress("mln-emit", s, 200), "mln-emit: 47.7 MiB  10.0 MB/s  w");
}

TEST(ProgressFormat, NoRateBeforeATenthOfASecondAndNoEtaWhenDone) {
  EXPECT_EQ(FormatProgress("p", {10, 100, 0.01, ""}, 80), "p: 10 B / 100 B   10%");
  // More than announced (a quantized stream): capped at 100%, no ETA.
  EXPECT_EQ(FormatProgress("p", {200, 100, 1.0, ""}, 80), "p: 200 B / 100 B  100%  0.0 MB/s");
}

TEST(ProgressFormat, FitsTheWidthAndKeepsUtf8Whole) {
  std::string name = "tensor.\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
  std::string full = FormatProgress("p", {1, 0, 0, name}, 1000);
  for (size_t width = 2; width <= full.size() + 2; ++width) {
    std::string line = FormatProgress("p", {1, 0, 0, name}, width);
    ASSERT_LE(line.size(), width - 1);
    ASSERT_EQ(full.compare(0, line.size(), line), 0);
    if (!line.empty()) {
      // The cut never leaves a lead byte without its continuation byte.
      ASSERT_NE(static_cast<unsigned char>(line.back()) & 0xE0, 0xC0) << width;
    }
  }
}

TEST(ProgressFormat, ControlCharactersInNamesCannotDriveTheTerminal) {
  std::string line = FormatProgress("p", {1, 0, 0, "a\x1b[2Jb\rc\x7f"}, 80);
  EXPECT_EQ(line, "p: 1 B  a?[2Jb?c?");
}

TEST(ProgressThrottle, FirstPassesThenTenPerSecond) {
  Throttle t(milliseconds(100));
  ProgressClock::time_point t0{};
  EXPECT_TRUE(t.Due(t0));
  EXPECT_FALSE(t.Due(t0 + milliseconds(50)));
  EXPECT_FALSE(t.Due(t0 + milliseconds(99)));
  EXPECT_TRUE(t.Due(t0 + milliseconds(100)));
  EXPECT_FALSE(t.Due(t0 + milliseconds(150)));
  EXPECT_TRUE(t.Due(t0 + milliseconds(260)));
}

TEST(ProgressEnabled, AutoOnlyOnATerminal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EXPECT_FALSE(ProgressEnabled(ProgressMode::kAuto, false, fds[1]));
  EXPECT_TRUE(ProgressEnabled(ProgressMode::kAlways, false, fds[1]));
  EXPECT_TRUE(ProgressEnabled(ProgressMode::kAlways, true, fds[1]));
  EXPECT_FALSE(ProgressEnabled(ProgressMode::kNever, false, fds[1]));
  int tty = ::open("/dev/ptmx", O_RDWR | O_NOCTTY);
  if (tty >= 0) {
    // The master side of a pty is a terminal too.
    EXPECT_TRUE(ProgressEnabled(ProgressMode::kAuto, false, tty));
    EXPECT_FALSE(ProgressEnabled(ProgressMode::kAuto, true, tty));
    EXPECT_FALSE(ProgressEnabled(ProgressMode::kNever, false, tty));
    ::close(tty);
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

stream::FrameHeader Header(stream::FrameKind kind, std::string name, uint64_t size) {
  stream::FrameHeader h;
  h.kind = static_cast<uint16_t>(kind);
  h.name = std::move(name);
  if (kind == stream::FrameKind::kSource) h.file_size = size;
  else h.decoded_size = size;
  return h;
}

// Everything written to a pipe's read end so far.
std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

class ProgressDraw : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(fds_, O_NONBLOCK), 0);
  }
  void TearDown() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  ProgressClock::time_point now_{};
  std::function<ProgressClock::time_point()> clock_ = [this] { return now_; };
  int fds_[2];
};

TEST_F(ProgressDraw, DrawsThrottledLinesAndErasesThem) {
  Progress p("mln-test", true, fds_[1], clock_);
  ASSERT_EQ(p.observer(), &p);
  p.OnFrame(Header(stream::FrameKind::kSource, "", 4000));
  p.OnFrame(Header(stream::FrameKind::kBytes, "", 1000));
  std::string first = Drain(fds_[0]);
  EXPECT_EQ(first, "\rmln-test: 0 B / 3.9 KiB    0%");
  // 100 frames in 990 ms: ten lines at most.
  for (int i = 0; i < 100; ++i) {
    now_ += milliseconds(10);
    p.OnFrame(Header(stream::FrameKind::kTensor, "w" + std::to_string(i / 50), 20));
  }
  std::string lines = Drain(fds_[0]);
  auto draws = std::count(lines.begin(), lines.end(), '\r');
  EXPECT_GE(draws, 9);
  EXPECT_LE(draws, 10);
  EXPECT_NE(lines.find("MB/s  ETA "), std::string::npos) << lines;
  EXPECT_NE(lines.find("  w1"), std::string::npos) << lines;
  EXPECT_EQ(lines.find('\n'), std::string::npos);
  p.Finish();
  std::string erase = Drain(fds_[0]);
  ASSERT_GE(erase.size(), 2u);
  EXPECT_EQ(erase.front(), '\r');
  EXPECT_EQ(erase.back(), '\r');
  EXPECT_EQ(erase.find_first_not_of(" \r"), std::string::npos);
  p.Finish();  // once only
  EXPECT_EQ(Drain(fds_[0]), "");
}

TEST_F(ProgressDraw, ShorterLineBlanksTheRestOfTheLongerOne) {
  Progress p("p", true, fds_[1], clock_);
  p.OnFrame(Header(stream::FrameKind::kTensor, "a_rather_long_tensor_name", 1));
  std::string a = Drain(fds_[0]);
  now_ += milliseconds(200);
  p.OnFrame(Header(stream::FrameKind::kTensor, "b", 1));
  std::string b = Drain(fds_[0]);
  EXPECT_EQ(b.size(), a.size());
  EXPECT_EQ(b.back(), ' ');
}

TEST_F(ProgressDraw, SourceFromAPipeMeansNoTotal) {
  Progress p("p", true, fds_[1], clock_);
  p.OnFrame(Header(stream::FrameKind::kSource, "", 0));
  p.OnFrame(Header(stream::FrameKind::kTensor, "t", 5));
  EXPECT_EQ(Drain(fds_[0]), "\rp: 0 B");  // drawn at the first frame, before t counts
}

// mln-diff and mln-apply see patch frames: patch.begin names the new file's size, each op
// makes out_size bytes of it; patch.end has no size and must not make the total unknown.
TEST_F(ProgressDraw, PatchFramesCountTheNewModel) {
  Progress p("p", true, fds_[1], clock_);
  stream::FrameHeader begin = Header(stream::FrameKind::kPatch, "patch.begin", 0);
  begin.file_size = 4096;
  p.OnFrame(begin);
  stream::FrameHeader op = Header(stream::FrameKind::kDelta, "w", 7);  // payload 7 bytes
  op.out_size = 2048;
  now_ += milliseconds(200);
  p.OnFrame(op);
  p.OnFrame(Header(stream::FrameKind::kPatch, "patch.end", 0));
  std::string lines = Drain(fds_[0]);
  EXPECT_NE(lines.find("p: 2.0 KiB / 4.0 KiB   50%"), std::string::npos) << lines;
  EXPECT_NE(lines.find("  w"), std::string::npos) << lines;
}

TEST_F(ProgressDraw, DisabledWritesNothing) {
  {
    Progress p("p", false, fds_[1], clock_);
    EXPECT_EQ(p.observer(), nullptr);
    p.OnFrame(Header(stream::FrameKind::kTensor, "t", 5));
  }
  EXPECT_EQ(Drain(fds_[0]), "");
}

// The hook itself: a parse pipeline reports every frame it writes, in order, from its write
// stage, and what it reports adds up to the model.
class Recorder final : public stream::FrameObserver {
 public:
  void OnFrame(const stream::FrameHeader& h) override {
    kinds.push_back(h.kind);
    if (h.Is(stream::FrameKind::kSource)) total += h.file_size;
    if (h.Is(stream::FrameKind::kBytes) || h.Is(stream::FrameKind::kTensor)) {
      done += h.decoded_size;
    }
    if (h.Is(stream::FrameKind::kPatch)) total += h.file_size;
    if (h.Is(stream::FrameKind::kDelta)) done += h.out_size;
  }
  std::vector<uint16_t> kinds;
  uint64_t done = 0, total = 0;
};

TEST(ProgressHook, ParseAndEmitReportEveryFrame) {
  auto model = testing::GgufBuilder()
                   .KvString("general.name", "progress")
                   .Tensor("a", {4096}, 0, testing::RandomBytes(4096 * 4, 1))
                   .Tensor("b", {100}, 0, testing::RandomBytes(400, 2))
                   .Build();
  auto in = MakeMemorySource(model, "m.gguf");
  std::vector<uint8_t> stream_bytes;
  auto sink = MakeMemorySink(&stream_bytes, "mem");
  Recorder parse;
  formats::ParseOptions options;
  options.chunk_size = 4096;
  options.progress = &parse;
  ASSERT_OK_AND_ASSIGN(auto stats, formats::ParseToStream(*in, *sink, "", options));
  ASSERT_OK(sink->Flush());
  EXPECT_EQ(parse.kinds.size(), stats.frames);  // the trailer is not counted
  EXPECT_EQ(parse.total, model.size());
  EXPECT_EQ(parse.done, model.size());

  auto stream_in = MakeMemorySource(stream_bytes, "s");
  std::vector<uint8_t> back;
  auto out = MakeMemorySink(&back, "out");
  Recorder emit;
  ASSERT_OK(formats::EmitFromStream(*stream_in, *out, &emit));
  EXPECT_EQ(emit.kinds, parse.kinds);
  EXPECT_EQ(emit.done, model.size());
}

// mln-diff: the ops it writes cover the new model once, and patch.begin announces its size,
// so the line runs to 100% of the new file. Fails when DiffOptions::progress is not wired.
TEST(ProgressHook, DiffReportsTheNewModel) {
  auto a = testing::RandomBytes(4096 * 4, 3);
  auto v1 = testing::GgufBuilder().KvString("general.name", "v1")
                .Tensor("a", {4096}, 0, a).Tensor("b", {100}, 0, testing::RandomBytes(400, 4))
                .Build();
  a[100] ^= 1;
  auto v2 = testing::GgufBuilder().KvString("general.name", "v2")
                .Tensor("a", {4096}, 0, a).Tensor("b", {100}, 0, testing::RandomBytes(400, 5))
                .Build();
  auto old_in = MakeMemorySource(v1, "v1.gguf");
  auto new_in = MakeMemorySource(v2, "v2.gguf");
  std::vector<uint8_t> patch;
  auto sink = MakeMemorySink(&patch, "patch");
  Recorder diff;
  delta::DiffOptions options;
  options.parse.chunk_size = 4096;
  options.progress = &diff;
  ASSERT_OK(delta::DiffModels(*old_in, *new_in, *sink, options));
  EXPECT_EQ(diff.total, v2.size());
  EXPECT_EQ(diff.done, v2.size());
  EXPECT_GT(diff.kinds.size(), 2u);
}

// mln-quant: progress follows the input (its output is smaller), so a model read whole is
// 100% at the end. Fails when QuantOptions::progress is not wired.
TEST(ProgressHook, QuantReportsTheInput) {
  auto model = testing::GgufBuilder()
                   .KvString("general.architecture", "llama")
                   .Tensor("blk.0.attn_q.weight", {256, 16}, 0, testing::RandomBytes(256 * 16 * 4, 6))
                   .Build();
  auto in = MakeMemorySource(model, "m.gguf");
  std::vector<uint8_t> out_bytes;
  auto out = MakeMemorySink(&out_bytes, "out");
  Recorder quant;
  quant::QuantOptions options;
  ASSERT_OK_AND_ASSIGN(options.target, quant::ParseTarget("q8_0", 35));
  options.allow_nonfinite = true;  // random bytes may spell NaN or Inf; counts matter here
  options.chunk_size = 4096;
  options.progress = &quant;
  ASSERT_OK(quant::QuantizeStream(*in, *out, options));
  ASSERT_OK(out->Flush());
  EXPECT_EQ(quant.total, model.size());
  EXPECT_EQ(quant.done, model.size());
  EXPECT_GT(out_bytes.size(), 0u);
  EXPECT_LT(out_bytes.size(), model.size());  // it did quantize
}

}  // namespace
}  // namespace mln::cli
