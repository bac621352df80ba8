#include "libstream/cli/run.h"

#include <cstdio>
#include <exception>
#include <new>

#include "libstream/cli/exit.h"

namespace mln::cli {

int RunMain(const char* prog, const std::function<int()>& body) {
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
