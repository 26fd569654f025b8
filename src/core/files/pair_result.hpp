// <purpose>.result (SPEC §7): how the listener's claim of a code ended,
// written by the pair listener and read by `pair --wait` / `rekey-pair --wait`.
//
// The reader is lenient: the waiting command polls while the listener may
// still be writing an older puddle's file; what it cannot read it treats as
// not there yet, and a missing field reads as empty.
#pragma once

#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace puddle {

inline constexpr std::size_t kMaxPairResultBytes = 4096;

struct PairResult {
    std::string purpose;        // "pair" or "rekey"
    std::int64_t created = 0;   // the pending code's `created`, to match it
    // Final: "claimed", "unacknowledged", "burned", "expired", "stopped" or
    // "cancelled" (written by 'puddle pair --cancel', not the listener).
    // Not final: "held" -- a claim from `peer` held the code after HELLO
    // without going on and was dropped; the code is still good, and the
    // listener writes the final result later over it.
    std::string result;
    std::string host;           // the joiner's host, for "claimed"
    std::string peer;           // the peer's address
    std::int64_t at = 0;        // Unix seconds
};

// "pair.result" or "rekey.result".
std::string pair_result_file(std::string_view purpose);

// {"v":1,"purpose":…,"created":…,"result":…,"host":…,"peer":…,"at":…} and "\n".
std::string serialize_pair_result(const PairResult &result);
// nullopt when the bytes are not JSON. `created` is nullopt when missing, so
// a file of another code never matches.
struct PairResultView {
    std::optional<std::int64_t> created;
    std::string result, host, peer;
    std::optional<std::int64_t> at;
};
std::optional<PairResultView> parse_pair_result(std::span<const std::uint8_t> bytes);

std::optional<PairResultView> load_pair_result(const StateDir &dir, std::string_view purpose);
void save_pair_result(const StateDir &dir, const PairResult &result);
void remove_pair_result(const StateDir &dir, std::string_view purpose);

} // namespace puddle
