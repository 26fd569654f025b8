// The record of a use of the key (puddle-agent(1) RECORD), as pure values:
// what a request was for, who asked, and the journal fields that say so.
// No I/O here (usage_record.hpp sends them), so unit tests and the fuzz
// target can read what a hostile request would put in the journal.
#pragma once

#include "agent/requester.hpp"
#include "agent/ssh_protocol.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace puddle::agent {

enum class Door { socket, ssh, bus };
// "agent.sock", "ssh-agent.sock", "dbus": the journal's PUDDLE_DOOR.
const char *door_name(Door door);

// What a signature is for, as the record and a consent prompt name it.
struct Purpose {
    std::string kind;    // "raw", "ssh-login", "sshsig", "ssh-other"
    std::string summary; // "ssh login as git to SHA256:…", "sshsig namespace=git", "raw Sign"
    // Extra journal fields (a field:: name, value).
    std::vector<std::pair<std::string, std::string>> fields;
    bool forwarded = false; // arrived over ssh agent forwarding (session-bind)
};

Purpose raw_purpose();
// For the ssh door. `bound_host_key`/`forwarded` come from the connection's
// session-bind@openssh.com, when there was one.
Purpose ssh_purpose(const ssh::SignPurpose &what, const std::optional<std::string> &bound_host_key = std::nullopt,
                    bool forwarded = false);

// What data asked to be signed is, read the same way on every door
// (puddle-agent(1) DOORS): an SSHSIG is named with its namespace wherever it
// arrives; an ssh login (SSH userauth request data) is signed only on the
// ssh door, whose session-bind ties it to one ssh session — elsewhere it
// has no session and `refusal` says so; anything else is "raw Sign" (or
// "ssh-other" on the ssh door). Pure; the ssh door adds its own refusals
// (another key, the binding, [ssh] destinations).
struct SignFacts {
    ssh::SignPurpose what;
    Purpose purpose;
    std::string refusal; // "" when the door may sign it
};
SignFacts classify_for_door(Door door, std::span<const std::uint8_t> data,
                            const std::optional<std::string> &bound_host_key = std::nullopt, bool forwarded = false);

struct Use {
    Door door = Door::socket;
    Requester who;
    std::size_t length = 0;
    std::string sha256; // hex of the data signed (or asked for); never the data
    Purpose purpose;
};
Use make_use(Door door, const Requester &who, std::span<const std::uint8_t> data, Purpose purpose);

enum class Outcome { signed_, refused, failed };
// "signed", "refused" (authorization: polkit, consent, a destination rule),
// "failed" (could not sign: locked, reserved prefix, not the puddle key).
const char *outcome_name(Outcome outcome);

// The journal fields of the record (puddle-agent(1) RECORD), named once for
// the agent that writes them and `puddle log` that reads them.
namespace field {
inline constexpr const char *kOutcome = "PUDDLE_OUTCOME";
inline constexpr const char *kReason = "PUDDLE_REASON";
inline constexpr const char *kDoor = "PUDDLE_DOOR";
inline constexpr const char *kPid = "PUDDLE_REQUESTER_PID";
inline constexpr const char *kExe = "PUDDLE_REQUESTER_EXE";
inline constexpr const char *kUnit = "PUDDLE_REQUESTER_UNIT";
inline constexpr const char *kSession = "PUDDLE_REQUESTER_SESSION";
inline constexpr const char *kPurpose = "PUDDLE_PURPOSE";
inline constexpr const char *kSummary = "PUDDLE_SUMMARY";
inline constexpr const char *kNamespace = "PUDDLE_SSH_NAMESPACE";
inline constexpr const char *kSshUser = "PUDDLE_SSH_USER";
inline constexpr const char *kHostKey = "PUDDLE_SSH_HOST_KEY";
inline constexpr const char *kHostKeyVerified = "PUDDLE_SSH_HOST_KEY_VERIFIED";
inline constexpr const char *kForwarded = "PUDDLE_SSH_FORWARDED";
inline constexpr const char *kLength = "PUDDLE_DATA_LENGTH";
inline constexpr const char *kSha256 = "PUDDLE_DATA_SHA256";
inline constexpr const char *kKey = "PUDDLE_KEY";
} // namespace field

namespace message_id {
inline constexpr const char *kSigned = "771c1db3bed348e4a798a749505f6e73";
inline constexpr const char *kRefused = "5823c246b21149f38ccb4add20f7bd1f";
inline constexpr const char *kFailed = "5d60044917544189b37a5388b40bac93";
inline constexpr const char *kNewRequester = "b634f29b364d4aa099c111b065beecb5";
} // namespace message_id
const char *message_id_of(Outcome outcome);

// One human line: "signed for /usr/bin/git (app-….scope) sshsig namespace=git via ssh-agent.sock".
std::string use_message(const Use &use, Outcome outcome, std::string_view reason);

// "NAME=value" journal fields for one entry (MESSAGE, MESSAGE_ID, PRIORITY
// and the PUDDLE_* fields listed in puddle-agent(1) RECORD). `key` is the
// puddle key's text ("" when none); `reason` is the refusal's text.
std::vector<std::string> journal_fields(const Use &use, Outcome outcome, std::string_view reason,
                                        std::string_view key);
// The notice for a requester's first use (MESSAGE_ID kNewRequester, PRIORITY notice).
std::vector<std::string> new_requester_fields(const Use &use);

} // namespace puddle::agent
