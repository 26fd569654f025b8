#include "core/membership.hpp"

#include "core/fleet.hpp"
#include "core/rotation.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <sys/stat.h>

namespace puddle {
namespace {

// This machine's certificate, if it is for this identity and host and
// verifies, and its machine key: also when the certificate is by an older key
// of this identity's log ('accept' unwraps nothing, so the certificate
// catches up only at the next command that does; it is still this machine).
struct OwnCert {
    std::optional<EnvoyCert> cert;
    std::optional<PublicKey> machine;
};

OwnCert own_cert(const StateDir &dir, const PublicKey &pub, const std::string &host) {
    OwnCert out;
    try {
        const auto own = load_own_envoy_cert(dir);
        if (!own || own->host != host || !verify_envoy_cert(own->cert, own->pubkey, host)) return out;
        if (own->pubkey == pub) {
            out.cert = own->cert;
            out.machine = own->cert.signer;
        } else if (KeyGenerations(load_rotation_log(dir).value_or(RotationLog{}), pub).of(own->pubkey)) {
            out.machine = own->cert.signer;
        }
    } catch (const Error &) {
        // health reports it; the view goes on without
    }
    return out;
}

} // namespace

std::string members_for_joiner(const StateDir &dir, const StoredIdentity &id, const std::string &own_host,
                               std::int64_t now) {
    const MembersView view = load_members(dir).value_or(MembersView{});
    const auto cert = own_cert(dir, id.pub, own_host).cert;
    const MemberRecord self{own_host, now, MemberDirection::self, wrapped_digest(id.wrapped.raw), id.pub, cert,
                            cert ? cert->signer : std::nullopt};
    return serialize_members(merge_members(view, MembersView{{self}}));
}

void record_admitted(const StateDir &dir, const StoredIdentity &id, const std::string &host, std::int64_t at,
                     const std::optional<EnvoyCert> &cert) {
    const MembersView view = load_members(dir).value_or(MembersView{});
    MemberRecord rec{host, at, MemberDirection::admitted, wrapped_digest(id.wrapped.raw), id.pub, std::nullopt};
    // Kept only when the identity vouches for it (the joiner signed it with
    // the key it just unwrapped).
    if (cert && verify_envoy_cert(*cert, id.pub, host)) {
        rec.envoy = cert;
        rec.machine = cert->signer;
    }
    save_members(dir, merge_members(view, MembersView{{rec}}));
}

std::optional<PublicKey> this_machine_key() {
    try {
        if (const auto e = EnvoySecret::load(EnvoySecret::location())) return e->signing_key();
    } catch (const Error &) {
        // the command that needs the secret says what is wrong with it
    }
    return std::nullopt;
}

JoinOffer read_join_offer(const Salt &salt, const WrappedBytes &wrapped, const PublicKey &pub,
                          std::string_view members_json, std::string_view retired_json, const std::string &own_host,
                          const std::optional<PublicKey> &own_machine) {
    JoinOffer offer{salt, wrapped, pub, {}, {}};
    if (!members_json.empty()) offer.members = parse_members(as_bytes(members_json), "the holder's members.json");
    // A record with a machine key is another machine even under this host
    // name (two machines called "debian" stay two).
    std::erase_if(offer.members.members, [&](const MemberRecord &m) {
        return m.machine ? own_machine && *m.machine == *own_machine : m.host == own_host && m.pubkey == pub;
    });
    for (auto &m : offer.members.members)
        if (m.direction == MemberDirection::self) m.direction = MemberDirection::joined;
    if (!retired_json.empty()) offer.log = parse_rotation_log(as_bytes(retired_json), "the holder's rotation log");
    return offer;
}

void accept_join(const IdentityStore &store, const JoinOffer &offer, const std::string &own_host, std::int64_t now) {
    if (store.is_member()) throw Error(Failure::failed, "join", "another command initialized this machine meanwhile");
    const MemberRecord self{own_host, now, MemberDirection::self, wrapped_digest(offer.wrapped), offer.pub,
                            std::nullopt};
    store.commit(offer.salt, offer.wrapped, offer.pub,
                 offer.log.empty() ? std::nullopt : std::optional<std::string>(serialize_rotation_log(offer.log)));
    save_members(store.dir(), merge_members(offer.members, MembersView{{self}}));
}

std::optional<EnvoyCert> certify_this_envoy(const IdentityStore &store, const Keypair &identity, std::int64_t now) {
    const auto id = store.load();
    if (!id.envoy || !(id.pub == identity.public_key())) return std::nullopt;
    const std::string host = local_host_name();
    const auto machine_key = [&] {
        const auto envoy = EnvoySecret::load(EnvoySecret::location());
        if (!envoy || !(envoy->public_key() == *id.envoy))
            throw Error(Failure::failed, "cannot certify this machine's key",
                        "the machine secret here is not the one identity.wrapped is sealed to",
                        "'puddle status' says what to do");
        return envoy->signing_key();
    };
    ensure_own_envoy_cert(store.dir(), identity, *id.envoy, machine_key, host, now);
    return own_cert(store.dir(), id.pub, host).cert;
}

std::vector<Recipient> envelope_recipients(const MembersView &view, const std::optional<EnvoyKey> &own,
                                           const std::vector<std::string> &left_out,
                                           std::vector<std::string> &unreachable) {
    std::vector<Recipient> out;
    for (const auto &m : view.members) {
        if (m.direction == MemberDirection::self) continue;
        if (std::any_of(left_out.begin(), left_out.end(), [&](const std::string &h) { return names_member(m, h); }))
            continue;
        if (!has_certified_envoy(m)) {
            if (std::find(unreachable.begin(), unreachable.end(), m.host) == unreachable.end())
                unreachable.push_back(m.host);
            continue;
        }
        if (own && *own == m.envoy->key) continue;
        if (std::any_of(out.begin(), out.end(), [&](const Recipient &r) { return r.envoy == m.envoy->key; })) continue;
        out.push_back(Recipient{m.host, m.envoy->key});
    }
    return out;
}

SealedRotation rotate_and_seal(const IdentityStore &store, const Keypair &old,
                               std::span<const std::uint8_t> new_passphrase, const KdfParams &kdf, std::int64_t at,
                               const std::vector<std::string> &left_out) {
    const StateDir &dir = store.dir();
    const std::string own_host = local_host_name();
    const auto id = store.load();
    const auto maker = EnvoySecret::load(EnvoySecret::location());
    const bool can_seal = maker && id.envoy && maker->public_key() == *id.envoy;
    if (!can_seal && !left_out.empty()) // an eviction is nothing without its envelope
        throw Error(Failure::failed, "cannot seal a new generation",
                    "this machine's secret is not the one identity.wrapped is sealed to",
                    "'puddle status' says what to do");
    const MembersView view = members_with_self(dir, id, own_host);
    std::vector<EvictedEnvoy> evicted;
    for (const auto &host : left_out) {
        if (host == own_host)
            throw Error(Failure::failed, "evict", "this machine is \"" + host + "\": a machine cannot evict itself",
                        "run 'puddle evict " + host + "' on another member");
        const std::size_t before = evicted.size();
        for (const auto &m : view.members) {
            if (m.direction == MemberDirection::self || !names_member(m, host)) continue;
            EvictedEnvoy ev{m.host, has_certified_envoy(m) ? std::optional<EnvoyKey>(m.envoy->key) : std::nullopt};
            if (std::find(evicted.begin(), evicted.end(), ev) == evicted.end()) evicted.push_back(ev);
        }
        if (evicted.size() == before)
            throw Error(Failure::failed, "evict", "no member named \"" + host + "\" in this machine's view",
                        "'puddle members' lists the members this machine knows");
    }
    std::vector<std::string> unreachable;
    auto recipients = envelope_recipients(view, id.envoy, left_out, unreachable);
    // An envoy key the evicted host also used under another name stays out.
    std::erase_if(recipients, [&](const Recipient &r) {
        return std::any_of(evicted.begin(), evicted.end(), [&](const EvictedEnvoy &e) { return e.envoy && *e.envoy == r.envoy; });
    });

    SealedRotation out{rotate(store, old, new_passphrase, kdf, at), std::nullopt, std::move(unreachable), {}};
    try {
        if (!can_seal)
            throw Error(Failure::failed, "no envelope", "identity.wrapped is not sealed to this machine's secret");
        const auto new_id = store.load();
        out.envelope = make_envelope(old, out.fresh, *maker, own_host, at, new_id.salt, new_id.wrapped.raw,
                                     load_rotation_log(dir).value_or(RotationLog{}), evicted, recipients);
        save_envelope(dir, *out.envelope);
        if (!left_out.empty()) {
            MembersView kept = load_members(dir).value_or(MembersView{});
            std::erase_if(kept.members, [&](const MemberRecord &m) {
                return m.direction != MemberDirection::self &&
                       std::any_of(left_out.begin(), left_out.end(), [&](const std::string &h) { return names_member(m, h); });
            });
            save_members(dir, kept);
            note_evicted(dir, evicted);
        }
        (void)certify_this_envoy(store, out.fresh, at);
    } catch (const Error &e) {
        out.seal_error = e.what_failed() + ": " + e.why();
    }
    return out;
}

void save_envelope(const StateDir &dir, const Envelope &envelope) {
    const std::string text = serialize_envelope(envelope);
    dir.write_atomic(kEnvelopeFile, as_bytes(text), 0600);
}

std::optional<Delivery> load_delivery(const StateDir &dir, const StoredIdentity &id) {
    if (!dir.has(kEnvelopeFile)) return std::nullopt;
    const auto env = parse_envelope(dir.read(kEnvelopeFile, kMaxEnvelopeBytes, FileTrust::private_file),
                                    dir.file(kEnvelopeFile));
    if (!(env.new_key == id.pub)) return std::nullopt;
    Delivery d{env.generation, env.at, {}, {}};
    const MembersView view = load_members(dir).value_or(MembersView{});
    for (const auto &r : env.recipients) {
        const bool took = std::any_of(view.members.begin(), view.members.end(), [&](const MemberRecord &m) {
            return m.host == r.host && m.pubkey == env.new_key && m.direction != MemberDirection::self;
        });
        auto &list = took ? d.taken : d.waiting;
        if (std::find(list.begin(), list.end(), r.host) == list.end()) list.push_back(r.host);
    }
    return d;
}

void record_took(const StateDir &dir, const StoredIdentity &id, const std::string &host, std::int64_t at) {
    const MembersView view = load_members(dir).value_or(MembersView{});
    const MemberRecord *known = nullptr;
    for (const auto &m : view.members)
        if (names_member(m, host) && m.direction != MemberDirection::self) {
            if (known && known->machine && m.machine && !(*known->machine == *m.machine))
                throw Error(Failure::failed, "members --took", "two machines are named \"" + host + "\"",
                            "give the short machine key that 'puddle members' shows instead of the name");
            known = &m;
        }
    if (!known)
        throw Error(Failure::failed, "members --took", "no member named \"" + host + "\" in this machine's view",
                    "'puddle members' lists the members this machine knows");
    const MemberRecord rec{known->host, at, known->direction, wrapped_digest(id.wrapped.raw), id.pub, std::nullopt,
                           known->machine};
    save_members(dir, merge_members(view, MembersView{{rec}}));
}

std::string record_receipt(const StateDir &dir, const StoredIdentity &id, const Receipt &receipt) {
    const auto fail = [](const std::string &why, const std::string &hint) {
        return Error(Failure::failed, "members --took", why, hint);
    };
    if (!verify_receipt(receipt))
        throw fail("the receipt's signature does not verify under the machine key it names",
                   "it was altered on its way: ask for it again ('puddle accept' writes receipt.json there)");
    if (!(receipt.key == id.pub))
        throw fail("the receipt is for " + receipt.key.str() + ", not the key held here (" + id.pub.str() + ")",
                   "'puddle status' on both machines shows which key each holds");
    const MembersView view = load_members(dir).value_or(MembersView{});
    const MemberRecord *known = nullptr;
    for (const auto &m : view.members)
        if (m.direction != MemberDirection::self && has_certified_envoy(m) && m.envoy->signer &&
            *m.envoy->signer == receipt.machine && m.envoy->key == receipt.envoy)
            known = &m;
    if (!known)
        throw fail("no member of this machine's view has the machine key " + receipt.machine.str(),
                   "'puddle members' lists the members known here; a member paired with an older puddle is known "
                   "without one: record it by name ('puddle members --took HOST') after checking with the user");
    const MemberRecord rec{known->host, receipt.at, known->direction, wrapped_digest(id.wrapped.raw), id.pub,
                           std::nullopt, receipt.machine};
    save_members(dir, merge_members(view, MembersView{{rec}}));
    return known->host;
}

const MemberRecord *certified_maker(const MembersView &view, const EnvelopeMaker &maker, std::string &why) {
    bool known_without = false;
    for (const auto &m : view.members) {
        if (!has_certified_envoy(m) || !(m.envoy->key == maker.envoy)) continue;
        if (!m.envoy->signer) {
            known_without = true;
            continue;
        }
        if (*m.envoy->signer == maker.signer && m.host == maker.host) return &m;
    }
    why = known_without ? "its maker " + maker.host + " (" + maker.envoy.str() +
                              ") is known here only by a certificate of an older puddle, without a machine key"
                        : "its maker " + maker.host + " (machine key " + maker.signer.str() +
                              ") is not a certified member of this machine's view";
    return nullptr;
}

bool names_member(const MemberRecord &m, const std::string &name) {
    return m.host == name || (m.machine && m.machine->short_hex() == name);
}

bool has_certified_envoy(const MemberRecord &m) { return m.envoy && verify_envoy_cert(*m.envoy, m.pubkey, m.host); }

MembersView members_with_self(const StateDir &dir, const StoredIdentity &id, const std::string &own_host) {
    MembersView view = load_members(dir).value_or(MembersView{});
    const std::string mine = wrapped_digest(id.wrapped.raw);
    bool have_self = false;
    const auto [cert, machine] = own_cert(dir, id.pub, own_host);
    for (auto &m : view.members)
        if (m.direction == MemberDirection::self && m.pubkey == id.pub) {
            m.wrapped_digest = mine; // this envoy's wrap is, by definition, the one here
            if (cert) m.envoy = cert;
            if (machine) m.machine = machine;
            have_self = true;
        }
    if (!have_self) {
        struct stat st {};
        const std::int64_t since = ::lstat(dir.file(kPubFile).c_str(), &st) == 0 ? std::int64_t(st.st_mtime) : 0;
        view.members.insert(view.members.begin(),
                            MemberRecord{own_host, since, MemberDirection::self, mine, id.pub, cert, machine});
    }
    return view;
}

} // namespace puddle
