// What every door does once a request is framed and authorized: act on the
// session. The doors share this and the Authorizer, so a request gets the
// same checks and the same behaviour whichever way it arrives.
#pragma once

#include "agent/api.hpp"
#include "agent/authorizer.hpp"
#include "agent/consent.hpp"
#include "agent/health_cache.hpp"
#include "agent/session.hpp"
#include "agent/usage_record.hpp"
#include "core/health.hpp"

#include <memory>
#include <string>
#include <vector>

namespace puddle::agent {

inline constexpr std::string_view kReservedPrefix = "puddle-statement-";

struct StatusSnapshot {
    bool unlocked;
    std::string pubkey; // empty when not initialized
    std::uint64_t lock_deadline_usec;
    std::uint64_t idle_timeout_usec;
    pid_t watch_pid;
    UseCounts uses;                // since the last unlock
    std::optional<LastUse> last_use; // since the agent started
};

class Service {
public:
    Service(sd_event *loop, Session &session, const Config &config)
        : session_(session), config_(config), record_(loop, session.state_dir()), consent_(loop, config.consent),
          health_(loop, session.state_dir(), config_) {}
    const Config &config() const noexcept { return config_; }

    // Each throws Error (told() for what the requester reads).
    // Signs `data` for `use` (make_use of the same data) and records the
    // outcome, signed or not, in the journal (puddle-agent(1) RECORD).
    Signature sign(std::span<const std::uint8_t> data, const Use &use);
    // Records a signing request refused before it reached sign() (polkit,
    // consent, a destination rule).
    void record_refusal(const Use &use, const Error &refusal);
    // The one approval step of a signature after polkit allowed it, for
    // every door: unlock_on_request, then consent, in that order. The
    // verdict now when neither asks, else nullopt and `done` runs later on
    // the loop, once, with the user's answer.
    std::optional<Verdict> approve(const Use &use, std::function<void(Verdict)> done);
    // True when approve() may ask anything: a door that has nothing to ask
    // need not build a request's use before it acts.
    bool approval_asks() const noexcept { return consent_.asks() || config_.agent.unlock_on_request; }
    // The session ended: answers given in it are forgotten.
    void on_locked() { consent_.forget(); }
    // Finishes later, on the loop: see Session::unlock.
    void unlock(SecretBuffer passphrase, std::uint64_t idle_usec, pid_t watch_pid, Session::UnlockDone done);
    void lock();
    // Finishes later, on the loop: see Session::rekey.
    void rekey(SecretBuffer passphrase, SecretBuffer new_passphrase, Session::RekeyDone done);
    std::string claim_name(const std::string &name) { return session_.claim_name(name); }
    // Renews nothing: STATUS is not authorized by polkit, so it must not keep
    // a session alive (SPEC §6.1).
    StatusSnapshot status();
    std::string pubkey();
    // The puddle key, nullopt when not initialized; cached while unlocked.
    std::optional<PublicKey> public_key() const { return session_.public_key(); }

    // From disk at most every few seconds or after a change (health_cache.hpp),
    // with what only the agent knows: usage record entries not written.
    Health health();
    std::uint64_t record_not_written() const { return record_.journal().not_written(); }
    std::size_t record_backlog() const { return record_.journal().backlog(); }
    // The friendly name this envoy claims for `key`, else "puddle:<short key>".
    std::string key_comment(const PublicKey &key) const;

private:
    // Consent (consent.hpp). A locked key fails the request anyway: a
    // question first would be one without consequence.
    std::optional<Verdict> consent(const Use &use, std::function<void(Verdict)> done) {
        if (!session_.unlocked()) return Verdict{true, {}};
        return consent_.check(use, record_.known(use.who.program()), std::move(done));
    }
    // unlock_on_request: a signature asked for while locked, by a program
    // in the user's active login session, first asks the passphrase and
    // unlocks. The verdict is always an allow (a request still locked fails
    // as locked); nullopt while the question is open, then `done`.
    std::optional<Verdict> unlock_first(const Use &use, std::function<void(Verdict)> done);

    Session &session_;
    Config config_;
    void unlock_answered(const std::shared_ptr<PassphraseOutcome> &outcome);
    void release_unlock_waiters();

    UsageRecord record_;
    Consent consent_;
    HealthCache health_;
    // Requests waiting for the passphrase question of unlock_on_request.
    std::vector<std::function<void(Verdict)>> unlock_waiters_;
};

// What a request is, read once when the door takes it: the use a signing
// request makes of the key (who, what for: the record and the questions)
// and a refusal known before anyone is asked (an ssh login off the ssh door,
// another key, a destination rule).
struct Facts {
    std::optional<Use> use;
    std::optional<Error> refusal;
};

// A refusal as the doors report it.
inline Error denial(const Verdict &v) { return told(Failure::denied, v.why); }

} // namespace puddle::agent
