#include "agent/consent_policy.hpp"

namespace puddle::agent {

bool needs_consent(ConsentMode mode, const Use &use, bool known) {
    switch (mode) {
    case ConsentMode::never: return false;
    case ConsentMode::always: return true;
    case ConsentMode::new_requester: return !known;
    case ConsentMode::forwarded: return use.purpose.forwarded;
    }
    return true;
}

std::string consent_prompt(const Use &use) {
    // Labels, not the raw names: the question is shown as lines, and a
    // requester must not be able to write one of them.
    std::string who = use.who.program_label();
    if (!use.who.unit.empty()) who += " (" + use.who.unit_label() + ")";
    return "Allow " + who + " to sign with your puddle key?\n" + use.purpose.summary + ", through " +
           door_name(use.door) + ".";
}

std::optional<bool> ConsentMemory::lookup(const std::string &key, std::uint64_t now_usec) const {
    auto it = answers_.find(key);
    if (it == answers_.end() || it->second.until_usec <= now_usec) return std::nullopt;
    return it->second.yes;
}

void ConsentMemory::remember(const std::string &key, bool yes, std::uint64_t now_usec, std::uint32_t yes_seconds) {
    const std::uint64_t seconds = yes ? yes_seconds : kRememberNoSeconds;
    if (seconds == 0) {
        answers_.erase(key);
        return;
    }
    if (answers_.size() >= kMaxEntries && !answers_.count(key)) {
        // Drop what has expired; if all still hold, the one ending first.
        for (auto it = answers_.begin(); it != answers_.end();)
            it = it->second.until_usec <= now_usec ? answers_.erase(it) : std::next(it);
        if (answers_.size() >= kMaxEntries) {
            auto first = answers_.begin();
            for (auto it = answers_.begin(); it != answers_.end(); ++it)
                if (it->second.until_usec < first->second.until_usec) first = it;
            answers_.erase(first);
        }
    }
    answers_[key] = Answer{yes, now_usec + seconds * 1000000};
}

} // namespace puddle::agent
