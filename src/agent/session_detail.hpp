// What session.cpp and session_statements.cpp share: limits, the kernel
// timeout of a session key, the doors' view of an identity failure, and the
// scratch-buffer wipe. Internal to the agent's Session.
#pragma once

#include "agent/api.hpp"
#include "core/secret.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <cstdint>
#include <sodium.h>

namespace puddle::agent::session_detail {

constexpr std::uint64_t kUsec = 1000000;
constexpr std::uint64_t kMinIdleUsec = kUsec;
constexpr std::uint64_t kMaxIdleUsec = 366ull * 24 * 3600 * kUsec;
constexpr std::uint64_t kExpiryProbeUsec = 2 * kUsec;
constexpr std::uint64_t kFileFlushUsec = kUsec;
// Unlocks derived or waiting at once: each holds an Argon2id arena (64 MiB by
// default) while it runs, and a burst should not queue for minutes.
constexpr std::size_t kMaxPendingUnlocks = 4;

inline unsigned kernel_timeout_seconds(std::uint64_t usec) { return unsigned((usec + kUsec - 1) / kUsec); }

// A failure reading or unwrapping the identity, as the doors report it.
// A told() error passes as it is.
inline Error identity_failure(const Error &e) {
    if (e.is_told()) return e;
    return told(identity_failure_kind(e), e.what());
}

// Wipes the scratch buffer when the record read into it goes out of use,
// however that scope is left.
class WipeOnExit {
public:
    explicit WipeOnExit(SecretBuffer &buffer) noexcept : buffer_(buffer) {}
    ~WipeOnExit() { sodium_memzero(buffer_.data(), buffer_.size()); }
    WipeOnExit(const WipeOnExit &) = delete;
    WipeOnExit &operator=(const WipeOnExit &) = delete;

private:
    SecretBuffer &buffer_;
};

} // namespace puddle::agent::session_detail
