// Keeping mapped only the code a long-running process still uses.
#pragma once

#include <cstddef>

namespace puddle {

// Drops this process's page-table entries for the read-only, non-writable
// segments of the program and every loaded library (code, constants, symbol
// tables): the pages stay in the page cache, and the next instruction or read
// that needs one maps it again (a minor fault, 64 KiB at a time). Start-up
// and an unlock touch far more code than signing does; without this, every
// 64 KiB window they touched stays resident for the process's lifetime.
// Writable segments (data, RELRO, bss) and the vDSO are left alone, so no
// content of the process's own is lost. Returns the bytes the ranges cover.
std::size_t unmap_read_only_segments();

} // namespace puddle
