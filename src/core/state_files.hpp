// Codecs for puddle's JSON state files (SPEC §3, §7, §8, §9): pair.pending and
// rekey.pending, members.json, retired_puddles.json and name-claim.json.
//
// Each parse_* is a pure function from the file's bytes to a typed value. It
// throws Error(Exit::failure, "cannot read <label>", <precise reason>, <hint>)
// on anything but a well-formed file: JSON syntax (with line and column), a
// version other than 1 (named), a missing, unknown or mistyped field, a bad key,
// signature, code or digest string, or more data than the file's limit. Each
// serialize_* writes the canonical text: one line of compact JSON and "\n".
// Serializers refuse (std::invalid_argument) values their parser would refuse,
// since writing such a value is a bug in the caller.
//
// Signatures are checked by the verify_* functions, not by the parsers: a
// parsed record is well formed, not yet trusted.
#pragma once

#include "core/identity.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace puddle {

inline constexpr const char *kPairPendingFile = "pair.pending";
inline constexpr const char *kRekeyPendingFile = "rekey.pending";
inline constexpr const char *kMembersFile = "members.json";
inline constexpr const char *kRotationLogFile = "retired_puddles.json";
inline constexpr const char *kNameClaimFile = "name-claim.json";
// Written by the agent when an unlock failed for a reason of the system's
// (not a wrong passphrase), removed by the next successful unlock:
// {"time": unix seconds, "reason": text}. Health reads it.
inline constexpr const char *kUnlockFailedFile = "unlock.failed";
// Written by the agent while a session is unlocked (SPEC §3).
inline constexpr const char *kSessionFileName = "session.unlocked";
inline constexpr std::size_t kMaxUnlockFailedBytes = 4096;

// Largest file each parser accepts (pass to StateDir::read as max_bytes).
inline constexpr std::size_t kMaxPendingBytes = 4096;
inline constexpr std::size_t kMaxMembersBytes = 4 << 20;
inline constexpr std::size_t kMaxRotationLogBytes = 1 << 20;
inline constexpr std::size_t kMaxNameClaimBytes = 4096;

// ---- pair.pending / rekey.pending -------------------------------------------
// {"v":1,"purpose":"pair"|"rekey","code":"12345678","created":<s>,"expires":<s>}

inline constexpr std::string_view kPurposePair = "pair";
inline constexpr std::string_view kPurposeRekey = "rekey";

struct PairPending {
    std::string purpose;           // "pair" or "rekey"
    std::string code;              // exactly 8 ASCII digits, no hyphen
    std::int64_t created = 0;      // Unix seconds, >= 0
    std::int64_t expires = 0;      // Unix seconds, > created
    bool operator==(const PairPending &) const = default;
};

// The parser does not compare purpose with the file name; the caller knows
// which file it read and checks that.
PairPending parse_pair_pending(std::span<const std::uint8_t> bytes, const std::string &label);
std::string serialize_pair_pending(const PairPending &pending);

// ---- members.json -------------------------------------------------------------
// {"v":1,"members":[{"host":…,"since":<s>,"direction":…,"wrapped_digest":"sha256:<hex>",
//                    "pubkey":"ed25519:<hex>"}, …]}

inline constexpr std::size_t kMaxMembers = 4096;
inline constexpr std::size_t kMaxHostBytes = 255;

// Relative to the envoy whose view it is.
enum class MemberDirection {
    self,     // "self": this envoy's own record
    joined,   // "joined": this envoy joined from that host
    admitted, // "admitted": that host joined from this envoy
};
std::string_view direction_name(MemberDirection d);
std::optional<MemberDirection> parse_direction(std::string_view text);

struct MemberRecord {
    std::string host;             // 1-255 printable ASCII characters, no spaces
    std::int64_t since = 0;       // Unix seconds, >= 0
    MemberDirection direction = MemberDirection::self;
    std::string wrapped_digest;   // "sha256:" + 64 lowercase hex, see wrapped_digest()
    PublicKey pubkey;
    bool operator==(const MemberRecord &) const = default;
};

struct MembersView {
    std::vector<MemberRecord> members; // no two with the same (host, pubkey)
    bool operator==(const MembersView &) const = default;
};

// 1-255 bytes, each printable ASCII other than space (0x21-0x7e).
bool valid_host(std::string_view host, std::string *why = nullptr);

// "sha256:" + lowercase hex of SHA-256(wrapped) (libsodium crypto_hash_sha256).
std::string wrapped_digest(std::span<const std::uint8_t> wrapped);

MembersView parse_members(std::span<const std::uint8_t> bytes, const std::string &label);
// Members in the order given.
std::string serialize_members(const MembersView &view);

// Union keyed by (host, pubkey). For a key in both, the record with the newer
// `since` wins (mine on a tie). Sorted by host, then pubkey. Records are kept
// as they are: directions in `theirs` are relative to the other envoy, so a
// caller merging a peer's view re-labels them first. If the union exceeds
// kMaxMembers, the records with the oldest `since` are dropped.
MembersView merge_members(const MembersView &mine, const MembersView &theirs);

// ---- retired_puddles.json -----------------------------------------------------
// [{"v":1,"old":"ed25519:…","new":"ed25519:…","at":<s>,"sig_old":"<b64>","sig_new":"<b64>"}, …]
// oldest first. Empty content (or only whitespace) and "[]" are the empty log.

inline constexpr std::size_t kMaxRotationRecords = 1024;

struct RotationRecord {
    PublicKey old_key;
    PublicKey new_key;  // differs from old_key
    std::int64_t at = 0; // Unix seconds, >= 0
    Signature sig_old{};
    Signature sig_new{};
    bool operator==(const RotationRecord &) const = default;
};

using RotationLog = std::vector<RotationRecord>;

// "puddle-statement-rekey-v1\n<old>\n<new>\n<at>\n"
std::string rotation_statement(const PublicKey &old_key, const PublicKey &new_key, std::int64_t at);
// Signs the statement with both keys (for `rekey`).
RotationRecord make_rotation_record(const Keypair &old_pair, const Keypair &new_pair, std::int64_t at);
// Both signatures verify over the statement.
bool verify_rotation(const RotationRecord &record);

RotationLog parse_rotation_log(std::span<const std::uint8_t> bytes, const std::string &label);
// "[]\n" for the empty log.
std::string serialize_rotation_log(const RotationLog &log);

// Two verifying records with the same old key and different statements (new
// key or time), the first such pair in log order. Records whose signatures do
// not verify prove nothing and are ignored.
std::optional<std::pair<RotationRecord, RotationRecord>> find_fork(const RotationLog &log);

// The chain of verifying records from `current` to the newest key: the record
// whose old key is `current`, then the one whose old key is that record's new
// key, and so on. Stops (returning what it has) where the next step is a fork
// or would revisit a key. Empty when nothing leads away from `current`.
std::vector<RotationRecord> path_from(const RotationLog &log, const PublicKey &current);

// Appends a record that verifies; returns false (and leaves the log alone)
// when an equal record is already there. Throws Error(Exit::failure) for a
// record whose signatures do not verify, or when the log is full.
bool append_record(RotationLog &log, const RotationRecord &record);

// ---- name-claim.json ----------------------------------------------------------
// {"v":1,"name":"<name>","pubkey":"ed25519:…","at":<s>,"sig":"<b64>"}

inline constexpr std::size_t kMaxNameChars = 32;

struct NameClaim {
    std::string name;    // see valid_name()
    PublicKey pubkey;
    std::int64_t at = 0; // Unix seconds, >= 0
    Signature sig{};
    bool operator==(const NameClaim &) const = default;
};

// 1-32 characters of a-z, 0-9 and '-', starting with a letter. On failure
// *why (if given) names the rule broken.
bool valid_name(std::string_view name, std::string *why = nullptr);
// "puddle-statement-name-v1\n<name>\n<pubkey>\n<at>\n"
std::string name_statement(std::string_view name, const PublicKey &pubkey, std::int64_t at);
// Signs a claim of `name` for the keypair's public key; the name must be valid.
NameClaim make_name_claim(const Keypair &keypair, std::string name, std::int64_t at);
bool verify_claim(const NameClaim &claim);

NameClaim parse_name_claim(std::span<const std::uint8_t> bytes, const std::string &label);
std::string serialize_name_claim(const NameClaim &claim);

} // namespace puddle
