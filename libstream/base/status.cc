#include "libstream/base/status.h"

#include <cstdio>

namespace mln {

std::string Error::ToString() const {
  std::string out;
  auto sep = [&out] {
    if (!out.empty()) out += ' ';
  };
  if (!file.empty()) out = file + ":";
  if (frame) {
    sep();
    out += "frame " + std::to_string(*frame);
  }
  if (!tensor.empty()) {
    sep();
    out += "'" + tensor + "'";
  }
  if (offset) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "@0x%llx", static_cast<unsigned long long>(*offset));
    sep();
    out += buf;
  }
  if (frame || !tensor.empty() || offset) out += ":";
  sep();
  out += message;
  return out;
}

}  // namespace mln
