// Consent's decisions, pure (puddle-agent(1) CONSENT): whether a use needs
// the user's answer, what the prompt says, and the memory of answers given,
// so a burst of `git rebase --exec 'git commit -S'` asks once.
#pragma once

#include "agent/usage.hpp"
#include "core/config.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace puddle::agent {

// `known`: the requester's program has had a signature before (requesters.json).
bool needs_consent(ConsentMode mode, const Use &use, bool known);

// The question, naming the requester (executable, unit), the purpose and the door.
std::string consent_prompt(const Use &use);

// The answer given for a requester (program and unit), for a while: a yes
// for [consent] remember_seconds, a no for kRememberNoSeconds (so a burst
// that was refused does not open a dialog per request). Bounded.
class ConsentMemory {
public:
    static constexpr std::uint64_t kRememberNoSeconds = 10;
    static constexpr std::size_t kMaxEntries = 256;

    static std::string key_of(const Use &use) { return use.who.program() + "\n" + use.who.unit; }
    std::optional<bool> lookup(const std::string &key, std::uint64_t now_usec) const;
    void remember(const std::string &key, bool yes, std::uint64_t now_usec, std::uint32_t yes_seconds);
    // A lock forgets every answer: the next unlock starts afresh.
    void forget() { answers_.clear(); }

private:
    struct Answer {
        bool yes;
        std::uint64_t until_usec;
    };
    std::map<std::string, Answer> answers_;
};

} // namespace puddle::agent
