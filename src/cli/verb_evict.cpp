// evict, accept: a new generation of the identity that leaves one member out,
// carried to the kept members in an envelope (core/envelope.hpp) by any
// transport. The passphrase stays what it was.
#include "cli/agent_client.hpp"
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/passphrase_source.hpp"
#include "cli/verbs.hpp"
#include "cli/fleet_sync.hpp"
#include "core/envelope.hpp"
#include "core/envoy_cert.hpp"
#include "core/files/members.hpp"
#include "core/identity_store.hpp"
#include "core/membership.hpp"
#include "core/receipt.hpp"
#include "core/rotation.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/harden.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <optional>
#include <unistd.h>

namespace puddle::cli {
namespace {

// The session holds the key the identity no longer has: end it, so the next
// signature is not made with a key the members have left behind.
void lock_a_stale_session(const PublicKey &now) {
    std::string why;
    const auto state = try_agent_state(&why);
    if (!state || !state->unlocked) return;
    try {
        AgentClient().lock();
        std::printf("locked the agent's session (it held the previous key): 'puddle unlock' for %s\n",
                    now.str().c_str());
    } catch (const Error &e) {
        print_warning("could not lock the agent's session, which holds the previous key: " + e.why());
    }
}

} // namespace

int run_evict(const std::vector<std::string> &argv) {
    Args args("evict", argv);
    check_fd_options(args, {"passphrase-fd"});
    if (args.positionals().empty()) usage_error("evict", "name the HOST to leave out ('puddle members' lists them)");
    const std::string host = args.positionals()[0];
    const auto out = args.value("envelope");
    if (out && *out == "-" && ::isatty(STDOUT_FILENO))
        usage_error("evict", "standard output is a terminal; redirect it, or give --envelope FILE");
    harden({"puddle evict", "the key"}); // before the passphrase is asked and the seed unwrapped
    auto config = load_config_reporting();
    const std::string own_host = local_host_name();
    if (host == own_host)
        throw Error(Failure::failed, "evict", "this machine is " + quoted(host) + ": a machine cannot evict itself",
                    "run 'puddle evict " + host + "' on another member");

    // Checked before the passphrase is asked: a host the view does not know.
    StoredIdentity id;
    {
        auto st = open_state(false);
        id = st.store.load();
        const MembersView view = members_with_self(st.dir, id, own_host);
        if (std::none_of(view.members.begin(), view.members.end(), [&](const MemberRecord &m) {
                return m.direction != MemberDirection::self && m.host == host;
            }))
            throw Error(Failure::failed, "evict", "no member named " + quoted(host) + " in this machine's view",
                        "'puddle members' lists the members this machine knows");
    }
    auto pass = current_passphrase(args, "Passphrase");
    const auto old_pair = unwrap_seed(id.wrapped, pass.bytes(), id.salt, id.pub);

    auto st = open_state(false);
    const auto now_id = st.store.load();
    if (!(now_id.pub == id.pub) || now_id.wrapped.raw != id.wrapped.raw)
        throw Error(Failure::failed, "evict", "the identity changed while the passphrase was read",
                    "run 'puddle evict " + host + "' again");
    // The new generation, wrapped under the same passphrase (a new salt).
    const auto sealed = rotate_and_seal(st.store, old_pair, pass.bytes(), config.kdf,
                                        std::int64_t(std::time(nullptr)), {host});
    pass = SecretBuffer();
    if (!sealed.envelope)
        throw Error(Failure::failed, "evict",
                    "the rotation to " + sealed.fresh.public_key().str() + " is done, but its envelope is not (" +
                        sealed.seal_error + ")",
                    "hand the new key to the members you keep over the pair listener: 'puddle rekey-pair' here, "
                    "'puddle rekey --from " + own_host + "' there; then 'puddle evict' is not needed again");
    const Envelope &envelope = *sealed.envelope;
    const auto &kept = envelope.recipients;
    const auto &unreachable = sealed.unreachable;
    const Keypair &fresh = sealed.fresh;
    const std::string text = serialize_envelope(envelope);

    if (out && *out == "-") write_all(STDOUT_FILENO, reinterpret_cast<const std::uint8_t *>(text.data()), text.size(), "standard output");
    else if (out) write_new_file(*out, text, "the envelope");
    std::fprintf(stderr, "puddle: evicted %s: rotated %s -> %s (generation %llu), same passphrase\n", host.c_str(),
                 id.pub.str().c_str(), fresh.public_key().str().c_str(), (unsigned long long)envelope.generation);
    std::fprintf(stderr, "puddle: envelope for %zu kept member%s: %s%s%s\n", kept.size(), kept.size() == 1 ? "" : "s",
                 st.dir.file(kEnvelopeFile).c_str(), out && *out != "-" ? " and " : "",
                 out && *out != "-" ? out->c_str() : "");
    for (const auto &k : kept)
        std::fprintf(stderr, "  %s: 'puddle accept FILE' there (any transport: ssh %s puddle accept --from %s - < FILE)\n",
                     k.host.c_str(), k.host.c_str(), own_host.c_str());
    std::fprintf(stderr, "puddle: this machine's key, which each member checks it against: %s\n",
                 envelope.maker.signer.str().c_str());
    for (const auto &u : unreachable)
        std::fprintf(stderr, "  %s: no sealing key known here (not paired since the upgrade): hand it the key with "
                     "'puddle rekey-pair' here and 'puddle rekey --from %s' there\n", u.c_str(), own_host.c_str());
    sync_fleet_quietly(st.store, std::int64_t(std::time(nullptr)));
    lock_a_stale_session(fresh.public_key());
    return 0;
}

namespace {

// --from HOST or a prefix of the maker's machine key (hex, with or without
// "ed25519:", at least 8 digits: host names repeat, keys do not).
bool names_the_maker(const std::string &from, const EnvelopeMaker &maker) {
    if (from == maker.host) return true;
    std::string hex = from.starts_with("ed25519:") ? from.substr(8) : from;
    return hex.size() >= 8 && maker.signer.str().substr(8).starts_with(hex);
}

// The user's yes, on the controlling terminal (standard input may carry the
// envelope). nullopt: no terminal to ask on.
std::optional<bool> ask_on_terminal(const std::string &question) {
    UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (!tty) return std::nullopt;
    const std::string q = question + " [y/N] ";
    write_all(tty.get(), reinterpret_cast<const std::uint8_t *>(q.data()), q.size(), "the terminal");
    std::string answer;
    char c = 0;
    while (answer.size() < 64) {
        const ssize_t n = ::read(tty.get(), &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || c == '\n') break;
        answer += c;
    }
    return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES" || answer == "Yes";
}

bool has_terminal() {
    UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
    return bool(tty);
}

} // namespace

namespace {

// --settle: the user says the branch of `env` is the puddle's. Every fork
// along it is settled in its favour (the other branches leave the log), and
// this machine takes its new key if it holds one of those other branches or
// an older key of the chain. Writes the identity and the log as one decision.
void settle_fork(const OpenState &st, const StoredIdentity &id, const Envelope &env, RotationLog &merged,
                 const WrappedBytes &wrapped, const std::string &label) {
    const auto chain = chain_to(env.retired, env.new_key);
    if (chain.empty())
        throw Error(Failure::failed, "accept --settle " + label, "its rotation log does not lead to " + env.new_key.str(),
                    "ask its maker for a new envelope");
    const RotationLog dropped = settle_forks(merged, chain);
    const bool on_chain = std::any_of(chain.begin(), chain.end(), [&](const RotationRecord &r) {
        return r.old_key == id.pub || r.new_key == id.pub;
    });
    const bool on_dropped = std::any_of(dropped.begin(), dropped.end(), [&](const RotationRecord &r) {
        return r.new_key == id.pub;
    });
    if (!on_chain && !on_dropped)
        throw Error(Failure::failed, "accept --settle " + label,
                    "the key held here, " + id.pub.str() + ", is on neither side of a fork with " + env.new_key.str(),
                    "this machine belongs to another puddle, or misses a rotation: take the key with 'puddle rekey "
                    "--from HOST'");
    if (dropped.empty() && id.pub == env.new_key) {
        std::printf("no fork on the way to %s; nothing changed\n", id.pub.str().c_str());
        return;
    }
    if (auto fork = find_fork_from(merged, env.new_key))
        throw Error(Failure::failed, "accept --settle " + label,
                    "another fork remains after " + env.new_key.str() + ": " + fork->first.old_key.str() +
                        " was rotated to " + fork->first.new_key.str() + " and to " + fork->second.new_key.str(),
                    "settle it with the envelope that leads past it");
    if (id.pub == env.new_key) st.store.commit(id.salt, id.wrapped.raw, id.pub, serialize_rotation_log(merged));
    else st.store.commit(env.salt, wrapped, env.new_key, serialize_rotation_log(merged));
    for (const auto &r : dropped)
        std::printf("settled: dropped the rotation %s -> %s (at %lld); %s is not this puddle's key\n",
                    r.old_key.str().c_str(), r.new_key.str().c_str(), (long long)r.at, r.new_key.str().c_str());
}

} // namespace

int run_accept(const std::vector<std::string> &argv) {
    Args args("accept", argv);
    const bool settle = args.flag("settle");
    if (args.positionals().empty()) usage_error("accept", "name the envelope FILE, or - for standard input");
    const auto from = args.value("from");
    if (from && from->empty()) usage_error("accept", "--from needs the maker's host name or a prefix of its machine key");
    // Who made an envelope is the user's call: an evicted member holds the
    // old key and can make one too. Asked before anything is read.
    if (!from && !has_terminal())
        usage_error("accept", "no terminal to confirm who made the envelope: give --from HOST (or a prefix of the "
                              "maker's machine key, which 'puddle evict' printed there)");
    const std::string source = args.positionals()[0];
    const std::string label = source == "-" ? "standard input" : quoted(source);
    const Envelope env = parse_envelope(read_input(source, kMaxEnvelopeBytes), label);

    auto st = open_state(false);
    const auto id = st.store.load();
    const bool holding = id.pub == env.new_key;
    if (holding && !settle) {
        std::printf("already holding %s; nothing changed\n", id.pub.str().c_str());
        return 0;
    }
    if (!id.envoy)
        throw Error(Failure::failed, "accept", "this identity is not sealed to this machine's sealing key yet",
                    "run 'puddle status' once (it seals it), then accept again");
    const auto envoy = EnvoySecret::load(EnvoySecret::location()).value();
    const auto &me = envoy.public_key();
    if (const auto bad = envelope_signature_problem(env); !bad.empty())
        throw Error(Failure::failed, "accept " + label, "its statement does not verify under " + bad + " signature",
                    "ask for a new envelope; this one was altered, or made by something that is not a member");
    for (const auto &e : env.evicted)
        if (e.envoy && *e.envoy == me)
            throw Error(Failure::denied, "accept " + label,
                        "this machine (" + e.host + ", " + me.str() + ") is the one the rotation to " + env.new_key.str() +
                            " evicted; it cannot open the new key",
                        "if that was a mistake, join again from a kept member ('puddle pair' there)");
    MembersView view = load_members(st.dir).value_or(MembersView{});
    std::string why;
    // This machine is a maker it knows too: settling a fork in favour of an
    // envelope it made itself.
    if (!certified_maker(members_with_self(st.dir, id, local_host_name()), env.maker, why))
        throw Error(Failure::failed, "accept " + label, why,
                    "take the key over the pair listener instead ('puddle rekey-pair' on the member that rotated, "
                    "'puddle rekey --from HOST' here), which also makes the two machines known to each other");
    const auto *entry = recipient_for(env, me);
    if (!entry && !holding) {
        std::string hosts;
        for (const auto &r : env.recipients) hosts += (hosts.empty() ? "" : ", ") + r.host;
        throw Error(Failure::failed, "accept " + label,
                    "it is not addressed to this machine's sealing key " + me.str() + " (it is for: " +
                        (hosts.empty() ? std::string("nobody") : hosts) + ")",
                    "the member that evicted did not know this machine's sealing key: take the key with 'puddle "
                    "rekey --from HOST' after 'puddle rekey-pair' there");
    }
    std::string names;
    for (const auto &e : env.evicted) names += (names.empty() ? "" : ", ") + e.host;
    const std::string what = "made by " + env.maker.host + " (machine key " + env.maker.signer.str() +
                             "), rotating to " + env.new_key.str() + "; evicts: " + (names.empty() ? "nobody" : names);
    if (from) {
        if (!names_the_maker(*from, env.maker))
            throw Error(Failure::denied, "accept " + label,
                        "it was " + what + ", not by " + quoted(*from) + " as --from says",
                        "if you did not make that rotation on " + env.maker.host +
                            ", do not take it: the machine that did may be one you evicted");
    } else {
        std::fprintf(stderr, "puddle: the envelope was %s\n", what.c_str());
        const auto yes = ask_on_terminal("Take it?");
        if (!yes) usage_error("accept", "no terminal to confirm who made the envelope: give --from HOST");
        if (!*yes) throw Error(Failure::denied, "accept " + label, "not taken: you said no", "");
    }
    WrappedBytes wrapped = id.wrapped.raw;
    if (!holding) {
        wrapped = open_envelope(env, *entry, envoy);
        check_received_kdf(parse_wrapped(wrapped, label + ", the new key").kdf, label + ", the new key");
    }
    // Fork: the envelope's log and ours disagree about the successor of a
    // key on the way from the key held here. Recorded (health says Degraded)
    // only now: the envelope is addressed to this machine and its maker is a
    // member the user named.
    RotationLog merged = load_rotation_log(st.dir).value_or(RotationLog{});
    for (const auto &rec : env.retired) (void)append_record(merged, rec);
    if (settle) {
        settle_fork(st, id, env, merged, wrapped, label);
    } else if (auto fork = find_fork_from(merged, id.pub)) {
        st.store.commit(id.salt, id.wrapped.raw, id.pub, serialize_rotation_log(merged));
        throw Error(Failure::failed, "accept " + label,
                    "the rotation log forks: " + fork->first.old_key.str() + " was rotated to " +
                        fork->first.new_key.str() + " and to " + fork->second.new_key.str() +
                        " (two members evicted or rotated on their own)",
                    "find out which member made each; then 'puddle accept --settle --from HOST FILE' with the envelope "
                    "of the one you trust ('puddle status' shows the fork; puddle(1), ACCEPT)");
    } else {
        const auto path = check_rotation_offer(serialize_rotation_log(env.retired), id.pub, env.new_key);
        adopt_rotation(st.store, id.pub, path, env.salt, wrapped, env.new_key);
    }
    if (holding) {
        lock_a_stale_session(env.new_key);
        return 0;
    }
    std::erase_if(view.members, [&](const MemberRecord &m) {
        return m.direction != MemberDirection::self &&
               std::any_of(env.evicted.begin(), env.evicted.end(), [&](const EvictedEnvoy &e) {
                   return e.host == m.host && (!e.envoy || !m.envoy || m.envoy->key == *e.envoy);
               });
    });
    save_members(st.dir, view);
    note_evicted(st.dir, env.evicted);
    // The receipt the maker records this machine by ('members --took').
    const Receipt receipt = make_receipt(env.new_key, env.generation, local_host_name(), envoy,
                                         std::int64_t(std::time(nullptr)));
    const std::string receipt_text = serialize_receipt(receipt);
    st.dir.write_atomic(kReceiptFile, as_bytes(receipt_text), 0600);
    if (auto out = args.value("receipt")) write_new_file(*out, receipt_text, "the receipt");
    std::printf("rotated to %s (generation %llu; made by %s; evicted: %s)\n", env.new_key.str().c_str(),
                (unsigned long long)env.generation, env.maker.host.c_str(), names.empty() ? "nobody" : names.c_str());
    std::fprintf(stderr, "puddle: receipt for %s: %s; there: 'puddle members --took FILE'\n", env.maker.host.c_str(),
                 args.value("receipt") ? args.value("receipt")->c_str() : st.dir.file(kReceiptFile).c_str());
    sync_fleet_quietly(st.store, std::int64_t(std::time(nullptr)));
    lock_a_stale_session(env.new_key);
    return 0;
}

} // namespace puddle::cli
