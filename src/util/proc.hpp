// Facts about other processes from /proc.
#pragma once

#include <cstdint>
#include <sys/types.h>

namespace puddle {

// Field 22 of /proc/PID/stat (start time in clock ticks since boot), which
// together with the PID names one process for good; 0 when it does not exist.
std::uint64_t process_start_time(pid_t pid);

// Whether the process behind `pidfd` is alive and still has `pid` (in our
// pid namespace): a pid that was reused since the pidfd was taken names
// another process. From /proc/self/fdinfo (kernel 5.4 and later); false when
// that cannot be read.
bool pidfd_matches(int pidfd, pid_t pid);

} // namespace puddle
