// pair, join, members: handing the wrapped identity to a new envoy
// (PAIRING.md) and the local view of member envoys.
#include "cli/agent_client.hpp"
#include "cli/args.hpp"
#include "cli/code_source.hpp"
#include "cli/io.hpp"
#include "cli/passphrase_source.hpp"
#include "cli/verbs.hpp"
#include "core/identity_store.hpp"
#include "core/names.hpp"
#include "core/passphrase.hpp"
#include "core/files/pair_result.hpp"
#include "core/files/pending.hpp"
#include "cli/fleet_sync.hpp"
#include "core/membership.hpp"
#include "core/receipt.hpp"
#include "core/rotation.hpp"
#include "pair/holder.hpp"
#include "pair/joiner.hpp"
#include "util/fd.hpp"
#include "util/harden.hpp"
#include "util/json.hpp"
#include "util/text.hpp"
#include "util/user_manager.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <pwd.h>
#include <sodium.h>
#include <sys/stat.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

namespace puddle::cli {
namespace {

constexpr const char *kPairSocket = "puddle-pair.socket";

std::string user_name() {
    auto *pw = ::getpwuid(::getuid());
    if (!pw) throw Error(Failure::failed, "pair", "cannot find your user name");
    return pw->pw_name;
}

std::string clock_time(std::int64_t t) {
    std::time_t tt = std::time_t(t);
    struct tm tm;
    localtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}

std::string show_code(const std::string &digits) { return digits.substr(0, 4) + "-" + digits.substr(4); }

// [pair] port other than the unit's 1531 becomes a runtime drop-in.
void configure_port(std::uint16_t port) {
    const std::string dir = runtime_dropin_dir(kPairSocket);
    const std::string file = dir + "/50-puddle-port.conf";
    if (port == 1531) {
        if (::unlink(file.c_str()) == 0) reload_user_manager();
        return;
    }
    StateDir(dir).create();
    std::ofstream out(file, std::ios::trunc);
    out << "# written by 'puddle pair' from [pair] port in puddle.toml\n[Socket]\nListenStream=\nListenStream="
        << port << "\n";
    if (!out) throw_errno("cannot write " + file, errno);
    out.close();
    reload_user_manager();
}

} // namespace

namespace {

// pair and rekey-pair: write the pending file, start the listener's socket,
// print the code, and with --wait report the outcome.
int hand_out(const std::string &verb, std::string_view purpose, const char *pending_file, bool wait) {
    auto config = load_config_reporting();
    PairPending pending;
    {
        auto st = open_state(false);
        auto pub = st.store.load_public_key(); // exit 4 when not a member
        (void)pub;
        if (!st.store.is_member()) st.store.load();
        const std::int64_t now = std::int64_t(std::time(nullptr));
        for (const char *f : {kPairPendingFile, kRekeyPendingFile}) {
            const auto old = load_pending(st.dir, f);
            if (!old) continue;
            if (old->expires > now)
                throw Error(Failure::failed, verb, "a " + old->purpose + " code is already pending until " + clock_time(old->expires),
                            "claim it, or withdraw it with 'puddle " +
                                std::string(old->purpose == kPurposePair ? "pair" : "rekey-pair") + " --cancel'");
            st.dir.remove(f); // expired leftovers
        }
        char digits[9];
        std::snprintf(digits, sizeof digits, "%08u", randombytes_uniform(100000000));
        pending = PairPending{std::string(purpose), digits, now, now + config.pair.code_ttl_seconds};
        sodium_memzero(digits, sizeof digits);
        remove_pair_result(st.dir, purpose);
        save_pending(st.dir, pending_file, pending);
        try {
            configure_port(config.pair.port);
            start_user_unit(kPairSocket);
        } catch (...) {
            st.dir.remove(pending_file);
            throw;
        }
    }
    const std::string port = config.pair.port == 1531 ? "" : ":" + std::to_string(config.pair.port);
    std::printf("%s code: %s (single use, valid until %s)\n", purpose == kPurposePair ? "pairing" : "rekey",
                show_code(pending.code).c_str(), clock_time(pending.expires).c_str());
    if (purpose == kPurposePair)
        std::printf("on the new machine: puddle join --from %s%s\n", pair::local_host_name().c_str(), port.c_str());
    else
        std::printf("on each member to keep: puddle rekey --from %s%s\n", pair::local_host_name().c_str(), port.c_str());
    std::fflush(stdout);
    if (!wait) return 0;

    StateDir dir = StateDir::locate();
    std::optional<std::int64_t> held_reported;
    for (;;) {
        if (auto r = load_pair_result(dir, purpose)) {
            if (r->created == pending.created && r->result == "held") {
                // Not the end: say so once per hold, and wait on.
                if (r->at != held_reported) {
                    held_reported = r->at;
                    std::fprintf(stderr,
                                 "puddle: warning: at %s a claim from %s held the code after HELLO and went quiet; "
                                 "dropped, the code is still good (someone else trying it, or a joiner that "
                                 "stalled)\n",
                                 clock_time(r->at.value_or(0)).c_str(), printable(r->peer, 64).c_str());
                }
            } else if (r->created == pending.created) {
                const std::string &result = r->result, &host = r->host, &peer = r->peer;
                const std::string when = clock_time(r->at.value_or(std::int64_t(std::time(nullptr))));
                if (result == "claimed") {
                    std::printf("claimed: %s (%s) joined at %s\n", host.c_str(), peer.c_str(), when.c_str());
                    return 0;
                }
                if (result == "unacknowledged")
                    throw Error(Failure::pairing_failed, verb,
                                "the key went to " + peer + " at " + when + " but it never acknowledged; it may have joined "
                                "without being recorded in this machine's members view",
                                "run 'puddle members' on the new machine: if it lists this puddle, it joined");
                if (result == "cancelled")
                    throw Error(Failure::pairing_failed, verb,
                                "the code was cancelled at " + when + " with 'puddle " + verb + " --cancel'",
                                "run 'puddle " + verb + "' again for a new code");
                if (result == "burned")
                    throw Error(Failure::pairing_failed, verb,
                                "the code was burned at " + when + " by a failed claim from " + printable(peer, 64),
                                "run 'puddle " + verb + "' again for a new code");
                throw Error(Failure::pairing_failed, verb, "the code " + result + " unclaimed",
                            "run 'puddle " + verb + "' again for a new code");
            }
        }
        if (std::time(nullptr) > pending.expires + 2) {
            // Nobody came, so no listener ran to notice the expiry: end it here.
            StateLock guard(dir);
            if (const auto now_pending = load_pending(dir, pending_file)) {
                if (now_pending->created == pending.created) {
                    dir.remove(pending_file);
                    try {
                        stop_user_unit(kPairSocket);
                    } catch (const Error &) {
                    }
                    throw Error(Failure::pairing_failed, verb, "the code expired unclaimed",
                                "run 'puddle " + verb + "' again for a new code");
                }
            }
        }
        if (std::time(nullptr) > pending.expires + 15)
            throw Error(Failure::pairing_failed, verb, "the listener did not report an outcome",
                        "see 'systemctl --user status puddle-pair.service'");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

// pair --cancel and rekey-pair --cancel: withdraw the pending code before it
// expires. Under the state lock, as the listener takes a claim under it: a
// claim either finished first (its result stands) or finds no code. The
// result file says "cancelled", so a 'pair --wait' elsewhere ends and says
// so, and the socket stops as the listener's own stop would: unless the
// other purpose still has a code waiting for it.
int cancel(std::string_view purpose, const char *pending_file) {
    std::optional<PairPending> pending;
    bool other_waiting = false;
    {
        auto st = open_state(false);
        pending = load_pending(st.dir, pending_file);
        if (!pending) {
            std::printf("no %s code is pending: nothing to cancel\n", purpose == kPurposePair ? "pairing" : "rekey");
            return 0;
        }
        st.dir.remove(pending_file);
        save_pair_result(st.dir, PairResult{std::string(purpose), pending->created, "cancelled", "", "",
                                            std::int64_t(std::time(nullptr))});
        other_waiting = st.dir.has(purpose == kPurposePair ? kRekeyPendingFile : kPairPendingFile);
    }
    if (!other_waiting) {
        try {
            stop_user_unit(kPairSocket);
        } catch (const Error &e) {
            print_warning("the code is withdrawn, but " + e.why() + "; the listener finds no code and refuses every claim" +
                          (e.hint().empty() ? std::string() : " (" + e.hint() + ")"));
        }
    }
    const bool expired = pending->expires <= std::int64_t(std::time(nullptr));
    std::printf("%s code %s %s\n", purpose == kPurposePair ? "pairing" : "rekey",
                expired ? "had expired already; removed" : "cancelled: it can no longer be claimed",
                other_waiting ? "(the listener keeps running for the other pending code)" : "");
    return 0;
}

} // namespace

int run_pair(const std::vector<std::string> &argv) {
    Args args("pair", argv);
    if (args.flag("cancel")) {
        if (args.flag("wait")) usage_error("pair", "--cancel withdraws the pending code and --wait waits on it: give one");
        return cancel(kPurposePair, kPairPendingFile);
    }
    return hand_out("pair", kPurposePair, kPairPendingFile, args.flag("wait"));
}

int run_rekey_pair(const std::vector<std::string> &argv) {
    Args args("rekey-pair", argv);
    if (args.flag("cancel")) {
        if (args.flag("wait"))
            usage_error("rekey-pair", "--cancel withdraws the pending code and --wait waits on it: give one");
        return cancel(kPurposeRekey, kRekeyPendingFile);
    }
    {
        auto st = open_state(false);
        if (!st.dir.has(kRotationLogFile))
            throw Error(Failure::failed, "rekey-pair", "this machine has no rotation to hand out",
                        "run 'puddle rekey' first");
    }
    return hand_out("rekey-pair", kPurposeRekey, kRekeyPendingFile, args.flag("wait"));
}

int run_join(const std::vector<std::string> &argv) {
    Args args("join", argv);
    check_fd_options(args, {"code-fd", "passphrase-fd"});
    check_code_options(args, "join");
    auto from = args.value("from");
    if (!from) usage_error("join", "--from HOST[:PORT] is required");
    harden({"puddle join", "the key"}); // before the passphrase is asked and the seed unwrapped
    auto config = load_config_reporting();
    pair::JoinRequest req;
    req.target = pair::parse_join_target(*from, config.pair.port);
    req.code = pairing_code(args, "join");
    req.user = user_name();
    req.own_host = pair::local_host_name();

    CreatedDirCleanup cleanup(StateDir::locate());
    // An incomplete identity (a file lost) is restored by joining its own
    // puddle again; its identity.pub, if that is what is left, says which.
    std::optional<PublicKey> current;
    bool member = false;
    {
        auto st = open_state(true);
        member = st.store.is_member();
        if (member || st.dir.has(kPubFile)) current = st.store.load_public_key();
    }
    // Asked before connecting: the holder waits for us only a minute.
    auto pass = current_passphrase(args, "Passphrase of the puddle you are joining");
    bool already = false;
    PublicKey joined;
    pair::run_join(req, config.tls, [&](const pair::PairPayload &p, const pair::HolderAd &holder) {
        joined = parse_pub_file(as_bytes(p.pub), "the holder's identity.pub");
        if (joined.str() != holder.pubkey)
            throw Error(Failure::pairing_failed, "join", "the payload's key is not the key the holder proved");
        if (current && !(*current == joined))
            throw Error(Failure::failed, "join",
                        "this machine already belongs to a different puddle (" + current->str() + ")",
                        "move " + StateDir::locate().path() + " away first if you really want to switch");
        // Verify the unwrap before writing anything.
        auto wrapped = parse_wrapped(p.wrapped, "the holder's identity.wrapped");
        check_received_kdf(wrapped.kdf, "the holder's identity.wrapped");
        auto keypair = unwrap_seed(wrapped, pass.bytes(), p.salt, joined,
                                   {"the wrapped key " + *from + " sent",
                                    "its identity.wrapped is damaged: pair from another member"});
        if (member) {
            already = true;
            return certify_this_envoy(open_state(false).store, keypair, std::int64_t(std::time(nullptr)));
        }
        const auto offer = read_join_offer(p.salt, p.wrapped, joined, p.members_json, p.retired_json, req.own_host,
                                           this_machine_key());
        auto st = open_state(true);
        accept_join(st.store, offer, req.own_host, std::int64_t(std::time(nullptr)));
        cleanup.keep();
        const auto cert = certify_this_envoy(st.store, keypair, std::int64_t(std::time(nullptr)));
        for (const auto &prob : store_learned_claims(p.claims_json))
            std::fprintf(stderr, "puddle: warning: ignored a claim from the holder: %s\n", prob.why.c_str());
        sync_fleet_quietly(st.store, std::int64_t(std::time(nullptr)));
        return cert;
    });
    if (already) std::printf("already a member of puddle %s; nothing changed\n", joined.str().c_str());
    else std::printf("joined puddle %s from %s\n", joined.str().c_str(), req.target.host.c_str());
    return 0;
}

int run_members(const std::vector<std::string> &argv) {
    Args args("members", argv);
    if (auto host = args.value("took")) {
        if (args.flag("json")) usage_error("members", "--took records; --json lists: give one");
        // A receipt (a file, or - for standard input) is evidence; a bare
        // host name is the user's word, for members of an older puddle.
        const bool receipt = *host == "-" || host->find('/') != std::string::npos || ::access(host->c_str(), F_OK) == 0;
        std::optional<Receipt> r;
        if (receipt)
            r = parse_receipt(read_input(*host, kMaxReceiptBytes), *host == "-" ? std::string("standard input") : cli::quoted(*host));
        auto st = open_state(false);
        const auto id = st.store.load();
        const std::string who = r ? record_receipt(st.dir, id, *r) : (record_took(st.dir, id, *host, std::int64_t(std::time(nullptr))), *host);
        std::printf("recorded: %s holds %s%s\n", who.c_str(), id.pub.str().c_str(), r ? " (its receipt verifies)" : "");
        sync_fleet_quietly(st.store, std::int64_t(std::time(nullptr)));
        return 0;
    }
    auto st = open_state(false);
    auto id = st.store.load();
    MembersView view = members_with_self(st.dir, id, pair::local_host_name());
    const std::string mine = wrapped_digest(id.wrapped.raw);
    // The generation each record's key is, in this envoy's rotation log.
    const KeyGenerations generations(load_rotation_log(st.dir).value_or(RotationLog{}), id.pub);
    auto generation = [&](const MemberRecord &m) { return generations.of(m.pubkey); };
    const auto current = generations.of(id.pub).value_or(0);
    if (args.flag("json")) {
        auto arr = Json::array();
        for (const auto &m : view.members) {
            const auto g = generation(m);
            arr.push(Json::object()
                         .set("host", m.host)
                         .set("since", m.since)
                         .set("direction", std::string(direction_name(m.direction)))
                         .set("wrapped_digest", m.wrapped_digest)
                         .set("pubkey", m.pubkey.str())
                         .set("generation", g ? Json(long(*g)) : Json())
                         .set("same_wrap", m.wrapped_digest == mine)
                         .set("envoy_key", has_certified_envoy(m) ? Json(m.envoy->key.str()) : Json())
                         .set("machine", m.machine ? Json(m.machine->str()) : Json()));
        }
        std::printf("%s\n", Json::object()
                                .set("pubkey", id.pub.str())
                                .set("generation", long(current))
                                .set("members", arr)
                                .dump()
                                .c_str());
        return 0;
    }
    std::printf("puddle %s (generation %llu)\n", id.pub.str().c_str(), (unsigned long long)current);
    for (const auto &m : view.members) {
        std::time_t t = std::time_t(m.since);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M", std::localtime(&t));
        const bool certified = has_certified_envoy(m);
        const auto g = generation(m);
        // The machine key (ed25519) is what `accept --from` and receipts name;
        // a v1 certificate has only the sealing key, shown so it stays findable.
        const std::string key = certified && m.envoy->signer ? m.envoy->signer->str().substr(0, 24) + "…"
                                : m.machine                  ? m.machine->str().substr(0, 24) + "…"
                                : certified ? "sealing " + m.envoy->key.str().substr(0, 23) + "…"
                                            : "unknown (not paired since the upgrade)";
        std::printf("  %-24s %-9s since %s  gen %s  machine %s%s%s\n", printable(m.host, 64).c_str(),
                    std::string(direction_name(m.direction)).c_str(), when,
                    g ? std::to_string(*g).c_str() : "?", key.c_str(),
                    m.pubkey == id.pub ? "" : "  (other key)",
                    m.wrapped_digest == mine ? "" : "  (holds a different wrap: passphrase changed?)");
    }
    if (view.members.size() == 1) std::printf("no other machines recorded here yet\n");
    return 0;
}

} // namespace puddle::cli

namespace puddle::cli {
namespace {

// rekey --from: take the rotated key from another member, only if the
// rotation log leads to it from the key this envoy holds.
int rekey_from(const Args &args, const std::string &from) {
    harden({"puddle rekey", "the key"}); // before the passphrase is asked and the seed unwrapped
    auto config = load_config_reporting();
    pair::JoinRequest req;
    req.target = pair::parse_join_target(from, config.pair.port);
    req.purpose = pair::Purpose::rekey;
    req.code = pairing_code(args, "rekey");
    req.user = user_name();
    req.own_host = pair::local_host_name();
    PublicKey current = open_state(false).store.load_public_key();
    auto pass = current_passphrase(args, "Passphrase of the rotated key");
    PublicKey rotated;
    bool already = false;
    pair::run_join(req, config.tls, [&](const pair::PairPayload &p, const pair::HolderAd &holder) {
        rotated = parse_pub_file(as_bytes(p.pub), "the holder's identity.pub");
        if (rotated.str() != holder.pubkey)
            throw Error(Failure::pairing_failed, "rekey", "the payload's key is not the key the holder proved");
        if (rotated == current) {
            already = true;
            return std::optional<EnvoyCert>();
        }
        const auto path = check_rotation_offer(p.retired_json, current, rotated);
        auto wrapped = parse_wrapped(p.wrapped, "the holder's identity.wrapped");
        check_received_kdf(wrapped.kdf, "the holder's identity.wrapped");
        const auto keypair = unwrap_seed(wrapped, pass.bytes(), p.salt, rotated,
                                         {"the rotated key " + from + " sent",
                                          "its wrap is damaged: take the key from another member that has it"});
        auto st = open_state(false);
        adopt_rotation(st.store, current, path, p.salt, p.wrapped, rotated);
        const auto cert = certify_this_envoy(st.store, keypair, std::int64_t(std::time(nullptr)));
        for (const auto &prob : store_learned_claims(p.claims_json))
            std::fprintf(stderr, "puddle: warning: ignored a claim from the holder: %s\n", prob.why.c_str());
        return cert;
    });
    if (already) std::printf("already holding %s; nothing changed\n", rotated.str().c_str());
    else std::printf("rotated to %s (from %s)\n", rotated.str().c_str(), current.str().c_str());
    return 0;
}

} // namespace

int run_rekey(const std::vector<std::string> &argv) {
    Args args("rekey", argv);
    check_fd_options(args, {"code-fd", "passphrase-fd", "new-passphrase-fd"});
    check_code_options(args, "rekey");
    if (args.flag("new-passphrase") && args.value("new-passphrase-fd"))
        usage_error("rekey", "--new-passphrase asks on the terminal and --new-passphrase-fd reads a descriptor: give one");
    if (auto from = args.value("from")) {
        if (args.flag("new-passphrase") || args.value("new-passphrase-fd"))
            usage_error("rekey", "--from takes the rotated key as it is wrapped; change the passphrase afterwards");
        return rekey_from(args, *from);
    }
    if (args.value("code") || args.value("code-fd")) usage_error("rekey", "a pairing code (--code-fd, --code) goes with --from");
    (void)load_config_reporting(); // the agent refuses a configuration error; say which here
    // The whole identity, read here with its checks: the agent's refusal
    // would carry no hint.
    auto pub = open_state(false).store.load().pub;
    AgentClient agent;
    check_agent_serves(agent, pub, "rekey");
    if (!agent.state().unlocked)
        throw Error(Failure::locked, "rekey", "the session is locked", "run 'puddle unlock' first");
    auto pass = current_passphrase(args, "Current passphrase");
    SecretBuffer new_pass;
    if (args.flag("new-passphrase") || args.value("new-passphrase-fd"))
        new_pass = new_passphrase(args, "new-passphrase-fd", "New passphrase");
    else {
        new_pass = SecretBuffer(pass.size());
        std::copy(pass.data(), pass.data() + pass.size(), new_pass.data());
    }
    const auto rotated = agent.rekey(pass, new_pass);
    std::printf("rotated %s -> %s\n", pub.str().c_str(), rotated.pub.c_str());
    // The agent sealed the new key to every member whose envoy key it knows,
    // and says to whom.
    const std::string own_host = pair::local_host_name();
    const std::string envelope = StateDir::locate().file(kEnvelopeFile);
    for (const auto &host : rotated.sealed_to)
        std::printf("  %s: 'puddle accept --from %s %s' there (any transport)\n", host.c_str(), own_host.c_str(),
                    envelope.c_str());
    for (const auto &host : rotated.unreachable)
        std::printf("  %s: no sealing key known here; 'puddle rekey --from %s' there\n", host.c_str(), own_host.c_str());
    std::printf("%shand the new key to the machines you keep: 'puddle rekey-pair' here, "
                "'puddle rekey --from %s' there\n", rotated.sealed_to.empty() ? "" : "or ", own_host.c_str());
    return 0;
}

} // namespace puddle::cli
