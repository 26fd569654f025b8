// members.json (SPEC §7): this envoy's view of the envoys that share its
// identity, merged from every pairing.
// parse_* is a pure function from the file's bytes to a typed value; it throws
// Error(Failure::failed, "cannot read <label>", <precise reason>, <hint>) on
// anything but a well-formed file. serialize_* writes the canonical text (one
// line of compact JSON and "\n") and refuses (std::invalid_argument) what the
// parser would refuse. load_* and save_* do the same on the state directory,
// so no caller spells the file name, its limit or its mode.
#pragma once

#include "core/envoy_cert.hpp"
#include "core/identity.hpp"
#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace puddle {

inline constexpr const char *kMembersFile = "members.json";
inline constexpr std::size_t kMaxMembersBytes = 4 << 20;

// {"v":1,"members":[{"host":…,"since":<s>,"direction":…,"wrapped_digest":"sha256:<hex>",
//                    "pubkey":"ed25519:<hex>"[,"envoy":{"key":"x25519:<hex>","at":<s>,"sig":"<b64>"}]
//                    [,"machine":"ed25519:<hex>"]}, …]}
// "envoy" is the member's envoy certificate (envoy_cert.hpp), signed by
// "pubkey"; records written by an older puddle have none. "machine" is the
// member's machine key (EnvoySecret::signing_key): what a member *is* (issue
// 25), so two machines of one host name stay two and a renamed one stays the
// same. Read from an older file, it is taken from the certificate's signer,
// or from the one machine key the file knows under that host name; the next
// save (atomic, as every save) writes it.

inline constexpr std::size_t kMaxMembers = 4096;
inline constexpr std::size_t kMaxHostBytes = 255;

// Relative to the envoy whose view it is.
enum class MemberDirection {
    self,     // "self": this envoy's own record
    joined,   // "joined": this envoy joined from that host
    admitted, // "admitted": that host joined from this envoy
    reported, // "reported": known from that machine's own signed report (core/fleet.hpp)
};
std::string_view direction_name(MemberDirection d);
std::optional<MemberDirection> parse_direction(std::string_view text);

struct MemberRecord {
    std::string host;             // 1-255 printable ASCII characters, no spaces
    std::int64_t since = 0;       // Unix seconds, >= 0
    MemberDirection direction = MemberDirection::self;
    std::string wrapped_digest;   // "sha256:" + 64 lowercase hex, see wrapped_digest()
    PublicKey pubkey;
    std::optional<EnvoyCert> envoy = std::nullopt; // certified by `pubkey` for `host`
    std::optional<PublicKey> machine = std::nullopt; // the machine key; unknown for an older peer's record
    bool operator==(const MemberRecord &) const = default;
};

struct MembersView {
    std::vector<MemberRecord> members; // no two with the same member_key()
    bool operator==(const MembersView &) const = default;
};

// 1-255 bytes, each printable ASCII other than space (0x21-0x7e).
bool valid_host(std::string_view host, std::string *why = nullptr);
// This machine's host name as members record it ("localhost" when it has
// none that valid_host accepts).
std::string local_host_name();

// "sha256:" + lowercase hex of SHA-256(wrapped) (libsodium crypto_hash_sha256).
std::string wrapped_digest(std::span<const std::uint8_t> wrapped);
// Why `digest` is not one wrapped_digest() writes ("" when it is).
std::string wrapped_digest_problem(std::string_view digest);

MembersView parse_members(std::span<const std::uint8_t> bytes, const std::string &label);
// Members in the order given.
std::string serialize_members(const MembersView &view);

// What tells records apart: (machine key, pubkey) for a record that knows its
// machine, else (host, pubkey).
struct MemberKey {
    bool by_machine = false;
    std::string host; // empty when by_machine
    std::array<std::uint8_t, kPublicKeyBytes> machine{};
    std::array<std::uint8_t, kPublicKeyBytes> pubkey{};
    auto operator<=>(const MemberKey &) const = default;
};
MemberKey member_key(const MemberRecord &m);

// Union keyed by member_key(). For a key in both, the record with the newer
// `since` wins (mine on a tie). Sorted by host, then pubkey. Records are kept
// as they are: directions in `theirs` are relative to the other envoy, so a
// caller merging a peer's view re-labels them first. If the union exceeds
// kMaxMembers, the records with the oldest `since` are dropped.
MembersView merge_members(const MembersView &mine, const MembersView &theirs);

// nullopt when the file is absent.
std::optional<MembersView> load_members(const StateDir &dir);
void save_members(const StateDir &dir, const MembersView &view);

} // namespace puddle
