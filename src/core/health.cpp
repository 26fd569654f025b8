#include "core/health.hpp"

#include "core/identity_store.hpp"
#include "core/names.hpp"
#include "core/state_files.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

#include <ctime>
#include <sys/stat.h>

namespace puddle {

const char *health_state_name(HealthState s) {
    switch (s) {
    case HealthState::healthy: return "healthy";
    case HealthState::warning: return "warning";
    case HealthState::degraded: return "degraded";
    }
    return "degraded";
}

void Health::add(HealthState severity, std::string reason) {
    if (int(severity) > int(state)) state = severity;
    findings.push_back({severity, std::move(reason)});
}

Health assess_health(const StateDir &dir, const Config &config) {
    Health h;
    IdentityStore store(dir);
    if (!store.is_member()) return h;

    // Secret files readable by others: the wrap is Argon2id-protected, but
    // it should be no one else's to try.
    for (const char *f : {kWrappedFile, kSaltFile, kMembersFile, kRotationLogFile, kPairPendingFile, kRekeyPendingFile}) {
        struct stat st;
        if (::stat(dir.file(f).c_str(), &st) != 0) continue;
        if (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
            h.add(HealthState::degraded, dir.file(f) + " has mode " + mode + "; fix: chmod 600 " + dir.file(f));
        }
    }

    PublicKey pub;
    std::string own_digest;
    try {
        auto id = store.load();
        pub = id.pub;
        own_digest = wrapped_digest(id.wrapped.raw);
    } catch (const Error &e) {
        h.add(HealthState::degraded, "the identity cannot be read: " + e.why());
        return h;
    }

    // The agent wrote session.unlocked for the key it unwrapped.
    if (dir.has("session.unlocked")) {
        try {
            auto bytes = dir.read("session.unlocked", 4096, true);
            std::string text(bytes.begin(), bytes.end());
            auto doc = parse_json(text, nullptr);
            const Json *k = doc ? doc->get("pubkey") : nullptr;
            if (k && k->as_string() && *k->as_string() != pub.str())
                h.add(HealthState::degraded, "the unlocked session holds " + *k->as_string() +
                                                 " but identity.pub names " + pub.str());
        } catch (const Error &) {
        }
    }

    if (dir.has(kUnlockFailedFile)) {
        std::string why = "(unreadable record)";
        std::string when;
        try {
            auto bytes = dir.read(kUnlockFailedFile, kMaxUnlockFailedBytes, true);
            auto doc = parse_json(std::string(bytes.begin(), bytes.end()), nullptr);
            if (const Json *r = doc ? doc->get("reason") : nullptr; r && r->as_string()) why = *r->as_string();
            if (const Json *t = doc ? doc->get("time") : nullptr; t && t->as_int()) {
                std::time_t tt = std::time_t(*t->as_int());
                char buf[32];
                if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&tt))) when = buf;
            }
        } catch (const Error &e) {
            why = e.why();
        }
        h.add(HealthState::degraded, "the agent could not unlock" + (when.empty() ? std::string() : " at " + when) +
                                         ": " + why + "; see 'journalctl --user -u puddle-agent' (the next "
                                         "successful unlock clears this)");
    }

    if (dir.has(kRotationLogFile)) {
        try {
            auto log = parse_rotation_log(dir.read(kRotationLogFile, kMaxRotationLogBytes, true), dir.file(kRotationLogFile));
            if (auto fork = find_fork(log))
                h.add(HealthState::degraded, "the rotation log forks: two different rotations from " +
                                                 fork->first.old_key.str() + "; accept neither until you know which is yours");
            for (const auto &r : log)
                if (!verify_rotation(r))
                    h.add(HealthState::degraded, "a rotation record from " + r.old_key.str() + " has a bad signature");
        } catch (const Error &e) {
            h.add(HealthState::degraded, "retired_puddles.json cannot be read: " + e.why());
        }
    }

    const std::int64_t now = std::int64_t(std::time(nullptr));
    for (const char *f : {kPairPendingFile, kRekeyPendingFile}) {
        if (!dir.has(f)) continue;
        try {
            auto p = parse_pair_pending(dir.read(f, kMaxPendingBytes, true), dir.file(f));
            if (p.expires <= now)
                h.add(HealthState::warning, std::string("an expired ") + f + " was left behind; remove " + dir.file(f));
        } catch (const Error &e) {
            h.add(HealthState::warning, dir.file(f) + " cannot be read: " + e.why());
        }
    }

    if (dir.has(kMembersFile)) {
        try {
            auto view = parse_members(dir.read(kMembersFile, kMaxMembersBytes, true), dir.file(kMembersFile));
            for (const auto &m : view.members)
                if (m.pubkey == pub && m.wrapped_digest != own_digest && m.direction != MemberDirection::self)
                    h.add(HealthState::warning,
                          "envoy " + m.host + " holds a different wrap of this key (passphrase changed on one side?); "
                          "copies have drifted");
        } catch (const Error &e) {
            h.add(HealthState::warning, "members.json cannot be read: " + e.why());
        }
    }

    auto claims = load_claims(dir, config);
    for (const auto &p : claims.problems) h.add(HealthState::warning, "ignored claim " + p.source + ": " + p.why);
    for (const auto &c : claims.claims) {
        if (!(c.pubkey == pub)) continue;
        auto keys = claims.claimants(c.name);
        if (keys.size() > 1)
            h.add(HealthState::warning, "the name \"" + c.name + "\" is contested: " + std::to_string(keys.size()) +
                                            " keys claim it");
    }
    return h;
}

} // namespace puddle
