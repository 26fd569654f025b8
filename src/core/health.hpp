// Health (SPEC §11): Healthy, Warning or Degraded, with a reason for each
// finding, from what this envoy can see in its own files.
#pragma once

#include "core/config.hpp"
#include "core/statedir.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace puddle {

enum class HealthState { healthy, warning, degraded };
const char *health_state_name(HealthState s); // "healthy", "warning", "degraded"

struct HealthFinding {
    HealthState severity;
    std::string reason;
};

struct Health {
    HealthState state = HealthState::healthy;
    std::vector<HealthFinding> findings;
    void add(HealthState severity, std::string reason);
};

// Findings from the state directory, the rotation log, the members view and
// the claims view. The caller adds what it alone knows (agent reachability).
Health assess_health(const StateDir &dir, const Config &config);

// The agent's own finding (puddle-agent(1) RECORD), in its Health and in
// `puddle status`, which reads the count from the agent's RecordNotWritten.
void add_record_not_written(Health &h, std::uint64_t entries);

} // namespace puddle
