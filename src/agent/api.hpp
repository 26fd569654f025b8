// The agent's external contract in one place (SPEC §5, §6): where it lives on
// the bus, what its members are called, and — the one table — how each kind
// of failure is spelled on the bus, on agent.sock and as a CLI exit code.
// The agent's doors and the CLI's client both read it, so a name cannot drift
// between the side that sends it and the side that decodes it.
#pragma once

#include "util/error.hpp"

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
} // namespace property

// The ERR codes of agent.sock (SPEC §6.3). bad_request and too_large belong
// to the line protocol alone; the others are how a Failure reads there.
enum class ErrCode { locked, denied, not_initialized, bad_request, too_large, reserved_prefix, internal };

// Why an agent request failed, whichever door it came through.
enum class Failure {
    locked,
    not_initialized,
    bad_passphrase,
    reserved_prefix,
    invalid_argument,
    denied,
    busy,
    internal,
};

class AgentError : public std::runtime_error {
public:
    AgentError(Failure f, const std::string &message) : std::runtime_error(message), failure_(f) {}
    Failure failure() const noexcept { return failure_; }

private:
    Failure failure_;
};

// One row of the table: a Failure as each side spells it.
struct FailureSpelling {
    Failure failure;
    const char *bus_error;   // D-Bus error name the bus door replies with
    ErrCode line_code;       // ERR code on agent.sock
    Exit exit;               // what the puddle command exits with
    const char *why_prefix;  // what the CLI puts before the agent's message
    const char *hint;        // what the CLI tells the user to do, or ""
};

const FailureSpelling &spelling(Failure f);
// The Failure a bus error name stands for; nullopt for names the agent does
// not send (the bus's own errors: no such service, timeouts…).
std::optional<Failure> failure_from_bus_error(std::string_view name);
// Reading or unwrapping the identity in core reports an Error: the user can
// act on "no identity" and "wrong passphrase"; anything else is internal.
Failure identity_failure_kind(const Error &e);

} // namespace puddle::agent
