#include "libstream/base/whole_input.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "libstream/base/aligned_buffer.h"

namespace mln {
namespace {

struct Mapping {
  void* addr;
  size_t size;
  ~Mapping() {
    if (addr != nullptr && size != 0) munmap(addr, size);
  }
};

}  // namespace

Result<WholeInput> ReadWholeInput(ByteSource& src, uint64_t max_pipe_bytes) {
  if (src.position() != 0) return Fail(Errc::kInternal, "ReadWholeInput on a consumed source");
  struct stat st;
  if (src.fd() >= 0 && fstat(src.fd(), &st) == 0 && S_ISREG(st.st_mode)) {
    WholeInput in;
    auto m = std::make_shared<Mapping>();
    m->size = static_cast<size_t>(st.st_size);
    m->addr = nullptr;
    if (m->size != 0) {
      void* p = mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, src.fd(), 0);
      if (p == MAP_FAILED) {
        return Fail(Error{Errc::kIo, std::string("cannot map the file: ") + std::strerror(errno),
                          src.name()});
      }
      m->addr = p;
      madvise(p, m->size, MADV_SEQUENTIAL);
    }
    in.bytes = {static_cast<const uint8_t*>(m->addr), m->size};
    in.owner = m;
    in.mapped = true;
    return in;
  }
  auto buf = std::make_shared<AlignedBuffer>();
  constexpr size_t kStep = 16 << 20;
  for (;;) {
    size_t old = buf->size();
    if (old >= max_pipe_bytes) {
      MLN_TRY(bool end, src.AtEnd());
      if (end) break;
      return Fail(Error{Errc::kUnsupported,
                        "input from a pipe is larger than " + std::to_string(max_pipe_bytes) +
                            " bytes; this format needs the whole file: pass it by name",
                        src.name()});
    }
    size_t want = static_cast<size_t>(std::min<uint64_t>(kStep, max_pipe_bytes - old));
    buf->Resize(old + want);
    MLN_TRY(size_t got, src.Read(buf->data() + old, want));
    buf->Resize(old + got);
    if (got < want) break;
  }
  WholeInput in;
  in.bytes = buf->span();
  in.owner = buf;
  return in;
}

}  // namespace mln
