// Clock readings in microseconds, the unit sd-event and the agent's
// deadlines use.
#pragma once

#include <cstdint>
#include <time.h>

namespace puddle {

inline constexpr std::uint64_t kUsecPerSec = 1000000;

inline std::uint64_t now_usec(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return std::uint64_t(ts.tv_sec) * kUsecPerSec + std::uint64_t(ts.tv_nsec) / 1000;
}

} // namespace puddle
