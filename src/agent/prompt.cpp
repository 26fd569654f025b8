#include "agent/prompt.hpp"

#include "core/passphrase.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace puddle::agent {
namespace {

using Clock = std::chrono::steady_clock;

bool executable(const std::string &path) { return !path.empty() && ::access(path.c_str(), X_OK) == 0; }

std::string in_path(const char *name) {
    const char *path = std::getenv("PATH");
    std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= p.size()) {
        auto end = p.find(':', start);
        if (end == std::string::npos) end = p.size();
        std::string candidate = p.substr(start, end - start) + "/" + name;
        if (end > start && executable(candidate)) return candidate;
        start = end + 1;
    }
    return {};
}

// A spawned program, ended and reaped when this goes.
class Child {
public:
    Child(const std::vector<std::string> &argv, const std::vector<std::string> &extra_env, int in_fd, int out_fd,
          std::string *why) {
        std::vector<char *> args;
        for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        std::vector<std::string> env_store;
        for (char **e = environ; *e; ++e) {
            bool replaced = false;
            for (const auto &x : extra_env)
                if (std::strncmp(*e, x.c_str(), x.find('=') + 1) == 0) replaced = true;
            if (!replaced) env_store.emplace_back(*e);
        }
        env_store.insert(env_store.end(), extra_env.begin(), extra_env.end());
        std::vector<char *> envp;
        for (auto &e : env_store) envp.push_back(e.data());
        envp.push_back(nullptr);

        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        // Nothing of the agent's but these (its sockets, its listen fds).
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        // Its own process group, so it can be ended with whatever it started.
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        sigset_t defaults;
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGPIPE);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setpgroup(&attr, 0);
        int r = posix_spawn(&pid_, argv[0].c_str(), &fa, &attr, args.data(), envp.data());
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0) {
            pid_ = -1;
            if (why) *why = "cannot start " + argv[0] + ": " + std::strerror(r);
            return;
        }
        pidfd_ = UniqueFd(int(::syscall(SYS_pidfd_open, pid_, 0)));
    }
    ~Child() { end(); }
    bool started() const { return pid_ > 0; }

    // The exit status when it ended within `until`; -1 on timeout or cancel.
    int wait_until(Clock::time_point until, const std::atomic<bool> &cancel) {
        while (pid_ > 0) {
            int status = 0;
            pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            }
            if (cancel || Clock::now() >= until) return -1;
            struct pollfd p {pidfd_ ? pidfd_.get() : -1, POLLIN, 0};
            ::poll(&p, pidfd_ ? 1 : 0, 200);
        }
        return -1;
    }

    void end() {
        if (pid_ <= 0) return;
        ::kill(-pid_, SIGTERM);
        ::kill(pid_, SIGTERM);
        const auto until = Clock::now() + std::chrono::seconds(1);
        int status;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (Clock::now() >= until) {
                ::kill(-pid_, SIGKILL);
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            ::usleep(20000);
        }
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    UniqueFd pidfd_;
};

UniqueFd dev_null() { return UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC)); }

PromptOutcome askpass_confirm(const std::string &program, const std::string &question, Clock::time_point until,
                              const std::atomic<bool> &cancel) {
    UniqueFd null = dev_null();
    std::string why;
    Child child({program, question}, {"SSH_ASKPASS_PROMPT=confirm"}, null.get(), null.get(), &why);
    if (!child.started()) return {PromptAnswer::unavailable, why};
    const int status = child.wait_until(until, cancel);
    if (status < 0) return {PromptAnswer::timed_out, program + " gave no answer in time"};
    return {status == 0 ? PromptAnswer::yes : PromptAnswer::no, program};
}

// One Assuan conversation with a pinentry over two pipes.
class Assuan {
public:
    Assuan(int to, int from, Clock::time_point until, const std::atomic<bool> &cancel)
        : to_(to), from_(from), until_(until), cancel_(cancel) {}

    // The final line of the reply to what was sent last ("OK…" or "ERR…"),
    // skipping comments, status and data lines; "" on timeout, EOF or cancel.
    std::string reply() {
        for (;;) {
            auto nl = buf_.find('\n');
            while (nl == std::string::npos) {
                if (cancel_ || Clock::now() >= until_ || buf_.size() > 65536) return {};
                struct pollfd p {from_, POLLIN, 0};
                if (::poll(&p, 1, 200) <= 0) continue;
                char chunk[4096];
                ssize_t n = ::read(from_, chunk, sizeof chunk);
                if (n <= 0) return {};
                buf_.append(chunk, std::size_t(n));
                nl = buf_.find('\n');
            }
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            if (line.rfind("OK", 0) == 0 || line.rfind("ERR", 0) == 0) return line;
        }
    }
    bool send(const std::string &command) {
        std::string line = command + "\n";
        return ::write(to_, line.data(), line.size()) == ssize_t(line.size());
    }
    std::string command(const std::string &c) { return send(c) ? reply() : std::string(); }

private:
    int to_, from_;
    Clock::time_point until_;
    const std::atomic<bool> &cancel_;
    std::string buf_;
};

PromptOutcome pinentry_confirm(const std::string &program, const std::string &question, Clock::time_point until,
                               const std::atomic<bool> &cancel) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return {PromptAnswer::unavailable, "cannot make a pipe"};
    UniqueFd in_r(in[0]), in_w(in[1]);
    if (::pipe2(out, O_CLOEXEC) != 0) return {PromptAnswer::unavailable, "cannot make a pipe"};
    UniqueFd out_r(out[0]), out_w(out[1]);
    std::string why;
    Child child({program}, {}, in_r.get(), out_w.get(), &why);
    if (!child.started()) return {PromptAnswer::unavailable, why};
    in_r.reset();
    out_w.reset();
    ::signal(SIGPIPE, SIG_IGN); // a pinentry that exits early must not end the agent
    Assuan a(in_w.get(), out_r.get(), until, cancel);
    if (a.reply().rfind("OK", 0) != 0) return {PromptAnswer::unavailable, program + " did not greet as a pinentry"};
    for (const std::string &c : std::vector<std::string>{"SETTITLE puddle", "SETDESC " + assuan_escape(question), "SETOK Allow",
                                "SETCANCEL Deny"})
        if (a.command(c).rfind("OK", 0) != 0 && (cancel || Clock::now() >= until))
            return {PromptAnswer::timed_out, program + " gave no answer in time"};
    const std::string answer = a.command("CONFIRM");
    if (answer.empty()) return {PromptAnswer::timed_out, program + " gave no answer in time"};
    a.send("BYE");
    return {answer.rfind("OK", 0) == 0 ? PromptAnswer::yes : PromptAnswer::no, program};
}

} // namespace

std::string assuan_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '%' || c == '\n' || c == '\r') {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
            out += hex;
        } else {
            out += c;
        }
    }
    return out;
}

PassphraseOutcome ask_passphrase(const PromptPrograms &programs, const std::string &question,
                                 std::chrono::milliseconds timeout, const std::atomic<bool> &cancel) {
    if (programs.askpass.empty())
        return {PromptAnswer::unavailable, {},
                "no askpass program to ask the passphrase with: set SSH_ASKPASS for the user manager "
                "(systemctl --user set-environment) or [consent] askpass"};
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return {PromptAnswer::unavailable, {}, "cannot make a pipe"};
    UniqueFd out_r(out[0]), out_w(out[1]);
    UniqueFd null = dev_null();
    std::string why;
    Child child({programs.askpass, question}, {}, null.get(), out_w.get(), &why);
    out_w.reset();
    if (!child.started()) return {PromptAnswer::unavailable, {}, why};
    const int status = child.wait_until(Clock::now() + timeout, cancel);
    if (status < 0) return {PromptAnswer::timed_out, {}, programs.askpass + " gave no answer in time"};
    if (status != 0) return {PromptAnswer::no, {}, programs.askpass};
    // It has exited: what it wrote is in the pipe. Non-blocking, in case it
    // left a process of its own holding the pipe open.
    ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
    try {
        return {PromptAnswer::yes, read_passphrase_fd(out_r.get(), programs.askpass), programs.askpass};
    } catch (const Error &e) {
        return {PromptAnswer::no, {}, programs.askpass + ": " + e.why()};
    }
}

PromptPrograms find_prompt_programs(const std::string &askpass, const std::string &pinentry,
                                    const char *env_askpass) {
    PromptPrograms p;
    for (const std::string &candidate :
         {askpass, std::string(env_askpass ? env_askpass : ""), std::string("/usr/bin/ssh-askpass"),
          std::string("/usr/lib/ssh/x11-ssh-askpass"), std::string("/usr/lib/openssh/gnome-ssh-askpass")})
        if (executable(candidate)) {
            p.askpass = candidate;
            break;
        }
    p.pinentry = !pinentry.empty() ? (executable(pinentry) ? pinentry : std::string()) : in_path("pinentry");
    return p;
}

PromptOutcome ask_confirm(const PromptPrograms &programs, const std::string &question,
                          std::chrono::milliseconds timeout, const std::atomic<bool> &cancel) {
    const auto until = Clock::now() + timeout;
    if (!programs.askpass.empty()) return askpass_confirm(programs.askpass, question, until, cancel);
    if (!programs.pinentry.empty()) return pinentry_confirm(programs.pinentry, question, until, cancel);
    return {PromptAnswer::unavailable,
            "no program to ask with: set SSH_ASKPASS for the user manager (systemctl --user set-environment), "
            "[consent] askpass, or install a pinentry"};
}

} // namespace puddle::agent
