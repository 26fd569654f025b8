// requesters.json: the programs that have asked the agent for a signature,
// with when each first did (puddle-agent(1) RECORD). The agent adds to it
// on a requester's first use; health reads it for the "new requester"
// warning ([record] new_requester_warning_hours). Only an account: any
// process of the user can edit it, so it can hide a requester from the
// warning, never give one the key.
#pragma once

#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace puddle {

inline constexpr const char *kRequestersFile = "requesters.json";
inline constexpr std::size_t kMaxRequesters = 1024;
inline constexpr std::size_t kMaxRequestersBytes = 1024 * 1024;
inline constexpr std::size_t kMaxRequesterTextBytes = 4096;

struct RequesterRecord {
    std::string program;    // executable path, "[comm]" or "pid N"
    std::string unit;       // its unit at first use; may be ""
    std::int64_t first_seen = 0; // Unix seconds
};

struct RequestersView {
    std::vector<RequesterRecord> requesters; // oldest first
};

// {"v":1,"requesters":[{"program":…,"unit":…,"first_seen":…},…]}. Strict:
// throws Error naming the file, the entry and the field.
RequestersView parse_requesters(std::span<const std::uint8_t> bytes, const std::string &label = kRequestersFile);
std::string serialize_requesters(const RequestersView &view);

// Adds `record` unless its program is listed; past kMaxRequesters the oldest
// entries go. True when it was added.
bool add_requester(RequestersView &view, RequesterRecord record);

// nullopt when absent.
std::optional<RequestersView> load_requesters(const StateDir &dir);
void save_requesters(const StateDir &dir, const RequestersView &view);

} // namespace puddle
