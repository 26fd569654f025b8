#include "agent/requester.hpp"

#include <cerrno>

#include "agent/authorizer.hpp"
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

std::string read_exe(pid_t pid) {
    char buf[PATH_MAX];
    const std::string link = "/proc/" + std::to_string(pid) + "/exe";
    if (ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1); n > 0) return std::string(buf, std::size_t(n));
    return {};
}

// The first line of /proc/PID/comm: checked before every request, so with
// three system calls and no stream.
std::string read_comm(pid_t pid) {
    char buf[64];
    const std::string path = "/proc/" + std::to_string(pid) + "/comm";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n <= 0) return {};
    std::string comm(buf, std::size_t(n));
    return comm.substr(0, comm.find('\n'));
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
    Requester r = describe_requester(peer.pid);
    // Read after the description: if the pinned process is gone now, what
    // was read may be its pid's next owner.
    if (!peer_alive(peer)) r = Requester{peer.pid, {}, {}, {}, {}};
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
    if (peer.pid > 0) {
        now.exe = read_exe(peer.pid);
        now.comm = read_comm(peer.pid);
    }
    // Alive after the reading, so what was read was the pinned process's.
    return requester_change(described, sender_pid, peer_alive(peer), now);
}

} // namespace puddle::agent
