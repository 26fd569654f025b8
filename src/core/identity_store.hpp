// The three identity files (identity.wrapped, identity.salt, identity.pub)
// and the redo journal that keeps them consistent across crashes.
//
// Every change to the identity goes through one atomically written journal,
// `identity.journal` (salt || wrapped || public key [|| rotation log]). Once it is renamed into
// place the change is decided; the three files are then replaced one by one
// and the journal removed. A crash before the journal lands leaves the old
// identity untouched; a crash after it is rolled forward by the next command
// (repair()), which needs no passphrase.
#pragma once

#include "core/envoy.hpp"
#include "core/identity.hpp"
#include "core/statedir.hpp"
#include "core/wrap.hpp"

#include <optional>
#include <string>
#include <vector>

namespace puddle {

inline constexpr const char *kWrappedFile = "identity.wrapped";
inline constexpr const char *kSaltFile = "identity.salt";
inline constexpr const char *kPubFile = "identity.pub";
inline constexpr const char *kJournalFile = "identity.journal";

struct StoredIdentity {
    WrappedKey wrapped; // the v1 wrap (SPEC §4): passphrase only, the same on every member
    Salt salt{};
    PublicKey pub;
    // How identity.wrapped holds it: sealed to this machine's envoy (v2,
    // envoy_wrap.hpp) or, as an older puddle left it, not (v1).
    Protection protection = Protection::passphrase_only;
    std::optional<EnvoyKey> envoy;
};

// Pure parser of identity.pub content: "ed25519:<hex>" and one newline.
PublicKey parse_pub_file(std::span<const std::uint8_t> bytes, const std::string &label);

class IdentityStore {
public:
    explicit IdentityStore(StateDir dir) : dir_(std::move(dir)) {}
    const StateDir &dir() const noexcept { return dir_; }

    // All three files present (SPEC §3 membership).
    bool is_member() const;
    // One or two of the three present: not a member, and not a blank slate
    // either (init must not overwrite it, and "run init" would be a lie).
    bool is_partial() const;
    std::vector<std::string> missing_files() const;
    // What is missing, what is there, and the way out (exit 4).
    Error partial_error() const;
    // Throws Error(Failure::not_initialized) when not a member, and
    // Error(Failure::bad_passphrase) when identity.wrapped is damaged or
    // sealed to another machine's envoy.
    StoredIdentity load() const;
    PublicKey load_public_key() const;

    // Decides and performs a new identity state. Call under StateLock.
    // `wrapped` is the v1 wrap; on disk it is sealed to this machine's envoy
    // (made here if this is the first). With `rotation_log`,
    // retired_puddles.json is replaced in the same decision, so a rotation
    // record and the key it leads to land together.
    void commit(const Salt &salt, const WrappedBytes &wrapped, const PublicKey &pub,
                const std::optional<std::string> &rotation_log = std::nullopt) const;
    // An identity an older puddle wrote (v1, passphrase only) is sealed to
    // this machine's envoy: no passphrase needed, through the journal.
    // True if it was. Call under StateLock.
    bool seal_to_envoy() const;
    // Rolls an interrupted commit forward and removes stale temporaries.
    // Returns true if there was anything to repair. Call under StateLock.
    bool repair() const;

private:
    void apply(const Salt &salt, std::span<const std::uint8_t> wrapped_file, const PublicKey &pub,
               const std::optional<std::string> &rotation_log) const;
    StateDir dir_;
};

// Opens the state directory for a command: checks it is safe, takes the
// lock, repairs leftovers. With must_exist, a missing directory is "not
// initialized"; without, it is created.
struct OpenState {
    StateDir dir;
    StateLock lock;
    IdentityStore store;
};
OpenState open_state(bool create);
// The same for a known directory that must exist: checked, locked, repaired.
OpenState open_state(StateDir dir);
// Called once when open_state finishes an interrupted identity change, with
// a sentence saying so (and when what `puddle setup git` wrote could not be
// refreshed after a change of the key: core/setup_state.hpp) (the command that was interrupted chose the
// passphrase; the user should hear that once, not find out later).
void set_repair_notice(void (*notice)(const std::string &));

} // namespace puddle
