// session.unlocked (SPEC §3): written by the agent while a session is
// unlocked, so `status` and health can tell without asking the agent.
//
// The reader is lenient on purpose: the file describes a session, it holds no
// secret, and a damaged one must not stop health from reporting the rest; a
// field that is missing or of the wrong type reads as absent.
#pragma once

#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace puddle {

inline constexpr const char *kSessionFileName = "session.unlocked";
inline constexpr std::size_t kMaxSessionFileBytes = 4096;

struct SessionFile {
    std::int64_t agent_pid = 0;
    std::int64_t watch_pid = 0;       // 0: no watched process
    std::int64_t lock_deadline = 0;   // Unix seconds
    std::int64_t idle_timeout_s = 0;
    std::string pubkey;               // "ed25519:<hex>"
};

// What a reader could make of the file; every field optional.
struct SessionFileView {
    std::optional<std::int64_t> agent_pid;
    std::optional<std::int64_t> lock_deadline;
    std::optional<std::string> pubkey;
};

// {"agent_pid":…,"watch_pid":…,"lock_deadline":…,"idle_timeout_s":…,"pubkey":…} and "\n".
std::string serialize_session_file(const SessionFile &file);
SessionFileView parse_session_file(std::span<const std::uint8_t> bytes);

// nullopt when absent; StateDir::read's errors (oversize, unsafe) propagate.
std::optional<SessionFileView> load_session_file(const StateDir &dir);
void save_session_file(const StateDir &dir, const SessionFile &file);
// Durable; absent is fine.
void remove_session_file(const StateDir &dir);

} // namespace puddle
