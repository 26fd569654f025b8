// Sends each use of the key to the journal (usage.hpp builds the fields;
// journal_queue.hpp writes them after the reply),
// keeps the counts since the last unlock and the last use for status, and
// notices a requester's first use (requesters.json).
#pragma once

#include "agent/journal_queue.hpp"
#include "agent/usage.hpp"
#include "core/files/requesters.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

namespace puddle::agent {

struct UseCounts {
    std::uint64_t signed_ = 0;
    std::uint64_t refused = 0; // refused and failed
};

struct LastUse {
    std::uint64_t time_usec = 0; // CLOCK_REALTIME
    std::string program, unit, purpose, outcome;
};

class UsageRecord {
public:
    UsageRecord(sd_event *loop, const StateDir &dir) : dir_(dir), journal_(loop) {}

    void record(const Use &use, Outcome outcome, std::string_view reason, std::string_view key);
    // A new unlock starts the counts again.
    void restart_counts() { counts_ = {}; }
    const UseCounts &counts() const noexcept { return counts_; }
    const std::optional<LastUse> &last() const noexcept { return last_; }
    // Whether `program` has had a signature before (requesters.json).
    bool known(const std::string &program);
    // Entries the journal has not taken (refused, or too far behind).
    const JournalQueue &journal() const noexcept { return journal_; }

private:
    void load_known();
    void note_requester(const Use &use);

    const StateDir &dir_;
    JournalQueue journal_;
    UseCounts counts_;
    std::optional<LastUse> last_;
    std::optional<RequestersView> known_; // loaded on first use
    std::unordered_set<std::string> programs_; // known_'s programs, for the per-signature lookup
};

} // namespace puddle::agent
