#include "agent/session_record.hpp"

#include "core/wire.hpp"

#include <stdexcept>
#include <string_view>

namespace puddle::agent {
namespace {

std::span<const std::uint8_t> magic() { return as_bytes(std::string_view("PDS1", 4)); }

} // namespace

SecretBuffer encode_session_record(std::span<const std::uint8_t> secret_key, const SessionSettings &s) {
    if (secret_key.size() != kSecretKeyBytes) throw std::invalid_argument("a session record holds a 64-byte secret key");
    SecretBuffer rec(kSessionRecordBytes);
    // Written in place: the secret key never passes through unlocked memory.
    ByteWriter(std::span(rec.data(), rec.size()))
        .bytes(magic())
        .bytes(secret_key)
        .u64(s.idle_usec)
        .u32(std::uint32_t(s.watch_pid))
        .u64(s.watch_start_time);
    return rec;
}

std::optional<SessionRecord> decode_session_record(std::span<const std::uint8_t> record) {
    ByteReader r(record);
    SessionRecord out;
    std::uint32_t pid = 0;
    if (!r.expect(magic()) || !r.bytes(kSecretKeyBytes, out.secret_key) || !r.u64(out.settings.idle_usec) ||
        !r.u32(pid) || !r.u64(out.settings.watch_start_time) || !r.at_end())
        return std::nullopt;
    out.settings.watch_pid = pid_t(pid);
    if (out.settings.idle_usec == 0 || out.settings.watch_pid < 0) return std::nullopt;
    return out;
}

} // namespace puddle::agent
