// pair.pending and rekey.pending (SPEC §7): the code a `pair` or `rekey-pair`
// hands out, waiting for the listener to serve it.
// parse_* is a pure function from the file's bytes to a typed value; it throws
// Error(Failure::failed, "cannot read <label>", <precise reason>, <hint>) on
// anything but a well-formed file. serialize_* writes the canonical text (one
// line of compact JSON and "\n") and refuses (std::invalid_argument) what the
// parser would refuse. load_* and save_* do the same on the state directory,
// so no caller spells the file name, its limit or its mode.
#pragma once

#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace puddle {

inline constexpr const char *kPairPendingFile = "pair.pending";
inline constexpr const char *kRekeyPendingFile = "rekey.pending";
inline constexpr std::size_t kMaxPendingBytes = 4096;

// {"v":1,"purpose":"pair"|"rekey","code":"12345678","created":<s>,"expires":<s>}

inline constexpr std::string_view kPurposePair = "pair";
inline constexpr std::string_view kPurposeRekey = "rekey";

struct PairPending {
    std::string purpose;           // "pair" or "rekey"
    std::string code;              // exactly 8 ASCII digits, no hyphen
    std::int64_t created = 0;      // Unix seconds, >= 0
    std::int64_t expires = 0;      // Unix seconds, > created
    bool operator==(const PairPending &) const = default;
};

// The parser does not compare purpose with the file name; the caller knows
// which file it read and checks that.
PairPending parse_pair_pending(std::span<const std::uint8_t> bytes, const std::string &label);
std::string serialize_pair_pending(const PairPending &pending);

// The pending file `name` (kPairPendingFile or kRekeyPendingFile), nullopt
// when there is none.
std::optional<PairPending> load_pending(const StateDir &dir, const std::string &name);
void save_pending(const StateDir &dir, const std::string &name, const PairPending &pending);

} // namespace puddle
