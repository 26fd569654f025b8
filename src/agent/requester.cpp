#include "agent/requester.hpp"

#include "agent/authorizer.hpp"

#include <climits>
#include <cstdlib>
#include <fstream>
#include <systemd/sd-login.h>
#include <unistd.h>

namespace puddle::agent {
namespace {

std::string take(char *owned) {
    std::string s = owned ? owned : "";
    std::free(owned);
    return s;
}

} // namespace

Requester describe_requester(pid_t pid) {
    Requester r;
    r.pid = pid;
    if (pid <= 0) return r;
    const std::string proc = "/proc/" + std::to_string(pid);
    char buf[PATH_MAX];
    if (ssize_t n = ::readlink((proc + "/exe").c_str(), buf, sizeof buf - 1); n > 0) r.exe.assign(buf, std::size_t(n));
    if (std::ifstream comm(proc + "/comm"); comm) std::getline(comm, r.comm);
    char *s = nullptr;
    if (sd_pid_get_user_unit(pid, &s) >= 0) r.unit = take(s);
    else if (s = nullptr; sd_pid_get_unit(pid, &s) >= 0) r.unit = take(s);
    s = nullptr;
    if (sd_pid_get_session(pid, &s) >= 0) r.session = take(s);
    return r;
}

const Requester &requester_of(const Peer &peer) {
    auto &slot = *peer.described;
    if (!slot) slot = std::make_shared<const Requester>(describe_requester(peer.pid));
    return *slot;
}

} // namespace puddle::agent
