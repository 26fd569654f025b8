// Failures of an agent request, independent of the door they came through;
// each door maps them to its own vocabulary (ERR codes, D-Bus error names).
#pragma once

#include <stdexcept>
#include <string>

namespace puddle::agent {

enum class Failure { locked, not_initialized, bad_passphrase, reserved_prefix, invalid_argument, denied, busy, internal };

class AgentError : public std::runtime_error {
public:
    AgentError(Failure f, const std::string &message) : std::runtime_error(message), failure_(f) {}
    Failure failure() const noexcept { return failure_; }

private:
    Failure failure_;
};

} // namespace puddle::agent
