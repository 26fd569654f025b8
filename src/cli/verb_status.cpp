// status: what this envoy knows about its puddle, for people and (--json) scripts.
#include "cli/agent_client.hpp"
#include "cli/args.hpp"
#include "cli/io.hpp"
#include "cli/verbs.hpp"
#include "core/health.hpp"
#include "core/identity_store.hpp"
#include "core/names.hpp"
#include "core/state_files.hpp"
#include "util/json.hpp"

#include <cstdio>
#include <ctime>

namespace puddle::cli {
namespace {

// Facts gathered once, printed by either renderer.
struct StatusFacts {
    std::string state_dir;
    bool initialized = false;
    std::string pubkey;
    std::uint64_t idle_timeout_s = 0;
    std::optional<AgentState> agent; // nullopt: agent not reachable
    std::string agent_problem;
    Json pair_pending, rekey_pending, name, members;
    Health health;
    std::vector<std::string> hints;
};

StatusFacts gather() {
    StatusFacts f;
    auto config = load_config_reporting();
    f.idle_timeout_s = std::uint64_t(config.agent.idle_timeout_minutes) * 60;
    StateDir dir = StateDir::locate();
    f.state_dir = dir.path();
    if (!dir.exists()) {
        f.hints.push_back("run 'puddle init' to create a puddle, or 'puddle join' to join one");
        return f;
    }
    auto st = open_state(false);
    if (!st.store.is_member()) {
        f.hints.push_back("run 'puddle init' to create a puddle, or 'puddle join' to join one");
        return f;
    }
    auto id = st.store.load();
    f.initialized = true;
    f.agent = try_agent_state(&f.agent_problem);
    if (f.agent) f.idle_timeout_s = f.agent->idle_timeout_usec / 1000000;
    auto pending = [&](const char *file) -> Json {
        if (!st.dir.has(file)) return Json();
        try {
            auto p = parse_pair_pending(st.dir.read(file, kMaxPendingBytes, true), st.dir.file(file));
            return Json::object().set("expires", p.expires).set("expired", p.expires <= std::int64_t(std::time(nullptr)));
        } catch (const Error &) {
            return Json(); // health reports the unreadable file
        }
    };
    f.pair_pending = pending(kPairPendingFile);
    f.rekey_pending = pending(kRekeyPendingFile);
    auto claims = load_claims(st.dir, config);
    for (const auto &c : claims.claims)
        if (c.pubkey == id.pub)
            f.name = Json::object().set("name", c.name).set("unique", claims.claimants(c.name).size() == 1);
    if (st.dir.has(kMembersFile)) {
        try {
            f.members = Json(long(parse_members(st.dir.read(kMembersFile, kMaxMembersBytes, true), st.dir.file(kMembersFile))
                                      .members.size()));
        } catch (const Error &) {
        }
    } else {
        f.members = Json(0);
    }
    f.health = assess_health(st.dir, config);
    if (!f.agent) f.health.add(HealthState::warning, "the agent is not reachable: " + f.agent_problem);
    f.pubkey = id.pub.str();
    f.hints.push_back("a forgotten passphrase cannot be recovered: unlock on another member envoy that "
                      "still knows it, or start over with a new 'puddle init' (the old key is then orphaned)");
    return f;
}

Json health_json(const Health &h) {
    auto reasons = Json::array();
    for (const auto &x : h.findings) reasons.push(std::string(health_state_name(x.severity)) + ": " + x.reason);
    return Json::object().set("state", health_state_name(h.state)).set("reasons", reasons);
}

void print_json(const StatusFacts &f) {
    auto hints = Json::array();
    for (const auto &h : f.hints) hints.push(h);
    // Fields that later subsystems fill (agent, pairing, names, members,
    // health) are present now as null so that the shape is stable.
    auto j = Json::object()
                 .set("initialized", f.initialized)
                 .set("state_dir", f.state_dir)
                 .set("pubkey", f.initialized ? Json(f.pubkey) : Json())
                 .set("unlocked", f.agent ? Json(f.agent->unlocked) : Json())
                 .set("lock_deadline", f.agent && f.agent->unlocked ? Json(f.agent->lock_deadline_usec / 1000000) : Json())
                 .set("idle_timeout_s", f.idle_timeout_s)
                 .set("watch_pid", f.agent && f.agent->watch_pid ? Json(f.agent->watch_pid) : Json())
                 .set("agent_reachable", f.initialized ? Json(f.agent.has_value()) : Json())
                 .set("pair_pending", f.pair_pending)
                 .set("rekey_pending", f.rekey_pending)
                 .set("name", f.name)
                 .set("members", f.members)
                 .set("health", f.initialized ? health_json(f.health) : Json())
                 .set("hints", hints);
    std::printf("%s\n", j.dump().c_str());
}

void print_human(const StatusFacts &f) {
    const bool c = use_colour();
    auto bold = [&](const char *s) { return c ? std::string("\033[1m") + s + "\033[0m" : std::string(s); };
    std::printf("%s %s\n", bold("state directory:").c_str(), f.state_dir.c_str());
    if (!f.initialized) {
        std::printf("%s no (this machine is not a member envoy)\n", bold("initialized:").c_str());
    } else {
        std::printf("%s yes\n%s %s\n", bold("initialized:").c_str(), bold("public key:").c_str(), f.pubkey.c_str());
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
    } else if (f.initialized) {
        std::printf("%s not reachable (%s)\n", bold("agent:").c_str(), f.agent_problem.c_str());
    }
    std::printf("%s %llu minutes\n", bold("idle timeout:").c_str(),
                static_cast<unsigned long long>(f.idle_timeout_s / 60));
    if (f.initialized) {
        if (const Json *n = f.name.get("name"))
            std::printf("%s %s%s\n", bold("name:").c_str(), n->as_string()->c_str(),
                        *f.name.get("unique")->as_bool() ? "" : " (contested)");
        if (f.members.as_int()) std::printf("%s %lld recorded\n", bold("members:").c_str(), (long long)*f.members.as_int());
        if (f.pair_pending.get("expires")) std::printf("%s a pairing code is pending\n", bold("pair:").c_str());
        if (f.rekey_pending.get("expires")) std::printf("%s a rekey code is pending\n", bold("rekey:").c_str());
        const char *colour = !c ? "" : f.health.state == HealthState::healthy ? "\033[32m"
                                     : f.health.state == HealthState::warning ? "\033[33m" : "\033[31m";
        std::printf("%s %s%s%s\n", bold("health:").c_str(), colour, health_state_name(f.health.state), c ? "\033[0m" : "");
        for (const auto &x : f.health.findings)
            std::printf("  %s: %s\n", health_state_name(x.severity), x.reason.c_str());
    }
    for (const auto &h : f.hints) std::printf("hint: %s\n", h.c_str());
}

} // namespace

int run_status(const std::vector<std::string> &argv) {
    Args args("status", argv, {{"json", false}}, 0);
    auto facts = gather();
    if (args.flag("json")) print_json(facts);
    else print_human(facts);
    return 0;
}

} // namespace puddle::cli
