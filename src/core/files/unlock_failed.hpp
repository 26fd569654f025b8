// unlock.failed: written by the agent when an unlock failed for a reason of
// the system's (not a wrong passphrase), removed by the next successful
// unlock. Health reads it, leniently: a damaged record still says the agent
// could not unlock.
#pragma once

#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace puddle {

inline constexpr const char *kUnlockFailedFile = "unlock.failed";
inline constexpr std::size_t kMaxUnlockFailedBytes = 4096;

struct UnlockFailure {
    std::int64_t time = 0; // Unix seconds
    std::string reason;
};

// {"time":…,"reason":…} and "\n".
std::string serialize_unlock_failure(const UnlockFailure &failure);
// Each field nullopt when missing, mistyped, or the bytes are not JSON.
struct UnlockFailureView {
    std::optional<std::int64_t> time;
    std::optional<std::string> reason;
};
UnlockFailureView parse_unlock_failure(std::span<const std::uint8_t> bytes);

// nullopt when absent; StateDir::read's errors propagate.
std::optional<UnlockFailureView> load_unlock_failure(const StateDir &dir);
void save_unlock_failure(const StateDir &dir, const UnlockFailure &failure);
// Absent is fine.
void remove_unlock_failure(const StateDir &dir);

} // namespace puddle
