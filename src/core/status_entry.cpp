#include "core/status_entry.hpp"

#include "core/files/members.hpp"
#include "core/identity.hpp"
#include "util/error.hpp"
#include "util/text.hpp"

#include <charconv>

namespace puddle {
namespace {

[[noreturn]] void bad(const std::string &field, const std::string &why) {
    throw Error(Failure::failed, "status entry", field + " " + why,
                "the entry was not written by a puddle-agent of this format; it is left out of the roll-up");
}

// Valid UTF-8 without control characters, 1..max bytes (0..max if `may_be_empty`).
std::string text_field(const EntryFields &f, const char *name, std::size_t max, bool may_be_empty) {
    auto it = f.find(name);
    if (it == f.end()) bad(name, "is missing");
    const std::string &v = it->second;
    if (v.empty() && !may_be_empty) bad(name, "is empty");
    if (v.size() > max) bad(name, "is " + std::to_string(v.size()) + " bytes, more than " + std::to_string(max));
    for (std::size_t i = 0; i < v.size();) {
        const auto c = static_cast<unsigned char>(v[i]);
        if (c < 0x20 || c == 0x7f) bad(name, "holds a control character");
        const std::size_t n = utf8_sequence_length(std::string_view(v).substr(i));
        if (n == 0) bad(name, "is not UTF-8");
        if (n == 2 && static_cast<unsigned char>(v[i]) == 0xc2 && static_cast<unsigned char>(v[i + 1]) < 0xa0)
            bad(name, "holds a control character"); // C1 controls
        i += n;
    }
    return v;
}

std::string key_field(const EntryFields &f, const char *name, bool may_be_empty) {
    const std::string v = text_field(f, name, 80, may_be_empty);
    if (v.empty()) return v;
    std::string why;
    if (!parse_public_key(v, &why)) bad(name, "is not an Ed25519 key: " + why);
    return v;
}

std::uint64_t number(std::string_view v, const char *name) {
    std::uint64_t n = 0;
    if (v.empty() || v.size() > 15 || (v.size() > 1 && v[0] == '0')) bad(name, "is not a decimal number below 10^15");
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size()) bad(name, "is not a decimal number below 10^15");
    return n;
}

std::string cut(std::string s, std::size_t max) {
    if (s.size() <= max) return s;
    s.resize(max);
    // Not in the middle of a UTF-8 sequence.
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xc0) == 0x80) s.pop_back();
    if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xc0) s.pop_back();
    return s;
}

} // namespace

std::vector<std::string> status_entry_fields(const StatusEntry &e) {
    std::string reasons;
    for (std::size_t i = 0; i < e.reasons.size() && i < kStatusMaxReasons; ++i) {
        std::string r = cut(e.reasons[i], kStatusMaxReasonBytes);
        for (auto &c : r)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
        reasons += (i ? "\n" : "") + r;
    }
    std::string message = "puddle " + (e.key.size() > 24 ? e.key.substr(8, 16) : e.key) + " on " + e.host + ": " +
                          (e.unlocked ? "unlocked" : "locked") + ", generation " + std::to_string(e.generation) +
                          ", health " + e.health;
    if (!e.name.empty()) message += ", name " + e.name;
    return {
        std::string("MESSAGE_ID=") + status_message::kId,
        "MESSAGE=" + message,
        "PRIORITY=6",
        std::string("PUDDLE_STATUS_V=") + status_message::kVersion,
        "PUDDLE_USER=" + cut(e.user, kStatusMaxUserBytes),
        "PUDDLE_KEY=" + e.key,
        "PUDDLE_FIRST_KEY=" + e.first_key,
        "PUDDLE_NAME=" + cut(e.name, kStatusMaxNameBytes),
        "PUDDLE_HOST=" + e.host,
        "PUDDLE_MACHINE_KEY=" + e.machine_key,
        "PUDDLE_GENERATION=" + std::to_string(e.generation),
        std::string("PUDDLE_UNLOCKED=") + (e.unlocked ? "yes" : "no"),
        "PUDDLE_HEALTH=" + e.health,
        "PUDDLE_HEALTH_REASONS=" + reasons,
        "PUDDLE_MEMBERS_DIGEST=" + e.members_digest,
    };
}

bool same_status(const StatusEntry &a, const StatusEntry &b) {
    StatusEntry x = a, y = b;
    x.time_usec = y.time_usec = 0;
    return x == y;
}

StatusEntry parse_status_entry(const EntryFields &f, std::uint64_t time_usec) {
    for (const auto &[name, value] : f)
        if (value.size() > kStatusMaxField)
            bad(one_line_label(name, 64), "is " + std::to_string(value.size()) + " bytes, more than " +
                                              std::to_string(kStatusMaxField));
    if (text_field(f, "PUDDLE_STATUS_V", 8, false) != status_message::kVersion)
        bad("PUDDLE_STATUS_V", "is not " + std::string(status_message::kVersion) + " (another version of the entry)");
    StatusEntry e;
    e.time_usec = time_usec;
    e.user = text_field(f, "PUDDLE_USER", kStatusMaxUserBytes, false);
    const auto uid = f.find("_UID");
    if (uid == f.end()) bad("_UID", "is missing (journald sets it on every entry it receives)");
    const std::uint64_t u = number(uid->second, "_UID");
    if (u > 0xfffffffeULL) bad("_UID", "is not a uid");
    e.uid = std::int64_t(u);
    e.key = key_field(f, "PUDDLE_KEY", false);
    e.first_key = key_field(f, "PUDDLE_FIRST_KEY", false);
    e.name = text_field(f, "PUDDLE_NAME", kStatusMaxNameBytes, true);
    e.host = text_field(f, "PUDDLE_HOST", kMaxHostBytes, false);
    std::string why;
    if (!valid_host(e.host, &why)) bad("PUDDLE_HOST", why);
    e.machine_key = key_field(f, "PUDDLE_MACHINE_KEY", true);
    e.generation = number(text_field(f, "PUDDLE_GENERATION", 16, false), "PUDDLE_GENERATION");
    const std::string unlocked = text_field(f, "PUDDLE_UNLOCKED", 3, false);
    if (unlocked != "yes" && unlocked != "no") bad("PUDDLE_UNLOCKED", "is neither yes nor no");
    e.unlocked = unlocked == "yes";
    e.health = text_field(f, "PUDDLE_HEALTH", 8, false);
    if (e.health != "healthy" && e.health != "warning" && e.health != "degraded")
        bad("PUDDLE_HEALTH", "is not healthy, warning or degraded");
    auto r = f.find("PUDDLE_HEALTH_REASONS");
    if (r == f.end()) bad("PUDDLE_HEALTH_REASONS", "is missing");
    std::string_view rest = r->second;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const std::string one(rest.substr(0, nl));
        if (e.reasons.size() == kStatusMaxReasons) bad("PUDDLE_HEALTH_REASONS", "has more than 16 lines");
        e.reasons.push_back(text_field({{"PUDDLE_HEALTH_REASONS", one}}, "PUDDLE_HEALTH_REASONS", kStatusMaxReasonBytes, false));
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
        if (rest.empty()) bad("PUDDLE_HEALTH_REASONS", "ends with an empty line");
    }
    e.members_digest = text_field(f, "PUDDLE_MEMBERS_DIGEST", 64, true);
    if (!e.members_digest.empty()) {
        if (e.members_digest.size() != 64) bad("PUDDLE_MEMBERS_DIGEST", "is not 64 hex digits");
        for (char c : e.members_digest)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) bad("PUDDLE_MEMBERS_DIGEST", "is not lowercase hex");
    }
    return e;
}

} // namespace puddle
