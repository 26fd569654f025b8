// Who shares this identity (SPEC §7): the bookkeeping of members.json across
// a pairing, on both sides. The holder hands out its view with itself in it
// and records whom it admitted; the joiner takes the identity and the view,
// relabelled from its side. The channel, the code and the passphrase stay
// with the callers (pair/holder, cli/verb_pair): this is only what a join
// means for the state directory.
#pragma once

#include "core/envelope.hpp"
#include "core/receipt.hpp"
#include "core/files/members.hpp"
#include "core/files/rotation_log.hpp"
#include "core/identity_store.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace puddle {

// ---- the holder's side ----

// members.json as handed to a joiner: this envoy's view with its own record
// (host `own_host`, since `now`) merged in. Call under StateLock.
std::string members_for_joiner(const StateDir &dir, const StoredIdentity &id, const std::string &own_host,
                               std::int64_t now);

// Records that `host` joined from this envoy at `at`, with its envoy
// certificate if it sent one that the identity signed. Call under StateLock.
void record_admitted(const StateDir &dir, const StoredIdentity &id, const std::string &host, std::int64_t at,
                     const std::optional<EnvoyCert> &cert = std::nullopt);

// ---- the joiner's side ----

// What a holder offered, read and relabelled before anything is written.
struct JoinOffer {
    Salt salt{};
    WrappedBytes wrapped{};
    PublicKey pub;
    MembersView members; // directions relative to this envoy
    RotationLog log;
};

// Reads the holder's members.json and rotation log ("" for none). The
// holder's own record becomes the envoy we joined from; its records about
// `own_host` with this key are dropped, since our own supersedes them.
// Records of `own_machine` (this machine's key, when it has one yet) are
// dropped too; other machines of this host name stay.
JoinOffer read_join_offer(const Salt &salt, const WrappedBytes &wrapped, const PublicKey &pub,
                          std::string_view members_json, std::string_view retired_json, const std::string &own_host,
                          const std::optional<PublicKey> &own_machine = std::nullopt);

// This machine's machine key, if it has an envoy secret yet.
std::optional<PublicKey> this_machine_key();

// Becomes a member: the identity and its rotation log in one journalled
// decision, then the members view (a view without an identity means
// nothing), with this envoy's own record as of `now`. Refuses if another
// command initialized the envoy meanwhile. Call under StateLock.
void accept_join(const IdentityStore &store, const JoinOffer &offer, const std::string &own_host, std::int64_t now);

// ---- this machine's envoy ----

// After a command unwrapped the identity: certifies the envoy key that
// identity.wrapped is sealed to, under that identity and this host name
// (envoy.json), unless that certificate is already there. nullopt for an
// identity not sealed to an envoy yet (v1). Call under StateLock.
std::optional<EnvoyCert> certify_this_envoy(const IdentityStore &store, const Keypair &identity, std::int64_t now);

// ---- envelopes (evict, rekey) ----

// Whom a new generation goes to: every member of `view` but this envoy
// (`own`) and the hosts in `left_out`, whose envoy certificate verifies, once
// per envoy key. Members without one are named in `unreachable`.
std::vector<Recipient> envelope_recipients(const MembersView &view, const std::optional<EnvoyKey> &own,
                                           const std::vector<std::string> &left_out,
                                           std::vector<std::string> &unreachable);

// One rotation that leaves nobody behind, as `evict` (hosts `left_out`) and
// the agent's `rekey` (nobody left out) make it: the members of this envoy's
// view to seal the new generation to, and those evicted, are settled first;
// then the identity rotates from `old` (unwrapped, and checked against
// identity.pub, by the caller) under `new_passphrase` -- committed through
// the journal before anything leaves; then the envelope, made and signed
// here by the old key, the new key and this machine's machine key, is saved
// as envelope.json, the left-out hosts leave the view, and this envoy is
// certified under the new key. Call under StateLock.
struct SealedRotation {
    Keypair fresh;
    std::optional<Envelope> envelope;     // nullopt: see seal_error
    std::vector<std::string> unreachable; // members without a certified envoy key: not in the envelope
    std::string seal_error;               // why the rotation, committed, has no envelope (or certificate)
};
// Throws before anything is written for a left-out host the view does not
// know, one that is this machine, or a rotation that fails. Once the
// rotation is committed it no longer throws: what failed after it (the
// envelope, the members view, the certificate) is in seal_error.
SealedRotation rotate_and_seal(const IdentityStore &store, const Keypair &old,
                               std::span<const std::uint8_t> new_passphrase, const KdfParams &kdf, std::int64_t at,
                               const std::vector<std::string> &left_out);

// envelope.json in the state directory (0600): the last envelope made here.
inline constexpr const char *kEnvelopeFile = "envelope.json";
void save_envelope(const StateDir &dir, const Envelope &envelope);

// ---- the generation this envoy made ----

// Whether the last envelope made here (envelope.json) has reached its
// recipients, as far as this envoy has seen: a recipient has taken it once
// members.json records that host with the new key (it claimed the key through
// this envoy's listener, or the user said so with `members --took`).
struct Delivery {
    std::uint64_t generation = 0;     // of the key this envoy holds, which the envelope carries
    std::int64_t made_at = 0;
    std::vector<std::string> taken, waiting; // recipient hosts
};
// nullopt when there is no envelope.json or it carries another key than the
// one this envoy holds (a later generation came from elsewhere). Throws
// Error(Failure::failed) for an unreadable envelope.json or members.json.
std::optional<Delivery> load_delivery(const StateDir &dir, const StoredIdentity &id);

// The user's word that `host` (a member of this envoy's view) holds the key
// this envoy holds now, after 'puddle accept' there. Call under StateLock.
void record_took(const StateDir &dir, const StoredIdentity &id, const std::string &host, std::int64_t at);

// The same on evidence: a receipt signed by the machine key of a member of
// this envoy's view, for the key held here. Returns the member's host.
// Throws Error(Failure::failed) for a receipt that does not verify, is for
// another key, or whose machine key no member's certificate names. Call
// under StateLock.
std::string record_receipt(const StateDir &dir, const StoredIdentity &id, const Receipt &receipt);

// The member of `view` whose verifying envoy certificate names the maker's
// host, envoy key and machine key: whom an envelope may come from. nullptr
// when there is none; then `why` says whether the maker is unknown here or
// known only by a certificate without a machine key (an older puddle's).
const MemberRecord *certified_maker(const MembersView &view, const EnvelopeMaker &maker, std::string &why);

// ---- reading ----

// A member whose envoy key the identity (the key the record names) certified
// for its host: one that a new generation can be sealed to.
bool has_certified_envoy(const MemberRecord &m);

// Whether `name` (as the user gives it to evict, members --took) is this
// member's host name or its short machine key (PublicKey::short_hex): two
// machines of one name are told apart by the latter.
bool names_member(const MemberRecord &m, const std::string &name);

// This envoy's view with its own record, for `members` and `status`: the
// record's digest is this wrap's, and an envoy made by init (which has
// recorded nobody) is its own first member since identity.pub was written.
MembersView members_with_self(const StateDir &dir, const StoredIdentity &id, const std::string &own_host);

} // namespace puddle
