#include "cli/usage_log.hpp"

#include "agent/usage.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace puddle::cli {
namespace {

namespace name = agent::field;

std::string field(const JournalFields &f, const char *key) {
    auto it = f.find(key);
    return it == f.end() ? std::string() : it->second;
}

std::int64_t integer(const JournalFields &f, const char *key, std::int64_t otherwise) {
    const std::string s = field(f, key);
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return (ec == std::errc() && end == s.data() + s.size()) ? v : otherwise;
}

Json text_or_null(const std::string &s) { return s.empty() ? Json() : Json(s); }

} // namespace

LoggedUse logged_use(const JournalFields &f, std::uint64_t time_usec) {
    LoggedUse u;
    u.time_usec = time_usec;
    u.outcome = field(f, name::kOutcome);
    u.door = field(f, name::kDoor);
    u.program = field(f, name::kExe);
    u.unit = field(f, name::kUnit);
    u.session = field(f, name::kSession);
    u.purpose = field(f, name::kPurpose);
    u.summary = field(f, name::kSummary);
    u.reason = field(f, name::kReason);
    u.key = field(f, name::kKey);
    u.sig_namespace = field(f, name::kNamespace);
    u.ssh_user = field(f, name::kSshUser);
    u.host_key = field(f, name::kHostKey);
    u.host_key_verified = field(f, name::kHostKeyVerified);
    u.forwarded = field(f, name::kForwarded) == "yes";
    u.pid = integer(f, name::kPid, 0);
    u.length = integer(f, name::kLength, -1);
    u.sha256 = field(f, name::kSha256);
    return u;
}

std::string format_use(const LoggedUse &u) {
    std::time_t t = std::time_t(u.time_usec / 1000000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    std::string line = std::string(when) + " " + printable(u.outcome.empty() ? "?" : u.outcome, 16);
    line.resize(std::max<std::size_t>(line.size(), 27), ' '); // the longest outcome, "refused"
    line += " " + printable(u.program.empty() ? "?" : u.program, 256);
    if (!u.unit.empty()) line += " (" + printable(u.unit, 256) + ")";
    line += " " + printable(u.summary.empty() ? u.purpose : u.summary, 512);
    if (!u.door.empty()) line += " via " + printable(u.door, 32);
    if (!u.reason.empty()) line += ": " + printable(u.reason, 512);
    return line;
}

Json use_json(const LoggedUse &u) {
    return Json::object()
        .set("time", u.time_usec / 1000000)
        .set("time_usec", u.time_usec)
        .set("outcome", u.outcome)
        .set("door", text_or_null(u.door))
        .set("pid", u.pid)
        .set("program", text_or_null(u.program))
        .set("unit", text_or_null(u.unit))
        .set("session", text_or_null(u.session))
        .set("purpose", text_or_null(u.purpose))
        .set("summary", text_or_null(u.summary))
        .set("namespace", text_or_null(u.sig_namespace))
        .set("ssh_user", text_or_null(u.ssh_user))
        .set("host_key", text_or_null(u.host_key))
        .set("host_key_verified", u.host_key_verified.empty() ? Json() : Json(u.host_key_verified == "yes"))
        .set("forwarded", u.forwarded)
        .set("length", u.length >= 0 ? Json(u.length) : Json())
        .set("sha256", text_or_null(u.sha256))
        .set("reason", text_or_null(u.reason))
        .set("key", text_or_null(u.key));
}

} // namespace puddle::cli
