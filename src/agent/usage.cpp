#include "agent/usage.hpp"

#include "core/encoding.hpp"
#include "util/text.hpp"

#include <array>
#include <sodium.h>
#include <syslog.h>

namespace puddle::agent {
namespace {

// The journal takes any bytes, but a line break in a field would make
// `journalctl -o cat` and the catalog text lie about where an entry ends.
std::string one_line(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
}

void add_requester_fields(std::vector<std::string> &f, const Use &use) {
    f.push_back(std::string(field::kDoor) + "=" + std::string(door_name(use.door)));
    f.push_back(std::string(field::kPid) + "=" + std::to_string(use.who.pid));
    f.push_back(std::string(field::kExe) + "=" + use.who.program_label());
    if (!use.who.unit.empty()) f.push_back(std::string(field::kUnit) + "=" + use.who.unit_label());
    if (!use.who.session.empty()) f.push_back(std::string(field::kSession) + "=" + one_line_label(use.who.session, kMaxLabelBytes));
}

} // namespace

const char *door_name(Door door) {
    switch (door) {
    case Door::socket: return "agent.sock";
    case Door::ssh: return "ssh-agent.sock";
    case Door::bus: return "dbus";
    }
    return "?";
}

const char *outcome_name(Outcome outcome) {
    switch (outcome) {
    case Outcome::signed_: return "signed";
    case Outcome::refused: return "refused";
    case Outcome::failed: return "failed";
    }
    return "?";
}

const char *message_id_of(Outcome outcome) {
    switch (outcome) {
    case Outcome::signed_: return message_id::kSigned;
    case Outcome::refused: return message_id::kRefused;
    case Outcome::failed: return message_id::kFailed;
    }
    return message_id::kFailed;
}

Purpose raw_purpose() { return Purpose{"raw", "raw Sign", {}, false}; }

Purpose ssh_purpose(const ssh::SignPurpose &what, const std::optional<std::string> &bound_host_key, bool forwarded) {
    Purpose p;
    p.forwarded = forwarded;
    if (const auto *sig = std::get_if<ssh::SshSigUse>(&what)) {
        p.kind = "sshsig";
        p.summary = "sshsig namespace=" + sig->sig_namespace;
        p.fields.emplace_back(field::kNamespace, sig->sig_namespace);
    } else if (const auto *login = std::get_if<ssh::LoginUse>(&what)) {
        p.kind = "ssh-login";
        // The hostbound request names the host key itself; session-bind
        // proved the server holds it. Prefer the proved one.
        std::string host;
        if (bound_host_key) host = *bound_host_key;
        else if (login->hostkey_blob) host = ssh::key_fingerprint(*login->hostkey_blob);
        p.summary = "ssh login as " + login->user + (host.empty() ? " (destination unknown)" : " to " + host);
        p.fields.emplace_back(field::kSshUser, login->user);
        if (!host.empty()) p.fields.emplace_back(field::kHostKey, host);
        p.fields.emplace_back(field::kHostKeyVerified, bound_host_key ? "yes" : "no");
    } else {
        p.kind = "ssh-other";
        p.summary = "ssh signature of other data";
    }
    if (forwarded) {
        p.summary += " (forwarded)";
        p.fields.emplace_back(field::kForwarded, "yes");
    }
    return p;
}

SignFacts classify_for_door(Door door, std::span<const std::uint8_t> data,
                            const std::optional<std::string> &bound_host_key, bool forwarded) {
    SignFacts f{ssh::classify_sign_data(data), {}, {}};
    if (door == Door::ssh) {
        f.purpose = ssh_purpose(f.what, bound_host_key, forwarded);
        return f;
    }
    if (std::holds_alternative<ssh::OtherUse>(f.what)) {
        f.purpose = raw_purpose();
        return f;
    }
    f.purpose = ssh_purpose(f.what);
    if (std::holds_alternative<ssh::LoginUse>(f.what))
        f.refusal = std::string("an ssh login request (SSH userauth data) is signed only through ssh-agent.sock, "
                                "which binds it to its ssh session; refused on ") +
                    door_name(door);
    return f;
}

Use make_use(Door door, const Requester &who, std::span<const std::uint8_t> data, Purpose purpose) {
    Use u;
    u.door = door;
    u.who = who;
    u.length = data.size();
    std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256(digest.data(), data.data(), data.size());
    u.sha256 = to_hex(digest);
    u.purpose = std::move(purpose);
    return u;
}

std::string use_message(const Use &use, Outcome outcome, std::string_view reason) {
    std::string m = std::string(outcome_name(outcome)) + " for " + use.who.program_label();
    if (!use.who.unit.empty()) m += " (" + use.who.unit_label() + ")";
    m += ": " + use.purpose.summary + " via " + door_name(use.door);
    if (!reason.empty()) m += ": " + std::string(reason);
    return one_line(m);
}

std::vector<std::string> journal_fields(const Use &use, Outcome outcome, std::string_view reason,
                                        std::string_view key) {
    std::vector<std::string> f;
    f.push_back("MESSAGE=" + use_message(use, outcome, reason));
    f.push_back("MESSAGE_ID=" + std::string(message_id_of(outcome)));
    f.push_back("PRIORITY=" + std::to_string(outcome == Outcome::signed_ ? LOG_INFO : LOG_NOTICE));
    f.push_back(std::string(field::kOutcome) + "=" + std::string(outcome_name(outcome)));
    if (!reason.empty()) f.push_back(std::string(field::kReason) + "=" + one_line(reason));
    add_requester_fields(f, use);
    f.push_back(std::string(field::kPurpose) + "=" + use.purpose.kind);
    f.push_back(std::string(field::kSummary) + "=" + one_line(use.purpose.summary));
    for (const auto &[name, value] : use.purpose.fields) f.push_back(name + "=" + one_line(value));
    f.push_back(std::string(field::kLength) + "=" + std::to_string(use.length));
    f.push_back(std::string(field::kSha256) + "=" + use.sha256);
    if (!key.empty()) f.push_back(std::string(field::kKey) + "=" + std::string(key));
    return f;
}

std::vector<std::string> new_requester_fields(const Use &use) {
    std::vector<std::string> f;
    std::string m = "first signature for " + use.who.program_label();
    if (!use.who.unit.empty()) m += " (" + use.who.unit_label() + ")";
    m += ", a program not seen before";
    f.push_back("MESSAGE=" + one_line(m));
    f.push_back("MESSAGE_ID=" + std::string(message_id::kNewRequester));
    f.push_back("PRIORITY=" + std::to_string(LOG_NOTICE));
    add_requester_fields(f, use);
    f.push_back(std::string(field::kPurpose) + "=" + use.purpose.kind);
    return f;
}

} // namespace puddle::agent
