// puddle-agent: the session agent, normally started by systemd through
// puddle-agent.socket or D-Bus activation of org.puddle.Agent1.
#include "agent/manager.hpp"
#include "core/identity_store.hpp"
#include "util/error.hpp"
#include "util/failure.hpp"
#include "util/harden.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

using namespace puddle;

namespace {

constexpr const char *kUsage =
    "usage: puddle-agent [--socket PATH] [--ssh-socket PATH] [--no-bus]\n\n"
    "The puddle session agent. systemd starts it through puddle-agent.socket or D-Bus\n"
    "activation; by hand, --socket PATH serves the line protocol on PATH (for debugging).\n\n"
    "  --socket PATH   listen on PATH instead of sockets passed by systemd\n"
    "  --ssh-socket PATH  serve the OpenSSH agent protocol on PATH\n"
    "  --no-bus        do not connect to the user bus\n"
    "  --help          this text\n"
    "  --version       the version\n";

UniqueFd bind_socket(const std::string &path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw_errno("cannot create a socket", errno);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw Error(Failure::invalid_argument, "--socket " + path, "path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    mode_t old = ::umask(0177);
    int r = ::bind(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    ::umask(old);
    if (r != 0) throw_errno("cannot bind " + path, errno);
    if (::listen(fd.get(), 128) != 0) throw_errno("cannot listen on " + path, errno);
    return fd;
}

agent::ListenSockets sockets_from_systemd() {
    agent::ListenSockets s;
    char **names = nullptr;
    int n = sd_listen_fds_with_names(1, &names);
    if (n < 0) throw_errno("cannot take the sockets passed by systemd", -n);
    for (int i = 0; i < n; ++i) {
        int fd = SD_LISTEN_FDS_START + i;
        std::string name = names && names[i] ? names[i] : "";
        // Unnamed sockets (e.g. started by hand with systemd-socket-activate) serve the line protocol.
        if (name == "agent" || name == "unknown" || name.empty()) s.agent.emplace_back(fd);
        else if (name == "ssh") s.ssh.emplace_back(fd);
        else {
            log_warning("ignoring passed socket with unknown name \"" + name + "\"");
            ::close(fd);
        }
    }
    if (names) {
        for (int i = 0; i < n; ++i) free(names[i]);
        free(names);
    }
    return s;
}

} // namespace

int main(int argc, char **argv) {
    std::string socket_path, ssh_socket_path;
    bool want_bus = true;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help") return std::fputs(kUsage, stdout), 0;
        if (a == "--version") return std::printf("puddle-agent %s\n", PUDDLE_VERSION), 0;
        if (a == "--no-bus") want_bus = false;
        else if (a == "--socket" && i + 1 < argc) socket_path = argv[++i];
        else if (a.starts_with("--socket=")) socket_path = a.substr(9);
        else if (a == "--ssh-socket" && i + 1 < argc) ssh_socket_path = argv[++i];
        else return std::fprintf(stderr, "puddle-agent: unknown argument '%s'\n%s", a.c_str(), kUsage), 2;
    }
    try {
        harden({"the agent", "the key"});
        // Room for every connection the doors allow (1024 each, with its
        // pidfd and two /proc files) and more: the soft limit systemd leaves
        // (1024) is for select(), which the agent does not use. Where the
        // hard limit is lower, the doors refuse in time.
        raise_open_files_limit(10240);
        // Pipelined clients grow a connection's buffers past 128 KiB. glibc
        // would raise its mmap threshold after the first such buffer is freed
        // and serve every later one from the heap, where a burst leaves
        // fragments malloc_trim cannot return. A fixed threshold keeps large
        // buffers in their own mappings, handed back the moment they are freed.
        if (::mallopt(M_MMAP_THRESHOLD, 128 * 1024) != 1)
            log_warning("cannot fix the malloc mmap threshold; memory may stay at its peak after a burst");
        set_repair_notice([](const std::string &text) { log_info(text); });
        std::vector<std::string> warnings;
        auto config = load_config(warnings);
        for (const auto &w : warnings) log_warning(w);
        set_tpm_choice(config.envoy);
        agent::ListenSockets sockets;
        if (!socket_path.empty() || !ssh_socket_path.empty()) {
            if (!socket_path.empty()) sockets.agent.push_back(bind_socket(socket_path));
            if (!ssh_socket_path.empty()) sockets.ssh.push_back(bind_socket(ssh_socket_path));
        } else {
            sockets = sockets_from_systemd();
        }
        if (sockets.agent.empty() && sockets.ssh.empty() && !want_bus)
            throw Error(Failure::invalid_argument, "nothing to serve", "no socket was passed and --no-bus was given",
                        "start it through puddle-agent.socket, or pass --socket PATH");
        agent::Manager manager(config, StateDir::locate(), std::move(sockets), want_bus);
        return manager.run();
    } catch (const Error &e) {
        log_error(e.what() + (e.hint().empty() ? std::string() : " (" + e.hint() + ")"));
        return int(exit_code(e.kind()));
    } catch (const std::exception &e) {
        log_error(std::string("fatal: ") + e.what());
        return 1;
    }
}
