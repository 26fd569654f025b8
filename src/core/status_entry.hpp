// The agent's status entry in the journal (puddle-agent(1) STATUS ENTRY,
// docs/formats.md "Status entry"): what one user's puddle looks like on one
// machine, written at the agent's start and on each change, and read back
// by `puddle fleet --journal` from journals gathered off many machines.
// Pure: the fields written and the strict reader of fields as hostile as a
// forwarded journal can hold (tests/fuzz/fuzz_status_entry.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace puddle {

namespace status_message {
inline constexpr const char *kId = "c98e52a5244646dbb87d03e6695091c3";
inline constexpr const char *kVersion = "1";
} // namespace status_message

// Bounds of what the reader accepts (the writer never exceeds them).
inline constexpr std::size_t kStatusMaxField = 4096;    // bytes of any one field's value
inline constexpr std::size_t kStatusMaxReasons = 16;
inline constexpr std::size_t kStatusMaxReasonBytes = 512;
inline constexpr std::size_t kStatusMaxNameBytes = 64;
inline constexpr std::size_t kStatusMaxUserBytes = 64;

struct StatusEntry {
    std::string user;        // PUDDLE_USER: the Unix user name
    std::int64_t uid = -1;   // _UID, set by journald (not a field the agent writes)
    std::string key;         // PUDDLE_KEY: "ed25519:<hex>" held now
    std::string first_key;   // PUDDLE_FIRST_KEY: generation 0 of that key's rotation log (the puddle's lineage)
    std::string name;        // PUDDLE_NAME: the friendly name this machine claims for the key ("" none)
    std::string host;        // PUDDLE_HOST: the host name members record
    std::string machine_key; // PUDDLE_MACHINE_KEY: "ed25519:<hex>" from the envoy certificate ("" none yet)
    std::uint64_t generation = 0;        // PUDDLE_GENERATION
    bool unlocked = false;               // PUDDLE_UNLOCKED: yes | no
    std::string health = "healthy";      // PUDDLE_HEALTH: healthy | warning | degraded
    std::vector<std::string> reasons;    // PUDDLE_HEALTH_REASONS: "severity: text", one a line
    std::string members_digest;          // PUDDLE_MEMBERS_DIGEST: members_view_digest() ("" no view)
    std::uint64_t time_usec = 0;         // the entry's realtime timestamp (reader only)
    bool operator==(const StatusEntry &) const = default;
};

// "NAME=value" fields of one entry: MESSAGE_ID, MESSAGE, PRIORITY and the
// PUDDLE_* fields above. Values are cut to the reader's bounds.
std::vector<std::string> status_entry_fields(const StatusEntry &e);

// Which fields changed enough to write a new entry: all but the time.
bool same_status(const StatusEntry &a, const StatusEntry &b);

using EntryFields = std::map<std::string, std::string>; // NAME -> value, as read from one journal entry

// Reads one entry from its fields (PUDDLE_*, and _UID), strictly: throws
// Error(Failure::failed, "status entry", <the field and what is wrong>) for a
// missing, oversized or malformed field, another version, or a value with
// control characters where text is expected.
StatusEntry parse_status_entry(const EntryFields &fields, std::uint64_t time_usec);

} // namespace puddle
