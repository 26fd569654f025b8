#include "agent/api.hpp"

namespace puddle::agent {

Failure identity_failure_kind(const Error &e) {
    if (e.is_told()) return e.kind();
    if (e.kind() == Failure::not_initialized || e.kind() == Failure::bad_passphrase) return e.kind();
    return Failure::internal;
}

} // namespace puddle::agent
