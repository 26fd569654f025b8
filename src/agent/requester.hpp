// Who asked, in the words the record and consent use: the requesting
// process's executable, its systemd unit (user unit first, else the system
// unit, e.g. a login's session-N.scope) and its logind session. Learned once
// per connection (per bus name) from /proc and the cgroup, right after the
// peer was pinned, so a busy connection pays for it once.
#pragma once

#include <string>
#include <sys/types.h>

namespace puddle::agent {

struct Requester {
    pid_t pid = 0;
    std::string exe;     // "/usr/bin/git"; "" when it cannot be read (the process is gone)
    std::string comm;    // /proc/PID/comm, for when exe cannot be read
    std::string unit;    // "app-gnome-terminal-….scope", "session-3.scope"; "" when none
    std::string session; // logind session id; "" when none

    // What a person recognises: the executable's path, else "[comm]", else "pid N".
    std::string program() const {
        if (!exe.empty()) return exe;
        if (!comm.empty()) return "[" + comm + "]";
        return "pid " + std::to_string(pid);
    }
};

// Reads /proc/PID/exe, comm and the cgroup (sd_pid_get_*). Unreadable parts
// stay empty: a requester that already left is still recorded, as "pid N".
Requester describe_requester(pid_t pid);

struct Peer; // authorizer.hpp

// The peer's requester, described on first use and kept with the peer.
const Requester &requester_of(const Peer &peer);

} // namespace puddle::agent
