// status: what this envoy knows about its puddle, for people and (--json) scripts.
#include "cli/agent_client.hpp"
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/verbs.hpp"
#include "core/fleet_view.hpp"
#include "core/health.hpp"
#include "core/envoy.hpp"
#include "core/identity_store.hpp"
#include "core/names.hpp"
#include "core/files/pending.hpp"
#include "core/membership.hpp"
#include "core/rotation.hpp"
#include "pair/holder.hpp"
#include "util/json.hpp"
#include "util/text.hpp"

#include <cstdio>
#include <ctime>

namespace puddle::cli {
namespace {

// Facts gathered once, printed by either renderer.
struct StatusFacts {
    std::string state_dir;
    bool initialized = false;
    bool partial = false; // one or two of the three identity files
    std::string pubkey;
    std::uint64_t idle_timeout_s = 0;
    std::optional<AgentState> agent; // nullopt: agent not reachable
    std::string agent_problem, agent_hint;
    Json pair_pending, rekey_pending, name, members;
    Json generation; // of the key held, in this envoy's rotation log
    Json delivery;   // {generation, made_at, taken, waiting} of the envelope made here, or null
    Json protection; // {kind, envoy_key, secret_file} or null when the identity cannot be read
    Health health;
    std::vector<std::string> hints;
    std::vector<std::string> notices; // machines learned from reports (core/fleet.hpp)
};

std::string finding(const Error &e) {
    return e.what_failed() + ": " + e.why() + (e.hint().empty() ? std::string() : "; fix: " + e.hint());
}

// Status reports whatever state it finds (SPEC §5: it always reports): every
// problem below becomes a health finding, never an exit.
StatusFacts gather() {
    StatusFacts f;
    std::optional<Error> config_problem;
    auto config = load_config_reporting(ConfigErrors::skip_file, &config_problem);
    f.idle_timeout_s = std::uint64_t(config.agent.idle_timeout_minutes) * 60;
    StateDir dir = StateDir::locate();
    f.state_dir = dir.path();
    const std::string start_hint = "run 'puddle init' to create a puddle, or 'puddle join' to join one";
    if (!dir.exists()) {
        f.hints.push_back(start_hint);
        return f;
    }
    Health found;
    if (config_problem)
        found.add(HealthState::degraded, "configuration: " + config_problem->why() +
                                             "; the agent and the commands that act with it refuse to run until it "
                                             "is fixed; fix: " + config_problem->hint());
    // An unsafe directory is reported, not repaired or locked: status only
    // reads.
    bool safe = true;
    try {
        dir.check_safe();
        (void)open_state(dir); // finishes an interrupted change, as every command does
    } catch (const Error &e) {
        safe = false;
        found.add(HealthState::degraded, finding(e));
    }
    IdentityStore store(dir);
    if (!store.is_member()) {
        f.partial = store.is_partial();
        if (f.partial) f.hints.push_back(store.partial_error().hint());
        else f.hints.push_back(start_hint);
        f.health = found;
        for (const auto &x : assess_health(dir, config).findings) f.health.add(x.severity, x.reason);
        return f;
    }
    f.initialized = true;
    std::optional<PublicKey> pub;
    try {
        pub = store.load_public_key();
        f.pubkey = pub->str();
    } catch (const Error &) {
        // assess_health names the file and the fix
    }
    std::optional<StoredIdentity> id;
    try {
        id = store.load();
        auto p = Json::object().set("kind", protection_name(id->protection));
        if (id->envoy) p.set("envoy_key", id->envoy->str());
        p.set("secret_file", !id->envoy ? Json()
                                        : Json(EnvoySecret::location().file(
                                              id->protection == Protection::tpm2 ? kEnvoyTpmFile : kEnvoySecretFile)));
        f.protection = p;
    } catch (const Error &) {
    }
    f.agent = try_agent_state(&f.agent_problem, &f.agent_hint);
    if (f.agent) f.idle_timeout_s = f.agent->idle_timeout_usec / 1000000;
    auto pending = [&](const char *file) -> Json {
        try {
            const auto p = load_pending(dir, file);
            if (!p) return Json();
            return Json::object().set("expires", p->expires).set("expired", p->expires <= std::int64_t(std::time(nullptr)));
        } catch (const Error &) {
            return Json(); // health reports the unreadable file
        }
    };
    f.pair_pending = pending(kPairPendingFile);
    f.rekey_pending = pending(kRekeyPendingFile);
    if (pub) {
        auto claims = load_claims(dir, config);
        for (const auto &c : claims.claims)
            if (c.pubkey == *pub)
                f.name = Json::object().set("name", c.name).set("unique", claims.claimants(c.name).size() == 1);
    }
    if (id) {
        try {
            f.members = Json(long(members_with_self(dir, *id, pair::local_host_name()).members.size()));
        } catch (const Error &) {
            // health reports the unreadable members.json
        }
        try {
            const KeyGenerations generations(load_rotation_log(dir).value_or(RotationLog{}), id->pub);
            f.generation = Json(long(generations.of(id->pub).value_or(0)));
        } catch (const Error &) {
            // health reports the unreadable rotation log
        }
        try {
            if (const auto d = load_delivery(dir, *id)) {
                auto list = [](const std::vector<std::string> &hosts) {
                    auto a = Json::array();
                    for (const auto &h : hosts) a.push(Json(h));
                    return a;
                };
                f.delivery = Json::object()
                                 .set("generation", long(d->generation))
                                 .set("made_at", d->made_at)
                                 .set("taken", list(d->taken))
                                 .set("waiting", list(d->waiting));
            }
        } catch (const Error &) {
            // health reports the unreadable envelope.json
        }
    }
    f.notices = fleet_notices(dir, std::int64_t(std::time(nullptr)));
    f.health = found;
    for (const auto &x : assess_health(dir, config).findings) f.health.add(x.severity, x.reason);
    if (!f.agent) {
        f.health.add(HealthState::warning, "the agent is not reachable: " + f.agent_problem +
                                               (f.agent_hint.empty() ? "" : "; fix: " + f.agent_hint));
    } else {
        // What only the agent knows: entries of the record that never reached the journal.
        add_record_not_written(f.health, f.agent->record_not_written);
        if (pub && safe) {
            if (auto why = agent_mismatch(*f.agent, *pub); !why.empty())
                f.health.add(HealthState::degraded, why + "; fix: " + agent_mismatch_hint());
        }
    }
    // The passphrase matters only to unlock: no need to say this to someone
    // whose session is open.
    if (!f.agent || !f.agent->unlocked)
        f.hints.push_back("a forgotten passphrase cannot be recovered: unlock on another of your machines that "
                          "still knows it, or start over with a new 'puddle init' (the old key is then orphaned)");
    return f;
}

Json health_json(const Health &h) {
    auto reasons = Json::array();
    for (const auto &x : h.findings) reasons.push(std::string(health_state_name(x.severity)) + ": " + x.reason);
    return Json::object().set("state", health_state_name(h.state)).set("reasons", reasons);
}

Json uses_json(const StatusFacts &f) {
    if (!f.agent) return Json();
    return Json::object().set("signed", f.agent->signed_uses).set("refused", f.agent->refused_uses);
}

Json last_use_json(const StatusFacts &f) {
    if (!f.agent || !f.agent->last_use.time_usec) return Json();
    const auto &u = f.agent->last_use;
    return Json::object()
        .set("time", u.time_usec / 1000000)
        .set("program", u.program)
        .set("unit", u.unit)
        .set("purpose", u.purpose)
        .set("outcome", u.outcome);
}

void print_json(const StatusFacts &f) {
    auto hints = Json::array();
    for (const auto &h : f.hints) hints.push(h);
    auto notices = Json::array();
    for (const auto &n : f.notices) notices.push(n);
    // Fields that later subsystems fill (agent, pairing, names, members,
    // health) are present now as null so that the shape is stable.
    auto j = Json::object()
                 .set("initialized", f.initialized)
                 .set("state_dir", f.state_dir)
                 .set("pubkey", f.initialized && !f.pubkey.empty() ? Json(f.pubkey) : Json())
                 .set("unlocked", f.agent ? Json(f.agent->unlocked) : Json())
                 .set("lock_deadline", f.agent && f.agent->unlocked ? Json(f.agent->lock_deadline_usec / 1000000) : Json())
                 .set("idle_timeout_s", f.idle_timeout_s)
                 .set("watch_pid", f.agent && f.agent->watch_pid ? Json(f.agent->watch_pid) : Json())
                 .set("agent_reachable", f.initialized ? Json(f.agent.has_value()) : Json())
                 .set("uses", uses_json(f))
                 .set("last_use", last_use_json(f))
                 .set("pair_pending", f.pair_pending)
                 .set("rekey_pending", f.rekey_pending)
                 .set("name", f.name)
                 .set("members", f.members)
                 .set("generation", f.generation)
                 .set("delivery", f.delivery)
                 .set("protection", f.protection)
                 .set("health", f.initialized || !f.health.findings.empty() ? health_json(f.health) : Json())
                 .set("hints", hints)
                 .set("notices", notices);
    std::printf("%s\n", j.dump().c_str());
}

void print_human(const StatusFacts &f) {
    const bool c = use_colour();
    auto bold = [&](const char *s) { return c ? std::string("\033[1m") + s + "\033[0m" : std::string(s); };
    std::printf("%s %s\n", bold("state directory:").c_str(), printable(f.state_dir).c_str());
    if (!f.initialized) {
        std::printf("%s no (%s)\n", bold("initialized:").c_str(),
                    f.partial ? "an incomplete identity is here: see health" : "this machine is not a member machine");
    } else {
        std::printf("%s yes\n%s %s\n", bold("initialized:").c_str(), bold("public key:").c_str(),
                    f.pubkey.empty() ? "(cannot be read: see health)" : f.pubkey.c_str());
    }
    if (f.initialized && f.agent) {
        if (f.agent->unlocked) {
            std::time_t t = std::time_t(f.agent->lock_deadline_usec / 1000000);
            char when[64];
            std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&t));
            std::printf("%s yes, until %s\n", bold("unlocked:").c_str(), when);
            if (f.agent->watch_pid) std::printf("%s %u\n", bold("watching PID:").c_str(), f.agent->watch_pid);
        } else {
            std::printf("%s no\n", bold("unlocked:").c_str());
        }
        // The agent counts every request it did not sign (refused, or failed:
        // locked, a reserved prefix) together; the last use names which.
        std::printf("%s %llu signed, %llu refused or failed since the last unlock\n", bold("uses:").c_str(),
                    (unsigned long long)f.agent->signed_uses, (unsigned long long)f.agent->refused_uses);
        if (const auto &u = f.agent->last_use; u.time_usec) {
            std::time_t t = std::time_t(u.time_usec / 1000000);
            char when[64];
            std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
            std::printf("%s %s %s%s %s: %s (puddle log shows more)\n", bold("last use:").c_str(), when,
                        printable(u.program).c_str(), u.unit.empty() ? "" : (" (" + printable(u.unit) + ")").c_str(),
                        printable(u.purpose).c_str(), printable(u.outcome).c_str());
        }
    } else if (f.initialized) {
        std::printf("%s not reachable (%s)\n", bold("agent:").c_str(), printable(f.agent_problem).c_str());
    }
    if (f.initialized) // nothing to unlock, so no timeout to speak of
        std::printf("%s %llu minutes\n", bold("idle timeout:").c_str(),
                    static_cast<unsigned long long>(f.idle_timeout_s / 60));
    if (f.initialized) {
        if (const Json *n = f.name.get("name"))
            std::printf("%s %s%s\n", bold("name:").c_str(), n->as_string()->c_str(),
                        *f.name.get("unique")->as_bool() ? "" : " (contested)");
        if (const Json *kind = f.protection.get("kind"); kind && kind->as_string()) {
            if (*kind->as_string() == protection_name(Protection::tpm2))
                std::printf("%s passphrase + this machine's secret, sealed in its TPM (%s)\n",
                            bold("protection:").c_str(), printable(*f.protection.get("secret_file")->as_string()).c_str());
            else if (*kind->as_string() == protection_name(Protection::file))
                std::printf("%s passphrase + this machine's secret (%s; a file, so whoever can read\n"
                            "  your home here can take it: keep the passphrase strong)\n",
                            bold("protection:").c_str(), printable(*f.protection.get("secret_file")->as_string()).c_str());
            else
                std::printf("%s passphrase only (an older puddle's wrap; the next command that changes state\n"
                            "  seals it to this machine)\n", bold("protection:").c_str());
        }
        if (f.members.as_int()) std::printf("%s %lld recorded\n", bold("members:").c_str(), (long long)*f.members.as_int());
        if (f.generation.as_int() && *f.generation.as_int() > 0)
            std::printf("%s %lld (rotations since the first key)\n", bold("generation:").c_str(),
                        (long long)*f.generation.as_int());
        const Json *waiting = f.delivery.get("waiting");
        if (waiting && waiting->as_array() && !waiting->as_array()->empty()) {
            std::string hosts;
            for (const auto &h : *waiting->as_array())
                hosts += (hosts.empty() ? "" : ", ") + printable(*h.as_string(), 64);
            std::printf("%s sealed here to members not yet seen taking it: %s\n", bold("envelope:").c_str(),
                        hosts.c_str());
        }
        if (f.pair_pending.get("expires")) std::printf("%s a pairing code is pending\n", bold("pair:").c_str());
        if (f.rekey_pending.get("expires")) std::printf("%s a rekey code is pending\n", bold("rekey:").c_str());
    }
    if (f.initialized || !f.health.findings.empty()) {
        const char *colour = !c ? "" : f.health.state == HealthState::healthy ? "\033[32m"
                                     : f.health.state == HealthState::warning ? "\033[33m" : "\033[31m";
        std::printf("%s %s%s%s\n", bold("health:").c_str(), colour, health_state_name(f.health.state), c ? "\033[0m" : "");
        for (const auto &x : f.health.findings)
            std::printf("  %s: %s\n", health_state_name(x.severity), printable(x.reason).c_str());
    }
    for (const auto &n : f.notices) std::printf("notice: %s\n", printable(n).c_str());
    for (const auto &h : f.hints) std::printf("hint: %s\n", printable(h).c_str());
}

} // namespace

int run_status(const std::vector<std::string> &argv) {
    Args args("status", argv);
    auto facts = gather();
    if (args.flag("json")) print_json(facts);
    else print_human(facts);
    return 0;
}

} // namespace puddle::cli
