#include "libstream/cli/run.h"

#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <new>

#include "libstream/cli/exit.h"

namespace mln::cli {

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
  try {
    return body();
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
