// --since for `puddle log`: the forms journalctl users type, parsed purely
// (the clock and the time zone are arguments), so every form is unit-tested.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace puddle::cli {

// Accepts "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]", "HH:MM[:SS]" (today),
// "today", "yesterday", "now", "-N<unit>" and "N<unit> ago" with unit s,
// min/m, h, d, w. Local time. Returns Unix microseconds; nullopt and `why`
// when the text is none of these.
std::optional<std::uint64_t> parse_since(std::string_view text, std::time_t now, std::string *why);

} // namespace puddle::cli
