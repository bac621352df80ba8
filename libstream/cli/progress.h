// Progress on stderr for long work: model bytes done, MB/s, ETA when the total is known and
// the tensor at hand, redrawn in place on one line (\r) at most ten times a second and erased
// at the end. Drawn only when stderr is a terminal, so pipes, files and CI logs never see
// it, unless --progress forces it (zstd's and git's rule).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "libstream/cli/options.h"
#include "libstream/stream/frame_io.h"

namespace mln::cli {

using ProgressClock = std::chrono::steady_clock;

/// What one progress line shows.
struct ProgressSnapshot {
  uint64_t done = 0;      ///< model bytes passed so far
  uint64_t total = 0;     ///< model bytes expected; 0 when unknown (input from a pipe)
  double seconds = 0;     ///< since the first frame
  std::string_view name;  ///< tensor at hand; "" for none
};

/// "mln-parse: 512.0 MiB / 1.0 GiB  50%  245.3 MB/s  ETA 0:02  blk.0.attn_q.weight", without
/// the total, percentage and ETA when the total is unknown, and without the rate until time
/// has passed. The line is cut to fit `width` - 1 columns (no wrap); control characters in
/// the name, which comes from the input file, are shown as '?', so a model cannot drive the
/// terminal.
std::string FormatProgress(std::string_view prog, const ProgressSnapshot& s, size_t width);

/// "0 B", "1023 B", "1.5 KiB", "12.3 MiB", "1.0 GiB".
std::string FormatBytes(uint64_t bytes);
/// "0:07", "12:34", "1:02:03".
std::string FormatDuration(double seconds);

/// Lets an event through at most once per `interval`; the first one always passes, so even a
/// short run draws one line.
class Throttle {
 public:
  explicit Throttle(ProgressClock::duration interval) : interval_(interval) {}
  bool Due(ProgressClock::time_point now);

 private:
  ProgressClock::duration interval_;
  ProgressClock::time_point last_{};
  bool started_ = false;
};

/// kAuto draws only when `fd` is a terminal and `quiet` is off; kAlways and kNever force.
bool ProgressEnabled(ProgressMode mode, bool quiet, int fd);

/// Progress fed by a pipeline (PipelineOptions::progress): done counts the decoded payload
/// bytes of kBytes and kTensor frames and the out_size of kDelta frames (the new model's
/// bytes a patch op makes), total the file sizes of kSource frames (0 when a parser read a
/// pipe) and of the patch.begin kPatch frame. OnFrame runs in one serial pipeline stage only.
class Progress final : public stream::FrameObserver {
 public:
  /// Draws on stderr when ProgressEnabled(args.progress, args.quiet, STDERR_FILENO).
  Progress(std::string prog, const CommonArgs& args);
  /// Draws on `fd` when `enabled`, reading time from `now` (tests inject a clock).
  Progress(std::string prog, bool enabled, int fd,
           std::function<ProgressClock::time_point()> now = ProgressClock::now);
  ~Progress() override;
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// What to put in PipelineOptions::progress: this, or nullptr when disabled.
  stream::FrameObserver* observer() { return enabled_ ? this : nullptr; }
  void OnFrame(const stream::FrameHeader& header) override;
  /// Erases the line if one was drawn. Call before printing anything else on stderr; the
  /// destructor calls it too.
  void Finish();

 private:
  void Draw(ProgressClock::time_point now);

  std::string prog_;
  bool enabled_;
  int fd_;
  std::function<ProgressClock::time_point()> now_;
  Throttle throttle_{std::chrono::milliseconds(100)};
  ProgressClock::time_point start_{};
  bool started_ = false;
  bool total_known_ = true;
  uint64_t done_ = 0, total_ = 0;
  std::string name_;
  size_t drawn_ = 0;  // length of the line on screen, 0 when none
};

}  // namespace mln::cli
