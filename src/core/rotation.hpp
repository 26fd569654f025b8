// What a rotation of the identity means (SPEC §8): the statement both keys
// sign, its verification, and what a log of them proves -- the path from an
// old key to the newest, and a fork (one key rotated two ways). The file that
// holds the log is core/files/rotation_log.hpp.
//
// The two ways a key changes live here too, so the agent (`rekey`) and the
// CLI (`rekey --from`) only carry secrets and report: rotate() makes a
// rotation, check_rotation_offer() and adopt_rotation() accept one.
#pragma once

#include "core/files/rotation_log.hpp"
#include "core/identity.hpp"
#include "core/identity_store.hpp"
#include "core/wrap.hpp"

#include <span>
#include <string_view>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace puddle {

std::string rotation_statement(const PublicKey &old_key, const PublicKey &new_key, std::int64_t at);
// Signs the statement with both keys (for `rekey`).
RotationRecord make_rotation_record(const Keypair &old_pair, const Keypair &new_pair, std::int64_t at);
// Both signatures verify over the statement.
bool verify_rotation(const RotationRecord &record);

// Two verifying records with the same old key and different statements (new
// key or time), the first such pair in log order. Records whose signatures do
// not verify prove nothing and are ignored.
std::optional<std::pair<RotationRecord, RotationRecord>> find_fork(const RotationLog &log);
// The same, limited to forks on the path of `current`: at a key it descends
// from or one that descends from it. A fork on a branch this key never took
// (settled elsewhere long ago) is history, not a reason to refuse.
std::optional<std::pair<RotationRecord, RotationRecord>> find_fork_from(const RotationLog &log,
                                                                       const PublicKey &current);

// The chain of verifying records from `current` to the newest key: the record
// whose old key is `current`, then the one whose old key is that record's new
// key, and so on. Stops (returning what it has) where the next step is a fork
// or would revisit a key. Empty when nothing leads away from `current`.
std::vector<RotationRecord> path_from(const RotationLog &log, const PublicKey &current);

// The generation of each key of `log`: how many verifying records lead to it
// from a key no record leads to (0 for that first key). Built once per log
// (each record's signatures are checked once), then asked per key: nullopt
// for a key the log does not know (with an empty log, every key but
// `current`, which is generation 0) or one on a cycle of records.
class KeyGenerations {
public:
    KeyGenerations(const RotationLog &log, const PublicKey &current);
    std::optional<std::uint64_t> of(const PublicKey &key) const;

private:
    std::map<std::array<std::uint8_t, kPublicKeyBytes>, std::uint64_t> generation_;
};

// The chain of verifying records in `log` that leads to `key` from a key no
// record leads to, oldest first; empty when none does. Stops (returning what
// it has, from the newest fork-free step) where two records lead to a key
// or a key repeats.
std::vector<RotationRecord> chain_to(const RotationLog &log, const PublicKey &key);

// Settles every fork along `chain` in its favour: at each key the chain
// leaves, a verifying record that leaves it another way is dropped from
// `log`, with every record that descends from it. Returns what was dropped,
// in log order.
RotationLog settle_forks(RotationLog &log, const std::vector<RotationRecord> &chain);

// Appends a record that verifies; returns false (and leaves the log alone)
// when an equal record is already there. Throws Error(Failure::failed) for a
// record whose signatures do not verify, or when the log is full.
bool append_record(RotationLog &log, const RotationRecord &record);

// ---- making a rotation (`puddle rekey`, in the agent) ----

// Rotates the identity in `store` from `old` (unwrapped, and checked against
// identity.pub, by the caller) to a fresh key: a record signed by both keys
// is appended to the rotation log, and the new wrap, key and log are
// committed as one decision. Returns the fresh key. Call under StateLock.
Keypair rotate(const IdentityStore &store, const Keypair &old, std::span<const std::uint8_t> new_passphrase,
               const KdfParams &kdf, std::int64_t at);

// ---- accepting a rotation (`puddle rekey --from`) ----

// The holder's rotation log (its retired_puddles.json, "" for none) must
// lead, without a fork, from `current` to `rotated`; returns that path.
// Throws Error(Failure::failed, "rekey", …) naming the fork or the gap.
std::vector<RotationRecord> check_rotation_offer(std::string_view retired_json, const PublicKey &current,
                                                 const PublicKey &rotated);

// Takes the rotated key (its wrap already checked to open with the user's
// passphrase): appends `path` to this envoy's log and commits key, wrap and
// log together. Refuses if identity.pub no longer names `current` (another
// command rotated meanwhile). Call under StateLock.
void adopt_rotation(const IdentityStore &store, const PublicKey &current, const std::vector<RotationRecord> &path,
                    const Salt &salt, const WrappedBytes &wrapped, const PublicKey &rotated);

} // namespace puddle
