// Consent (puddle-agent(1) CONSENT): after polkit allowed a signature, the
// user's own answer where [consent] policy asks for one. One question at a
// time, on a worker thread of its own (the loop keeps serving); requests of
// a requester already being asked about wait for that answer instead of
// opening a second dialog; answers are remembered (consent_policy.hpp).
#pragma once

#include "agent/authorizer.hpp"
#include "agent/consent_policy.hpp"
#include "agent/offload.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace puddle::agent {

class Consent {
public:
    static constexpr std::size_t kMaxWaiting = 64; // requesters waiting for a question

    Consent(sd_event *loop, const Config::Consent &config);
    ~Consent();

    // The verdict now (no question needed, or remembered), else nullopt and
    // `done` runs later on the loop. `known`: the program has had a
    // signature before.
    std::optional<Verdict> check(const Use &use, bool known, std::function<void(Verdict)> done);
    // unlock_on_request: asks the passphrase on the same worker (one
    // question at a time); `done` runs on the loop.
    void ask_passphrase(const std::string &question, std::function<void(std::shared_ptr<struct PassphraseOutcome>)> done);
    // On lock: answers are forgotten.
    void forget() { memory_.forget(); }
    bool asks() const noexcept { return config_.mode != ConsentMode::never; }

private:
    void answered(const std::string &key, const struct PromptOutcome &outcome);

    Config::Consent config_;
    ConsentMemory memory_;
    std::map<std::string, std::vector<std::function<void(Verdict)>>> waiting_;
    std::atomic<bool> cancel_{false}; // before offload_: the job in progress reads it while offload_ is destroyed
    Offload offload_;
};

} // namespace puddle::agent
