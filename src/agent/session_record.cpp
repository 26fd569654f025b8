#include "agent/session_record.hpp"

#include <cstring>
#include <stdexcept>

namespace puddle::agent {
namespace {

constexpr char kMagic[4] = {'P', 'D', 'S', '1'};

void put(std::uint8_t *p, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = std::uint8_t(v);
}

std::uint64_t get(const std::uint8_t *p, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    return v;
}

} // namespace

SecretBuffer encode_session_record(std::span<const std::uint8_t> secret_key, const SessionSettings &s) {
    if (secret_key.size() != kSecretKeyBytes) throw std::invalid_argument("a session record holds a 64-byte secret key");
    SecretBuffer rec(kSessionRecordBytes);
    std::uint8_t *p = rec.data();
    std::memcpy(p, kMagic, 4);
    std::memcpy(p + 4, secret_key.data(), kSecretKeyBytes);
    put(p + 68, s.idle_usec, 8);
    put(p + 76, std::uint64_t(s.watch_pid), 4);
    put(p + 80, s.watch_start_time, 8);
    return rec;
}

std::optional<SessionSettings> decode_session_settings(std::span<const std::uint8_t> record) {
    if (record.size() != kSessionRecordBytes || std::memcmp(record.data(), kMagic, 4) != 0) return std::nullopt;
    SessionSettings s;
    s.idle_usec = get(record.data() + 68, 8);
    s.watch_pid = pid_t(get(record.data() + 76, 4));
    s.watch_start_time = get(record.data() + 80, 8);
    if (s.idle_usec == 0 || s.watch_pid < 0) return std::nullopt;
    return s;
}

std::span<const std::uint8_t> session_record_secret_key(std::span<const std::uint8_t> record) {
    return record.subspan(4, kSecretKeyBytes);
}

} // namespace puddle::agent
