// Facts about other processes from /proc.
#pragma once

#include <cstdint>
#include <sys/types.h>

namespace puddle {

// Field 22 of /proc/PID/stat (start time in clock ticks since boot), which
// together with the PID names one process for good; 0 when it does not exist.
std::uint64_t process_start_time(pid_t pid);

} // namespace puddle
