// The one table: how each kind of Failure is spelled at each edge — the exit
// code of a puddle program (SPEC §5), the D-Bus error name and the agent.sock
// ERR code the agent replies with (SPEC §6), and the words the CLI puts around
// an agent's message. The agent's doors, the CLI's agent client and every
// program's main() read it, so a spelling cannot drift between the side that
// sends it and the side that decodes it.
#pragma once

#include "util/error.hpp"

#include <optional>
#include <string_view>

namespace puddle {

// Exit codes of the puddle command, SPEC §5.
enum class Exit : int {
    ok = 0,
    failure = 1,
    usage = 2,
    locked = 3,
    not_initialized = 4,
    bad_passphrase = 5,
    pairing_failed = 6,
    denied = 7,
    ambiguous = 8,
};

// The ERR codes of agent.sock (SPEC §6.3). bad_request and too_large belong
// to the line protocol alone; the others are how a Failure reads there.
enum class ErrCode { locked, denied, not_initialized, bad_request, too_large, reserved_prefix, internal };

// One row of the table: a Failure as each edge spells it.
struct FailureSpelling {
    Failure failure;
    const char *bus_error;   // D-Bus error name the bus door replies with
    ErrCode line_code;       // ERR code on agent.sock
    Exit exit;               // what a puddle program exits with
    const char *why_prefix;  // what the CLI puts before the agent's message
    const char *hint;        // what the CLI tells the user to do, or ""
};

const FailureSpelling &spelling(Failure f);
inline Exit exit_code(Failure f) { return spelling(f).exit; }
// The Failure a bus error name stands for; nullopt for names the agent does
// not send (the bus's own errors: no such service, timeouts…).
std::optional<Failure> failure_from_bus_error(std::string_view name);

} // namespace puddle
