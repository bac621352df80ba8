#include "libstream/cli/run.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>

#include "libstream/cli/exit.h"

namespace mln::cli {
namespace {

// A standard descriptor the caller closed (`<&-`, `>&-`) would be the number the next
// open() returns: `mln-diff v1 - <&-` read v1 as stdin, and a closed stderr would put
// messages into an output file. Each closed one gets /dev/null opened the wrong way round
// (stdin write-only, stdout and stderr read-only), so using it fails with EBADF, as it
// would have, and names <stdin> or stdout.
void ReserveStandardDescriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (got != fd && got >= 0) close(got);  // a lower one was free: it is not ours to fill
  }
}

// What a filter printed as text (tables, JSON, --help) went through stdio, whose write
// errors only show when it is flushed: `mln-inspect x > /dev/full` said nothing and exited
// 0. Flushed here, a failure is a write error (74) like any other output's.
int CheckTextOutput(const char* prog, int code) {
  if (code != kExitOk) return code;  // the failure was reported; the first one stands
  errno = 0;
  std::cout.flush();
  bool failed = !std::cout.good();
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) failed = true;
  if (!failed) return code;
  const int err = errno;
  std::fprintf(stderr, "%s: stdout: write failed%s%s\n", prog, err != 0 ? ": " : "",
               err != 0 ? std::strerror(err) : "");
  return kExitIoErr;
}

}  // namespace

int RunMain(const char* prog, const std::function<int()>& body) {
  // Past a file size limit (ulimit -f) write(2) then fails with EFBIG, which the output
  // code turns into an error and a removed temporary file, instead of the default SIGXFSZ
  // killing the process and leaving the temporary behind.
  std::signal(SIGXFSZ, SIG_IGN);
  // glibc gives each thread that allocates its own malloc arena, and each arena reserves
  // 64 MiB of address space up front. Our allocations are few and large (one payload buffer
  // per frame in flight), so one arena costs nothing measurable, while the reservations would
  // make a two-thread filter fail under a `ulimit -v` that its real memory use fits in easily.
  mallopt(M_ARENA_MAX, 1);
  ReserveStandardDescriptors();
  try {
    return CheckTextOutput(prog, body());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: out of memory\n", prog);
    return kExitOsErr;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", prog, e.what());
    return kExitSoftware;
  } catch (...) {
    std::fprintf(stderr, "%s: internal error\n", prog);
    return kExitSoftware;
  }
}

}  // namespace mln::cli
