// puddle-pair: the pair listener, a socket-activated user service. It serves
// the one pending claim (pair.pending or rekey.pending) over TLS + CPace,
// never touches the keyring or the agent, and stops its own socket after a
// claim, a burned code, or expiry. The serving is pair/listener.cpp; here
// the arguments, the hardening and what there is to serve.
#include "core/config.hpp"
#include "core/identity_store.hpp"
#include "pair/listener.hpp"
#include "util/error.hpp"
#include "util/failure.hpp"
#include "util/harden.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <malloc.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <vector>

using namespace puddle;
using namespace puddle::pair;

namespace {

constexpr const char *kUsage =
    "usage: puddle-pair [--listen ADDRESS:PORT]\n\n"
    "The puddle pair listener. systemd starts it through puddle-pair.socket, which\n"
    "'puddle pair' starts; it serves the pending claim and stops the socket again.\n\n"
    "  --listen ADDRESS:PORT   listen there instead of on sockets passed by systemd\n";

UniqueFd listen_on(const std::string &spec) {
    auto colon = spec.rfind(':');
    if (colon == std::string::npos) throw Error(Failure::invalid_argument, "--listen " + spec, "expected ADDRESS:PORT");
    std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo *res = nullptr;
    if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res) != 0)
        throw Error(Failure::invalid_argument, "--listen " + spec, "cannot resolve the address");
    UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int r = ::bind(fd.get(), res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (r != 0 || ::listen(fd.get(), 16) != 0) throw_errno("cannot listen on " + spec, errno);
    return fd;
}

std::vector<UniqueFd> listening_sockets(const std::string &listen_spec) {
    std::vector<UniqueFd> sockets;
    if (!listen_spec.empty()) sockets.push_back(listen_on(listen_spec));
    else
        for (int i = 0, n = sd_listen_fds(1); i < n; ++i) sockets.emplace_back(SD_LISTEN_FDS_START + i);
    return sockets;
}

// Read from the listener's event loop; blocked from the start (before any
// thread exists, so that every thread inherits the mask), so that a SIGTERM
// during setup still ends in a "stopped" result.
void block_sigterm() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) throw_errno("cannot block SIGTERM", errno);
}

} // namespace

int main(int argc, char **argv) {
    std::string listen_spec;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help") return std::fputs(kUsage, stdout), 0;
        if (a == "--version") return std::printf("puddle-pair %s\n", PUDDLE_VERSION), 0;
        if (a == "--listen" && i + 1 < argc) listen_spec = argv[++i];
        else return std::fprintf(stderr, "puddle-pair: unknown argument '%s'\n%s", a.c_str(), kUsage), 2;
    }
    try {
        harden({"the pair listener", "the pairing code"});
        block_sigterm();
        // One malloc arena per connection thread would stay mapped for good
        // (glibc keeps up to 8 per core); two are plenty for 8 connections.
        // A hint only: glibc returns 0 for a value it does not take.
        if (::mallopt(M_ARENA_MAX, 2) != 1) log_warning("cannot cap the malloc arenas; memory may grow per thread");
        std::signal(SIGPIPE, SIG_IGN);
        std::vector<std::string> warnings;
        auto config = load_config(warnings);
        for (const auto &w : warnings) log_warning(w);
        set_tpm_choice(config.envoy);
        StateDir dir = StateDir::locate();
        auto *pw = ::getpwuid(::getuid());
        if (!pw) throw Error(Failure::failed, "pair listener", "cannot find the user's name");
        const std::string user = pw->pw_name;

        auto sockets = listening_sockets(listen_spec);
        auto claim = find_pending_claim(dir);
        if (!claim || sockets.empty()) {
            log_info(claim ? "no listening socket" : "nothing pending to claim; stopping");
            sd_notify(0, "READY=1");
            stop_own_socket(dir);
            return 0;
        }
        if (!IdentityStore(dir).is_member())
            throw Error(Failure::not_initialized, "pair listener", "this machine holds no identity to hand out");
        Listener(dir, config, user, std::move(*claim), std::move(sockets)).run();
        stop_own_socket(dir);
        return 0;
    } catch (const Error &e) {
        log_error(e.what() + (e.hint().empty() ? std::string() : " (" + e.hint() + ")"));
        try {
            stop_own_socket(StateDir::locate());
        } catch (const Error &) {
        }
        return int(exit_code(e.kind()));
    } catch (const std::exception &e) {
        log_error(std::string("fatal: ") + e.what());
        return 1;
    }
}
