#include "util/harden.hpp"

#include "util/error.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <sys/prctl.h>

namespace puddle {
namespace {

// The pid that traces us, 0 when none; -1 when /proc cannot tell.
long tracer_pid() {
    std::FILE *f = std::fopen("/proc/self/status", "re");
    if (!f) return -1;
    char line[256];
    long pid = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "TracerPid: %ld", &pid) == 1) break;
    std::fclose(f);
    return pid;
}

} // namespace

// Key bytes must never reach a core file or another process of the user.
// Each step is fatal: a process that cannot promise this must not go on to
// read a secret, and each step only fails on a kernel that lacks it (or a
// seccomp filter that forbids it), which is worth a refusal, not a log line.
// Non-dumpable stops new ptrace attaches by the user's processes, but one
// that attached in the instant before the prctl stays attached: so check
// after it, and refuse to run traced -- also when /proc cannot tell.
void harden(const HardenFor &process) {
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        throw_errno("cannot make " + process.who + " non-dumpable", errno);
    struct rlimit none {0, 0};
    if (::setrlimit(RLIMIT_CORE, &none) != 0) throw_errno("cannot disable core dumps", errno);
    long tracer = tracer_pid();
    if (tracer != 0)
        throw Error(Failure::failed, "refusing to run",
                    tracer > 0 ? "process " + std::to_string(tracer) + " traces " + process.who + " (ptrace)"
                               : "/proc/self/status does not say whether " + process.who + " is traced",
                    "a debugger of " + process.who + " could read " + process.secret + "; start it untraced");
}

void raise_open_files_limit(rlim_t want) {
    struct rlimit files {};
    if (::getrlimit(RLIMIT_NOFILE, &files) != 0) {
        log_warning("cannot read the open files limit: " + errno_text(errno));
        return;
    }
    if (files.rlim_cur >= want) return;
    files.rlim_cur = std::min<rlim_t>(want, files.rlim_max);
    // Logged, not fatal: callers bound their connections themselves and
    // refuse in time under a lower limit; only fewer clients fit at once.
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0)
        log_warning("cannot raise the open files limit to " + std::to_string(files.rlim_cur) + ": " +
                    errno_text(errno));
}

} // namespace puddle
