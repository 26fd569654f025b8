// What the keyring key holds: the signing key and the session's settings, so
// a restarted agent can carry on. Pure codec.
#pragma once

#include "core/identity.hpp"
#include "core/secret.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <sys/types.h>

namespace puddle::agent {

inline constexpr std::size_t kSecretKeyBytes = 64; // libsodium's seed || public key
inline constexpr std::size_t kSessionRecordBytes = 4 + kSecretKeyBytes + 8 + 4 + 8;

struct SessionSettings {
    std::uint64_t idle_usec = 0;
    pid_t watch_pid = 0;
    std::uint64_t watch_start_time = 0; // /proc/PID/stat starttime, guards against PID reuse
};

// A decoded record. The key is a view into the bytes decoded, not a copy:
// they are the agent's locked scratch buffer, and the key must not leave it.
struct SessionRecord {
    std::span<const std::uint8_t> secret_key; // kSecretKeyBytes
    SessionSettings settings;

    std::span<const std::uint8_t> seed() const noexcept { return secret_key.first(kSeedBytes); }
};

// "PDS1" || secret key || idle_usec || watch_pid || watch_start_time (big-endian).
SecretBuffer encode_session_record(std::span<const std::uint8_t> secret_key, const SessionSettings &s);
// nullopt for anything but a well-formed record: exactly that layout, a
// nonzero idle timeout and a watch PID that is not negative.
std::optional<SessionRecord> decode_session_record(std::span<const std::uint8_t> record);

} // namespace puddle::agent
