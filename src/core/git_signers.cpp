#include "core/git_signers.hpp"

#include "core/encoding.hpp"
#include "core/rotation.hpp"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace puddle {

std::string ssh_key_text(const PublicKey &key) {
    static constexpr std::string_view kType = "ssh-ed25519";
    Bytes blob;
    auto put_string = [&blob](std::span<const std::uint8_t> s) {
        const std::uint32_t n = std::uint32_t(s.size());
        for (int shift = 24; shift >= 0; shift -= 8) blob.push_back(std::uint8_t(n >> shift));
        blob.insert(blob.end(), s.begin(), s.end());
    };
    put_string(std::span(reinterpret_cast<const std::uint8_t *>(kType.data()), kType.size()));
    put_string(key.bytes);
    return std::string(kType) + " " + to_base64(blob);
}

std::string allowed_signers_time(std::int64_t unix_seconds) {
    const std::time_t t = std::time_t(unix_seconds);
    std::tm tm{};
    if (!gmtime_r(&t, &tm)) throw std::invalid_argument("time out of range");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::string allowed_signers_principal_problem(const std::string &principal) {
    if (principal.empty()) return "it is empty";
    for (unsigned char c : principal) {
        if (c <= ' ' || c == 0x7f) return "it holds a space or a control character";
        if (c == '"' || c == ',' || c == '*' || c == '?' || c == '!' || c == '#')
            return std::string("it holds '") + char(c) + "', which allowed-signers files read as syntax";
    }
    return "";
}

std::string render_allowed_signers(const RotationLog &log, const PublicKey &current, const std::string &principal) {
    if (!allowed_signers_principal_problem(principal).empty())
        throw std::invalid_argument("render_allowed_signers: bad principal");
    const auto chain = chain_to(log, current);
    std::string out;
    auto line = [&](const PublicKey &key, const std::optional<std::int64_t> &after,
                    const std::optional<std::int64_t> &before) {
        out += principal + " namespaces=\"git\"";
        if (after) out += ",valid-after=\"" + allowed_signers_time(*after) + "\"";
        if (before) out += ",valid-before=\"" + allowed_signers_time(*before) + "\"";
        out += " " + ssh_key_text(key) + "\n";
    };
    std::optional<std::int64_t> since; // when the key of the step became current
    for (const auto &r : chain) {
        line(r.old_key, since, r.at);
        since = r.at;
    }
    line(current, since, std::nullopt);
    return out;
}

} // namespace puddle
