// The one error type of puddle: what failed, why, and (for the user) what to do.
// It becomes an exit code, an ERR line or a bus error only at the edge.
#pragma once

#include <stdexcept>
#include <string>

namespace puddle {

// What kind of failure it is: the one vocabulary of every layer. How each
// kind is spelled at an edge (exit code, bus error name, ERR code) is the one
// table in util/failure.hpp.
enum class Failure {
    failed,           // anything the user fixes from the message and hint
    invalid_argument, // a usage error
    locked,
    not_initialized,
    bad_passphrase,
    pairing_failed,
    denied,
    ambiguous,
    reserved_prefix,
    busy,
    internal,
};

class Error : public std::runtime_error {
public:
    Error(Failure kind, std::string what, std::string why, std::string hint = {})
        : std::runtime_error(what + ": " + why), kind_(kind), what_(std::move(what)),
          why_(std::move(why)), hint_(std::move(hint)) {}

    Failure kind() const noexcept { return kind_; }
    const std::string &what_failed() const noexcept { return what_; }
    const std::string &why() const noexcept { return why_; }
    const std::string &hint() const noexcept { return hint_; }

private:
    Failure kind_;
    std::string what_, why_, hint_;
};

// strerror(errno) without the thread-safety trap of strerror().
std::string errno_text(int err);

// Throws Error(Failure::failed) for a failed system call, naming the object.
[[noreturn]] void throw_errno(const std::string &what, int err, std::string hint = {});

} // namespace puddle
