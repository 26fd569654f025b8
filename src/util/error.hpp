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
    // Made by told(): its text is for whoever asked, as it is.
    bool is_told() const noexcept { return told_; }

private:
    friend Error told(Failure kind, const std::string &message);
    struct Told {};
    Error(Told, Failure kind, const std::string &message)
        : std::runtime_error(message), kind_(kind), what_(message), told_(true) {}

    Failure kind_;
    std::string what_, why_, hint_;
    bool told_ = false;
};

// A failure the agent tells its requester as it is, kind and one text (no
// what/why split: it crosses a door as one message). The doors send only
// these: another Error reaches a requester as agent::identity_failure_kind
// says, else as "internal error" (and the agent's log has it).
inline Error told(Failure kind, const std::string &message) { return Error(Error::Told{}, kind, message); }

// strerror(errno) without the thread-safety trap of strerror().
std::string errno_text(int err);

// Throws Error(Failure::failed) for a failed system call, naming the object.
[[noreturn]] void throw_errno(const std::string &what, int err, std::string hint = {});

} // namespace puddle
