#include "agent/requester.hpp"

#include <cerrno>

#include "agent/authorizer.hpp"
#include "util/fd.hpp"
#include "util/proc.hpp"

#include <climits>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <sys/syscall.h>
#include <systemd/sd-login.h>
#include <unistd.h>

namespace puddle::agent {
namespace {

std::string take(char *owned) {
    std::string s = owned ? owned : "";
    std::free(owned);
    return s;
}

// The target of a /proc link: `dir` AT_FDCWD with a whole path, or an open
// /proc/PID with "exe".
std::string read_link(int dir, const char *path) {
    char buf[PATH_MAX];
    if (ssize_t n = ::readlinkat(dir, path, buf, sizeof buf - 1); n > 0) return std::string(buf, std::size_t(n));
    return {};
}

std::string read_exe(pid_t pid) { return read_link(AT_FDCWD, ("/proc/" + std::to_string(pid) + "/exe").c_str()); }

// The first line of comm from an open /proc/PID/comm: no stream.
std::string read_comm_fd(int fd) {
    char buf[64];
    const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    std::string comm(buf, std::size_t(n));
    return comm.substr(0, comm.find('\n'));
}

std::string read_comm(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/comm";
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return fd ? read_comm_fd(fd.get()) : std::string();
}

} // namespace

Requester describe_requester(pid_t pid) {
    Requester r;
    r.pid = pid;
    if (pid <= 0) return r;
    r.exe = read_exe(pid);
    r.comm = read_comm(pid);
    char *s = nullptr;
    if (sd_pid_get_user_unit(pid, &s) >= 0) r.unit = take(s);
    else if (s = nullptr; sd_pid_get_unit(pid, &s) >= 0) r.unit = take(s);
    s = nullptr;
    if (sd_pid_get_session(pid, &s) >= 0) r.session = take(s);
    return r;
}

bool peer_alive(const Peer &peer) {
    if (peer.pid <= 0) return false;
    if (peer.pidfd && *peer.pidfd) {
        if (::syscall(SYS_pidfd_send_signal, peer.pidfd->get(), 0, nullptr, 0) == 0) return true;
        // ENOSYS: no pidfd_send_signal here (before Linux 5.1, or under
        // valgrind, which does not know it); the start time still pins it.
        if (errno != ENOSYS) return false;
    }
    return peer.start_time != 0 && process_start_time(peer.pid) == peer.start_time;
}

const Requester &describe_peer(const Peer &peer) {
    if (peer.pid > 0 && !peer.proc->dir) {
        const std::string path = "/proc/" + std::to_string(peer.pid);
        peer.proc->dir.reset(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (peer.proc->dir) peer.proc->comm.reset(::openat(peer.proc->dir.get(), "comm", O_RDONLY | O_CLOEXEC));
    }
    Requester r = describe_requester(peer.pid);
    // Read after the description and the opening: if the pinned process is
    // gone now, what was read or opened may be its pid's next owner's.
    if (!peer_alive(peer)) {
        r = Requester{peer.pid, {}, {}, {}, {}};
        *peer.proc = ProcFiles{};
    }
    auto &slot = *peer.described;
    slot = std::make_shared<const Requester>(std::move(r));
    return *slot;
}

const Requester &requester_of(const Peer &peer) {
    if (!*peer.described) return describe_peer(peer);
    return **peer.described;
}

std::string requester_changed(const Peer &peer, std::optional<pid_t> sender_pid) {
    const Requester &described = requester_of(peer);
    Requester now;
    now.pid = peer.pid;
    if (peer.pid > 0 && peer.proc->comm) {
        // Two system calls, on files opened while the process was pinned:
        // once it is gone they read nothing, whoever has the PID by then.
        now.exe = read_link(peer.proc->dir.get(), "exe");
        now.comm = read_comm_fd(peer.proc->comm.get());
    } else if (peer.pid > 0) {
        now.exe = read_exe(peer.pid);
        now.comm = read_comm(peer.pid);
    }
    // Alive after the reading, so what was read was the pinned process's.
    return requester_change(described, sender_pid, peer_alive(peer), now);
}

} // namespace puddle::agent
