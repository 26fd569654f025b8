// The agent's external contract in one place (SPEC §6): where it lives on the
// bus and what its members are called; how each Failure is spelled there is
// the one table in util/failure.hpp. The agent's doors and the CLI's client
// both read them, so a name cannot drift between sender and decoder.
#pragma once

#include "util/failure.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace puddle::agent {

inline constexpr const char *kBusName = "org.puddle.Agent1";
inline constexpr const char *kObjectPath = "/org/puddle/Agent1";
inline constexpr const char *kInterface = "org.puddle.Agent1";

namespace member {
inline constexpr const char *kSign = "Sign";
inline constexpr const char *kUnlock = "Unlock";
inline constexpr const char *kLock = "Lock";
inline constexpr const char *kRekey = "Rekey";
inline constexpr const char *kSetName = "SetName";
inline constexpr const char *kLocked = "Locked"; // the signal
} // namespace member

namespace property {
inline constexpr const char *kUnlocked = "Unlocked";
inline constexpr const char *kPublicKey = "PublicKey";
inline constexpr const char *kIdleTimeoutUSec = "IdleTimeoutUSec";
inline constexpr const char *kLockDeadlineUSec = "LockDeadlineUSec";
inline constexpr const char *kWatchPID = "WatchPID";
inline constexpr const char *kHealth = "Health";
inline constexpr const char *kHealthReasons = "HealthReasons";
inline constexpr const char *kUseCounts = "UseCounts"; // (signed, refused) since the last unlock
inline constexpr const char *kLastUse = "LastUse";     // (time µs, program, unit, purpose, outcome)
inline constexpr const char *kRecordNotWritten = "RecordNotWritten"; // entries since the agent started
} // namespace property

// Reading or unwrapping the identity in core reports an Error: the user can
// act on "no identity" and "wrong passphrase"; anything else is internal.
// A told() error keeps its kind.
Failure identity_failure_kind(const Error &e);

} // namespace puddle::agent
