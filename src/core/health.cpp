#include "core/health.hpp"

#include "core/fleet_view.hpp"

#include "core/identity_store.hpp"
#include "core/names.hpp"
#include "core/files/members.hpp"
#include "core/membership.hpp"
#include "core/files/name_claim.hpp"
#include "core/files/pending.hpp"
#include "core/files/rotation_log.hpp"
#include "core/files/session_file.hpp"
#include "core/files/requesters.hpp"
#include "core/files/unlock_failed.hpp"
#include "core/rotation.hpp"
#include "util/error.hpp"

#include <ctime>
#include <cstdio>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

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

namespace {

std::string octal(mode_t m) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(m & 07777));
    return mode;
}

std::string finding(const Error &e) {
    return e.what_failed() + ": " + e.why() + (e.hint().empty() ? std::string() : "; fix: " + e.hint());
}

// session.unlocked names the agent that wrote it; a file whose agent is gone
// (or whose deadline passed long ago) describes no session.
void check_session_file(Health &h, const StateDir &dir, const PublicKey &pub) {
    try {
        const auto file = load_session_file(dir);
        if (!file) return;
        if (file->pubkey && *file->pubkey != pub.str())
            h.add(HealthState::degraded, "the unlocked session holds " + *file->pubkey +
                                             " but identity.pub names " + pub.str());
        std::string stale;
        if (file->agent_pid && *file->agent_pid > 0) {
            const auto p = *file->agent_pid;
            std::string comm;
            if (FILE *f = std::fopen(("/proc/" + std::to_string(p) + "/comm").c_str(), "r")) {
                char buf[32] = {};
                if (std::fgets(buf, sizeof buf, f)) comm = buf;
                std::fclose(f);
            }
            if (!comm.starts_with("puddle-agent"))
                stale = "its agent (PID " + std::to_string(p) + ") is not running";
        }
        // The agent rewrites the file within a second of each use and
        // removes it when the session ends; a minute of slack.
        const std::int64_t now = std::int64_t(std::time(nullptr));
        if (stale.empty() && file->lock_deadline && *file->lock_deadline + 60 < now)
            stale = "its lock deadline passed";
        if (!stale.empty())
            h.add(HealthState::warning, dir.file(kSessionFileName) + " is stale (" + stale +
                                            "): no session is unlocked; fix: rm " + dir.file(kSessionFileName) +
                                            " (the agent also removes it when it starts)");
    } catch (const Error &e) {
        h.add(HealthState::warning, finding(e));
    }
}

} // namespace

void add_record_not_written(Health &h, std::uint64_t entries) {
    if (entries == 0) return;
    h.add(HealthState::warning, std::to_string(entries) +
                                    " entries of the usage record could not be written to the journal since the "
                                    "agent started (journald refused them or fell too far behind); fix: check "
                                    "'journalctl -u systemd-journald' and the journal's disk space");
}

Health assess_health(const StateDir &dir, const Config &config) {
    Health h;
    IdentityStore store(dir);
    if (store.is_partial()) {
        h.add(HealthState::degraded, finding(store.partial_error()));
        return h;
    }
    if (!store.is_member()) return h;

    for (const char *f : {kWrappedFile, kSaltFile, kPubFile, kMembersFile, kRotationLogFile, kPairPendingFile,
                          kRekeyPendingFile}) {
        struct stat st;
        const std::string path = dir.file(f);
        if (::lstat(path.c_str(), &st) != 0) continue;
        if (S_ISLNK(st.st_mode)) {
            h.add(HealthState::degraded, path + " is a symbolic link, which puddle does not follow; fix: replace "
                                                "the link with the file itself");
            continue;
        }
        if (st.st_uid != ::geteuid()) {
            auto name = [](uid_t u) {
                auto *pw = ::getpwuid(u);
                return pw ? std::string(pw->pw_name) : std::to_string(u);
            };
            h.add(HealthState::degraded, path + " is owned by " + name(st.st_uid) +
                                             ", not by you; fix: find out who wrote it; to keep it, as root: chown " +
                                             name(::geteuid()) + " " + path);
            continue;
        }
        // Secret files readable by others: the wrap is Argon2id-protected,
        // but it should be no one else's to try. identity.pub is public but
        // must not be replaceable by others (it names the key).
        const bool is_public = std::string_view(f) == kPubFile;
        const mode_t bad = is_public ? (S_IWGRP | S_IWOTH) : (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH);
        if (st.st_mode & bad)
            h.add(HealthState::degraded, path + " has mode " + octal(st.st_mode) + "; fix: chmod " +
                                             (is_public ? "644 " : "600 ") + path);
    }

    PublicKey pub;
    std::string own_digest;
    StoredIdentity id;
    try {
        id = store.load();
        pub = id.pub;
        own_digest = wrapped_digest(id.wrapped.raw);
    } catch (const Error &e) {
        h.add(HealthState::degraded, "the identity cannot be used: " + finding(e));
        return h;
    }

    check_session_file(h, dir, pub);

    if (dir.has(kUnlockFailedFile)) {
        std::string why = "(unreadable record)";
        std::string when;
        try {
            const auto record = load_unlock_failure(dir).value_or(UnlockFailureView{});
            if (record.reason) why = *record.reason;
            if (record.time) {
                std::time_t tt = std::time_t(*record.time);
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
            const auto log = load_rotation_log(dir).value_or(RotationLog{});
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
        try {
            const auto p = load_pending(dir, f);
            if (p && p->expires <= now)
                h.add(HealthState::warning, std::string("an expired ") + f + " was left behind; remove " + dir.file(f));
        } catch (const Error &e) {
            h.add(HealthState::warning, dir.file(f) + " cannot be read: " + e.why());
        }
    }

    if (dir.has(kMembersFile)) {
        try {
            const auto view = load_members(dir).value_or(MembersView{});
            for (const auto &m : view.members)
                if (m.pubkey == pub && m.wrapped_digest != own_digest && m.direction != MemberDirection::self)
                    h.add(HealthState::warning,
                          "machine " + m.host + " holds a different wrap of this key (passphrase changed on one side?); "
                          "copies have drifted");
        } catch (const Error &e) {
            h.add(HealthState::warning, "members.json cannot be read: " + e.why());
        }
    }

    if (config.health.member_behind_days > 0) {
        try {
            const auto d = load_delivery(dir, id);
            const std::int64_t days = d ? (now - d->made_at) / 86400 : 0;
            if (d && d->made_at <= now && days >= std::int64_t(config.health.member_behind_days))
                for (const auto &host : d->waiting)
                    h.add(HealthState::warning,
                          "machine " + host + " has not been seen taking generation " + std::to_string(d->generation) +
                              " of the identity, sealed to it here " + std::to_string(days) +
                              " days ago; fix: 'puddle accept " + dir.file(kEnvelopeFile) +
                              "' there (any transport), then 'puddle members --took " + host + "' here");
        } catch (const Error &e) {
            h.add(HealthState::warning, "envelope.json cannot be read: " + e.why());
        }
    }

    if (config.record.new_requester_warning_hours > 0 && dir.has(kRequestersFile)) {
        try {
            const auto view = load_requesters(dir).value_or(RequestersView{});
            const std::int64_t window = std::int64_t(config.record.new_requester_warning_hours) * 3600;
            for (const auto &r : view.requesters) {
                if (r.first_seen + window <= now || r.first_seen > now + 60) continue;
                std::time_t tt = std::time_t(r.first_seen);
                char when[32] = "?";
                std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&tt));
                h.add(HealthState::warning, "a program not seen before used the key at " + std::string(when) + ": " +
                                                r.program + (r.unit.empty() ? "" : " (" + r.unit + ")") +
                                                "; 'puddle log' shows what it asked for (this warning ends " +
                                                std::to_string(config.record.new_requester_warning_hours) +
                                                " h after its first use: [record] new_requester_warning_hours)");
            }
        } catch (const Error &e) {
            h.add(HealthState::warning, "requesters.json cannot be read: " + e.why());
        }
    }

    auto claims = load_claims(dir, config);
    for (const auto &p : claims.problems) h.add(HealthState::warning, "ignored claim " + p.source + ": " + p.why);
    if (auto why = own_claim_problem(dir, pub); !why.empty() && why.find("another key") != std::string::npos)
        h.add(HealthState::warning, "this machine's " + dir.file(kNameClaimFile) + " cannot be used: " + why +
                                        "; fix: 'puddle name set NAME' again, or 'puddle name clear'");
    for (const auto &c : claims.claims) {
        if (!(c.pubkey == pub)) continue;
        auto keys = claims.claimants(c.name);
        if (keys.size() > 1)
            h.add(HealthState::warning, "the name \"" + c.name + "\" is contested: " + std::to_string(keys.size()) +
                                            " keys claim it");
    }
    add_fleet_findings(dir, config, h);
    return h;
}

} // namespace puddle
