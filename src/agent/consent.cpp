#include "agent/consent.hpp"

#include "agent/prompt.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

#include <cstdlib>

namespace puddle::agent {

Consent::Consent(sd_event *loop, const Config::Consent &config) : config_(config), offload_(loop) {}

Consent::~Consent() { cancel_ = true; }

std::optional<Verdict> Consent::check(const Use &use, bool known, std::function<void(Verdict)> done) {
    if (!needs_consent(config_.mode, use, known)) return Verdict{true, {}};
    const std::string key = ConsentMemory::key_of(use);
    if (auto remembered = memory_.lookup(key, now_usec(CLOCK_MONOTONIC))) {
        if (*remembered) return Verdict{true, {}};
        return Verdict{false, "refused: you declined this program's request moments ago (consent)"};
    }
    if (auto it = waiting_.find(key); it != waiting_.end()) {
        it->second.push_back(std::move(done));
        return std::nullopt;
    }
    if (waiting_.size() >= kMaxWaiting)
        return Verdict{false, "refused: " + std::to_string(kMaxWaiting) + " programs already wait for your answer"};
    waiting_[key].push_back(std::move(done));
    const std::string question = consent_prompt(use);
    const auto timeout = std::chrono::seconds(config_.timeout_seconds);
    const PromptPrograms programs = find_prompt_programs(config_.askpass, config_.pinentry, std::getenv("SSH_ASKPASS"));
    offload_.submit([this, key, question, timeout, programs]() -> Offload::Continuation {
        PromptOutcome outcome = ask_confirm(programs, question, timeout, cancel_);
        return [this, key, outcome] { answered(key, outcome); };
    });
    return std::nullopt;
}

void Consent::ask_passphrase(const std::string &question,
                             std::function<void(std::shared_ptr<PassphraseOutcome>)> done) {
    const auto timeout = std::chrono::seconds(config_.timeout_seconds);
    const PromptPrograms programs = find_prompt_programs(config_.askpass, config_.pinentry, std::getenv("SSH_ASKPASS"));
    offload_.submit([this, question, timeout, programs, done = std::move(done)]() -> Offload::Continuation {
        // Shared, so the continuation (a std::function, copyable) can carry
        // the passphrase's locked buffer back to the loop.
        auto outcome = std::make_shared<PassphraseOutcome>(agent::ask_passphrase(programs, question, timeout, cancel_));
        return [done, outcome] { done(outcome); };
    });
}

void Consent::answered(const std::string &key, const PromptOutcome &outcome) {
    Verdict v{outcome.answer == PromptAnswer::yes, {}};
    switch (outcome.answer) {
    case PromptAnswer::yes: break;
    case PromptAnswer::no: v.why = "refused: you declined the request (consent, asked with " + outcome.detail + ")"; break;
    case PromptAnswer::timed_out:
        v.why = "refused: no answer within " + std::to_string(config_.timeout_seconds) + " s (consent; " +
                outcome.detail + ")";
        break;
    case PromptAnswer::unavailable:
        v.why = "refused: consent is required and cannot be asked: " + outcome.detail;
        log_warning("consent: " + outcome.detail);
        break;
    }
    if (outcome.answer == PromptAnswer::yes || outcome.answer == PromptAnswer::no)
        memory_.remember(key, v.allowed, now_usec(CLOCK_MONOTONIC), config_.remember_seconds);
    auto callbacks = std::move(waiting_[key]);
    waiting_.erase(key);
    for (auto &cb : callbacks) cb(v);
}

} // namespace puddle::agent
