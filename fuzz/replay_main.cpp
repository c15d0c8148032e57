// Corpus replay: runs every file of the given directories (or the given files) through the
// target's LLVMFuzzerTestOneInput, once, in a normal (non-libFuzzer) build. Registered as ctest
// tests labelled `fuzz`, so every build, including the sanitizer one, re-checks the committed
// corpora. A failed check aborts, which fails the test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <system_error>
#include <vector>

#include "fuzz_common.hpp"

namespace {

namespace fs = std::filesystem;

bool collect(const fs::path& p, std::vector<fs::path>& out) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(p, ec)) {
            if (entry.is_regular_file()) files.push_back(entry.path());
        }
        if (ec) return false;
        std::sort(files.begin(), files.end());
        out.insert(out.end(), files.begin(), files.end());
        return true;
    }
    if (fs::is_regular_file(p, ec)) {
        out.push_back(p);
        return true;
    }
    return false;
}

bool replay(const fs::path& file) {
    std::ifstream f(file, std::ios::binary);
    if (!f) return false;
    const std::vector<char> bytes((std::istreambuf_iterator<char>(f)),
                                  std::istreambuf_iterator<char>());
    // An exactly sized heap copy, so that the sanitizer build catches any read past the end.
    const auto copy = std::make_unique<std::uint8_t[]>(bytes.size());
    std::transform(bytes.begin(), bytes.end(), copy.get(),
                   [](char c) { return static_cast<std::uint8_t>(c); });
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " CORPUS_DIR_OR_FILE...\n";
        return 2;
    }
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        if (!collect(argv[i], files)) {
            std::cerr << "cannot read " << argv[i] << "\n";
            return 1;
        }
    }
    if (files.empty()) {
        std::cerr << "no corpus files found: an empty corpus tests nothing\n";
        return 1;
    }
    for (const auto& file : files) {
        if (!replay(file)) {
            std::cerr << "cannot read " << file << "\n";
            return 1;
        }
    }
    std::cout << "replayed " << files.size() << " inputs\n";
    return 0;
}
