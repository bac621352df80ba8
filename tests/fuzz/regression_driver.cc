// Replays inputs through a fuzz target when libFuzzer is not linked (GCC builds), as zstd's
// regression driver and libjxl's fuzzer replay do: every argument is a file or a directory
// (its regular files, sorted, not recursive), each is handed once to LLVMFuzzerTestOneInput.
// A crash or an abort in the target fails the ctest; an unreadable argument exits 2. An
// empty or missing directory counts no inputs (crashes/ dirs start empty).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "regression_driver: cannot read %s\n", path.c_str());
    return false;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy of exactly `size` bytes, so ASan sees a read past the end of the input.
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    fs::path arg = argv[i];
    if (!arg.empty() && arg.native()[0] == '-') continue;  // libFuzzer flags: ignored
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(arg)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (!RunFile(f)) return 2;
        ++inputs;
      }
    } else if (fs::exists(arg, ec)) {
      if (!RunFile(arg)) return 2;
      ++inputs;
    } else if (arg.filename() != "crashes" && arg.parent_path().filename() != "crashes") {
      std::fprintf(stderr, "regression_driver: no such file or directory: %s\n", arg.c_str());
      return 2;
    }
  }
  std::printf("regression_driver: %zu inputs replayed\n", inputs);
  return 0;
}
