#include "libstream/cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace mln::cli {
namespace {

std::string Printf(const char* fmt, auto... args) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, fmt, args...);
  return std::string(buf, n < 0 ? 0 : std::min<size_t>(n, sizeof buf - 1));
}

// Columns of the terminal on `fd`; COLUMNS or 80 when it is not one (forced progress).
size_t TerminalWidth(int fd) {
  struct winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    long v = std::strtol(c, nullptr, 10);
    if (v > 0 && v < 10000) return static_cast<size_t>(v);
  }
  return 80;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;  // progress is best effort: a closed stderr is no error
    off += static_cast<size_t>(n);
  }
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return Printf("%llu B", static_cast<unsigned long long>(bytes));
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes) / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return Printf("%.1f %s", v, kUnits[u]);
}

std::string FormatDuration(double seconds) {
  auto s = static_cast<unsigned long long>(std::max(0.0, seconds) + 0.5);
  if (s >= 3600) return Printf("%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
  return Printf("%llu:%02llu", s / 60, s % 60);
}

std::string FormatProgress(std::string_view prog, const ProgressSnapshot& s, size_t width) {
  std::string line(prog);
  line += ": ";
  line += FormatBytes(s.done);
  bool known = s.total != 0;
  if (known) {
    line += " / " + FormatBytes(s.total);
    uint64_t pct = std::min<uint64_t>(100, s.done >= s.total ? 100 : s.done * 100 / s.total);
    line += Printf("  %3llu%%", static_cast<unsigned long long>(pct));
  }
  // Under a tenth of a second a rate is noise.
  if (s.seconds >= 0.1) {
    double rate = static_cast<double>(s.done) / s.seconds;
    line += Printf("  %.1f MB/s", rate / 1e6);
    if (known && s.done < s.total && rate > 0) {
      line += "  ETA " + FormatDuration(static_cast<double>(s.total - s.done) / rate);
    }
  }
  if (!s.name.empty()) {
    line += "  ";
    for (char c : s.name) {
      auto u = static_cast<unsigned char>(c);
      line += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
  }
  // One column short of the width, so the terminal never wraps; never inside a UTF-8
  // sequence (continuation bytes are 10xxxxxx).
  size_t max = width > 1 ? width - 1 : 0;
  if (line.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line.resize(cut);
  }
  return line;
}

bool Throttle::Due(ProgressClock::time_point now) {
  if (started_ && now - last_ < interval_) return false;
  started_ = true;
  last_ = now;
  return true;
}

bool ProgressEnabled(ProgressMode mode, bool quiet, int fd) {
  switch (mode) {
    case ProgressMode::kAlways: return true;
    case ProgressMode::kNever: return false;
    case ProgressMode::kAuto: break;
  }
  return !quiet && ::isatty(fd) == 1;
}

Progress::Progress(std::string prog, const CommonArgs& args)
    : Progress(std::move(prog), ProgressEnabled(args.progress, args.quiet, STDERR_FILENO),
               STDERR_FILENO) {}

Progress::Progress(std::string prog, bool enabled, int fd,
                   std::function<ProgressClock::time_point()> now)
    : prog_(std::move(prog)), enabled_(enabled), fd_(fd), now_(std::move(now)) {}

Progress::~Progress() { Finish(); }

void Progress::OnFrame(const stream::FrameHeader& h) {
  if (!enabled_) return;
  auto now = now_();
  if (!started_) {
    started_ = true;
    start_ = now;
  }
  if (h.Is(stream::FrameKind::kSource)) {
    // A source frame from a pipe has no size: then no total and no ETA for the run.
    if (h.file_size == 0) total_known_ = false;
    total_ += h.file_size;
  } else if (h.Is(stream::FrameKind::kBytes) || h.Is(stream::FrameKind::kTensor)) {
    done_ += h.decoded_size;
    if (h.Is(stream::FrameKind::kTensor) && h.name != name_) name_ = h.name;
  } else if (h.Is(stream::FrameKind::kPatch) && h.file_size != 0) {
    // patch.begin names the new file's size; patch.end carries none and changes nothing.
    total_ += h.file_size;
  } else if (h.Is(stream::FrameKind::kDelta)) {
    // A patch op makes out_size bytes of the new model, whatever its payload holds.
    done_ += h.out_size;
    if (h.name != name_) name_ = h.name;
  }
  if (throttle_.Due(now)) Draw(now);
}

void Progress::Draw(ProgressClock::time_point now) {
  ProgressSnapshot s;
  s.done = done_;
  s.total = total_known_ ? total_ : 0;
  s.seconds = std::chrono::duration<double>(now - start_).count();
  s.name = name_;
  std::string line = FormatProgress(prog_, s, TerminalWidth(fd_));
  size_t len = line.size();
  // Blank out what is left of a longer previous line rather than send an escape sequence.
  if (len < drawn_) line.append(drawn_ - len, ' ');
  WriteAll(fd_, "\r" + line);
  drawn_ = std::max<size_t>(len, 1);
}

void Progress::Finish() {
  if (drawn_ == 0) return;
  WriteAll(fd_, "\r" + std::string(drawn_, ' ') + "\r");
  drawn_ = 0;
}

}  // namespace mln::cli
