#include "libstream/base/signal_cleanup.h"

#include <unistd.h>

#include <csignal>
#include <cstring>

namespace mln {
namespace {

// Fixed slots: the handler may only touch memory that needs no allocation, and unlink(2)
// is async-signal-safe. 64 covers an output and the data files of ONNX models as they
// come (one or a few); the pages are only touched when used.
constexpr int kSlots = 64;
constexpr size_t kPathMax = 4096;
char g_paths[kSlots][kPathMax];
volatile sig_atomic_t g_used[kSlots];

void RemoveAndReraise(int sig) {
  for (int i = 0; i < kSlots; ++i) {
    if (g_used[i]) ::unlink(g_paths[i]);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

int RemoveOnSignal(const std::string& path) {
  static bool installed = false;
  if (!installed) {
    installed = true;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      // A signal ignored from the start stays ignored: nohup's SIGHUP, a background job's
      // SIGINT. Caught here, it would end a run its caller meant to survive them.
      struct sigaction old = {};
      if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
      struct sigaction sa = {};
      sa.sa_handler = RemoveAndReraise;
      sigemptyset(&sa.sa_mask);
      ::sigaction(sig, &sa, nullptr);
    }
  }
  if (path.size() >= kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    if (!g_used[i]) {
      std::memcpy(g_paths[i], path.c_str(), path.size() + 1);
      g_used[i] = 1;
      return i;
    }
  }
  return -1;
}

void ForgetOnSignal(int slot) {
  if (slot >= 0 && slot < kSlots) g_used[slot] = 0;
}

}  // namespace mln
