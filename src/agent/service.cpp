#include "agent/service.hpp"

#include "core/files/name_claim.hpp"
#include "agent/prompt.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <systemd/sd-login.h>

#include <algorithm>

namespace puddle::agent {

namespace {

Outcome outcome_of(const Error &e) { return e.kind() == Failure::denied ? Outcome::refused : Outcome::failed; }

} // namespace

Signature Service::sign(std::span<const std::uint8_t> data, const Use &use) {
    try {
        // Internal statements (rotation records, name claims) start with this
        // prefix; refusing it here means no client can obtain one.
        if (data.size() >= kReservedPrefix.size() &&
            std::equal(kReservedPrefix.begin(), kReservedPrefix.end(), data.begin()))
            throw told(Failure::reserved_prefix,
                       "data starting with \"puddle-statement-\" is reserved for puddle's own statements");
        Signature sig = session_.sign(data);
        auto pub = session_.public_key();
        record_.record(use, Outcome::signed_, {}, pub ? pub->str() : std::string());
        return sig;
    } catch (const Error &e) {
        // What the requester is told is recorded; anything else reaches it
        // as an internal error, unrecorded, as before.
        if (e.is_told()) record_.record(use, outcome_of(e), e.what(), {});
        throw;
    }
}

std::optional<Verdict> Service::approve(const Use &use, std::function<void(Verdict)> done) {
    // Shared: the answer to the passphrase question goes on to consent with it.
    auto finish = std::make_shared<std::function<void(Verdict)>>(std::move(done));
    auto unlocked = unlock_first(use, [this, use, finish](Verdict) {
        // On the loop, after the passphrase question: consent next.
        if (auto now = consent(use, *finish)) (*finish)(std::move(*now));
    });
    if (!unlocked) return std::nullopt;
    return consent(use, *finish);
}

std::optional<Verdict> Service::unlock_first(const Use &use, std::function<void(Verdict)> done) {
    constexpr std::size_t kMaxWaiters = 256;
    const Verdict go_on{true, {}};
    if (!config_.agent.unlock_on_request || session_.unlocked() || !session_.public_key()) return go_on;
    // Only a program the user runs in the login they sit at: a service, a
    // timer or another seat's session fails at once, as without the option.
    if (use.who.session.empty() || sd_session_is_active(use.who.session.c_str()) <= 0) return go_on;
    if (unlock_waiters_.size() >= kMaxWaiters) return go_on;
    unlock_waiters_.push_back(std::move(done));
    if (unlock_waiters_.size() > 1) return std::nullopt; // one question for all of them
    const std::string question = "puddle: " + use.who.program_label() + " asks for a signature (" + use.purpose.summary +
                                 "). Passphrase to unlock your puddle key:";
    consent_.ask_passphrase(question, [this](std::shared_ptr<PassphraseOutcome> outcome) { unlock_answered(outcome); });
    return std::nullopt;
}

void Service::unlock_answered(const std::shared_ptr<PassphraseOutcome> &outcome) {
    if (outcome->answer != PromptAnswer::yes) {
        log_info("unlock on request: no passphrase (" + outcome->detail + ")");
        release_unlock_waiters();
        return;
    }
    try {
        unlock(std::move(outcome->passphrase), 0, 0, [this](std::exception_ptr failure) {
            if (failure) {
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception &e) {
                    log_info(std::string("unlock on request failed: ") + e.what());
                }
            }
            release_unlock_waiters();
        });
    } catch (const std::exception &e) {
        log_info(std::string("unlock on request failed: ") + e.what());
        release_unlock_waiters();
    }
}

void Service::release_unlock_waiters() {
    auto waiters = std::move(unlock_waiters_);
    unlock_waiters_.clear();
    for (auto &w : waiters) w(Verdict{true, {}});
}

void Service::record_refusal(const Use &use, const Error &refusal) {
    record_.record(use, outcome_of(refusal), refusal.what(), {});
}

void Service::unlock(SecretBuffer passphrase, std::uint64_t idle_usec, pid_t watch_pid, Session::UnlockDone done) {
    session_.unlock(std::move(passphrase), idle_usec, watch_pid,
                    [this, done = std::move(done)](std::exception_ptr failure) {
                        if (!failure) record_.restart_counts();
                        done(failure);
                    });
}

void Service::lock() { session_.lock(LockReason::explicit_lock); }

void Service::rekey(SecretBuffer passphrase, SecretBuffer new_passphrase, Session::RekeyDone done) {
    session_.rekey(std::move(passphrase), std::move(new_passphrase), std::move(done));
}

StatusSnapshot Service::status() {
    auto pub = session_.public_key();
    return StatusSnapshot{session_.unlocked(), pub ? pub->str() : std::string(), session_.deadline_realtime_usec(),
                          session_.idle_usec(), session_.watch_pid(), record_.counts(), record_.last()};
}

std::string Service::pubkey() {
    auto pub = session_.public_key();
    if (!pub) throw told(Failure::not_initialized, "no puddle identity here; run 'puddle init'");
    return pub->str();
}

} // namespace puddle::agent

namespace puddle::agent {

Health Service::health() {
    Health h = health_.get();
    add_record_not_written(h, record_not_written());
    return h;
}

std::string Service::key_comment(const PublicKey &key) const {
    const StateDir &dir = session_.state_dir();
    try {
        if (auto claim = load_name_claim(dir); claim && claim->pubkey == key && verify_claim(*claim))
            return claim->name;
    } catch (const Error &) {
        // an unreadable claim is a health finding, not a reason to fail here
    }
    return "puddle:" + key.short_hex();
}

} // namespace puddle::agent
