// What every fuzz target checks with: an invariant that fails traps (libFuzzer
// then saves the input), and the test for a message fit for a terminal.
#pragma once

#include <cstdio>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);       \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

namespace puddle::fuzz {

// Printable ASCII only: error messages reach terminals and logs.
inline bool printable(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c >= 0x7f) return false;
    return true;
}

} // namespace puddle::fuzz
