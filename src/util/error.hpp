// The one error type of puddle: what failed, why, and (for the user) what to do.
// It becomes an exit code, an ERR line or a bus error only at the edge.
#pragma once

#include <stdexcept>
#include <string>

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

class Error : public std::runtime_error {
public:
    Error(Exit code, std::string what, std::string why, std::string hint = {})
        : std::runtime_error(what + ": " + why), code_(code), what_(std::move(what)),
          why_(std::move(why)), hint_(std::move(hint)) {}

    Exit code() const noexcept { return code_; }
    const std::string &what_failed() const noexcept { return what_; }
    const std::string &why() const noexcept { return why_; }
    const std::string &hint() const noexcept { return hint_; }

private:
    Exit code_;
    std::string what_, why_, hint_;
};

// strerror(errno) without the thread-safety trap of strerror().
std::string errno_text(int err);

// Throws Error(Exit::failure) for a failed system call, naming the object.
[[noreturn]] void throw_errno(const std::string &what, int err, std::string hint = {});

} // namespace puddle
