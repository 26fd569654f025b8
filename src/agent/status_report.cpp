#include "agent/status_report.hpp"

#include "core/envoy_cert.hpp"
#include "core/files/members.hpp"
#include "core/files/name_claim.hpp"
#include "core/files/rotation_log.hpp"
#include "core/health.hpp"
#include "core/identity_store.hpp"
#include "core/members_view.hpp"
#include "core/rotation.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <pwd.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>
#include <vector>

namespace puddle::agent {
namespace {

std::string user_name() {
    if (const passwd *pw = ::getpwuid(::getuid())) return pw->pw_name;
    return std::to_string(::getuid());
}

} // namespace

std::optional<StatusEntry> gather_status(const StateDir &dir, const Config &config, bool unlocked) {
    std::optional<PublicKey> pub;
    try {
        pub = IdentityStore(dir).load_public_key();
    } catch (const Error &) {
        return std::nullopt; // not initialized (or identity.pub unreadable: health says so at the next start)
    }
    StatusEntry e;
    e.user = user_name();
    e.key = pub->str();
    e.first_key = e.key;
    e.unlocked = unlocked;
    e.host = local_host_name();
    std::optional<OwnEnvoyCert> own;
    try {
        own = load_own_envoy_cert(dir);
    } catch (const Error &) {
        // health reports a damaged envoy.json
    }
    if (own && own->cert.signer) e.machine_key = own->cert.signer->str();
    if (own && own->pubkey == *pub && valid_host(own->host)) e.host = own->host;
    try {
        const RotationLog log = load_rotation_log(dir).value_or(RotationLog{});
        e.generation = KeyGenerations(log, *pub).of(*pub).value_or(0);
        if (const auto chain = chain_to(log, *pub); !chain.empty()) e.first_key = chain.front().old_key.str();
    } catch (const Error &) {
        // health reports the unreadable rotation log
    }
    try {
        if (const auto claim = load_name_claim(dir); claim && claim->pubkey == *pub) e.name = claim->name;
    } catch (const Error &) {
        // health reports the damaged claim
    }
    try {
        MembersView view = load_members(dir).value_or(MembersView{});
        // This machine is a member of its own view, recorded or not.
        if (own && own->cert.signer) {
            MemberRecord self;
            self.envoy = own->cert;
            view.members.push_back(self);
        }
        e.members_digest = members_view_digest(view);
    } catch (const Error &) {
        // health reports the unreadable members.json
    }
    const Health h = assess_health(dir, config);
    e.health = health_state_name(h.state);
    for (const auto &f : h.findings) e.reasons.push_back(std::string(health_state_name(f.severity)) + ": " + f.reason);
    return e;
}

void StatusReport::refresh(bool unlocked) {
    std::optional<StatusEntry> now;
    try {
        now = gather_status(dir_, config_, unlocked);
    } catch (const std::exception &err) {
        log_warning(std::string("cannot gather the status entry: ") + err.what());
        return;
    }
    if (!now || (last_ && same_status(*last_, *now))) return;
    const auto fields = status_entry_fields(*now);
    std::vector<iovec> iov;
    for (const auto &f : fields) iov.push_back(iovec{const_cast<char *>(f.data()), f.size()});
    if (int r = sd_journal_sendv(iov.data(), int(iov.size())); r < 0) {
        log_warning("cannot write the status entry to the journal: " + errno_text(-r));
        return; // tried again at the next change
    }
    last_ = std::move(now);
}

} // namespace puddle::agent
