// The agent's status entry in the journal (puddle-agent(1) STATUS ENTRY):
// gathered from the state directory and the session, written at start and
// whenever it differs from the last one written, for the administrator's
// `puddle fleet --journal` across machines.
#pragma once

#include "core/config.hpp"
#include "core/statedir.hpp"
#include "core/status_entry.hpp"

#include <optional>

namespace puddle::agent {

// What this user's puddle looks like now on this machine; nullopt when
// there is no identity here (nothing to report). Reads files only.
std::optional<StatusEntry> gather_status(const StateDir &dir, const Config &config, bool unlocked);

class StatusReport {
public:
    StatusReport(const StateDir &dir, const Config &config) : dir_(dir), config_(config) {}
    // Gathers and writes an entry when it changed since the last one.
    void refresh(bool unlocked);

private:
    const StateDir &dir_;
    const Config &config_;
    std::optional<StatusEntry> last_;
};

} // namespace puddle::agent
