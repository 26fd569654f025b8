#include "cli/user_files.hpp"

#include "core/statedir.hpp"
#include "util/error.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace puddle::cli {

namespace {
constexpr std::size_t kMaxDotfileBytes = 4 << 20;
} // namespace

std::string home_dir() {
    if (const char *h = std::getenv("HOME"); h && *h) return h;
    if (const passwd *pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
    throw Error(Failure::failed, "cannot find your home directory", "HOME is unset and there is no passwd entry",
                "set HOME");
}

std::string config_home() {
    if (const char *x = std::getenv("XDG_CONFIG_HOME"); x && *x == '/') return x;
    return home_dir() + "/.config";
}

std::string runtime_dir() {
    if (const char *x = std::getenv("XDG_RUNTIME_DIR"); x && *x == '/') return x;
    return "/run/user/" + std::to_string(getuid());
}

// Where ~ abbreviates, for messages.
std::string shown(const std::string &path) {
    const std::string home = home_dir();
    if (path.size() > home.size() && path.compare(0, home.size(), home) == 0 && path[home.size()] == '/')
        return "~" + path.substr(home.size());
    return path;
}

std::string dirname_of(const std::string &path) {
    const auto slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string basename_of(const std::string &path) { return path.substr(path.rfind('/') + 1); }

bool exists(const std::string &path) {
    struct stat st{};
    return ::lstat(path.c_str(), &st) == 0;
}

// A dotfile kept as a symlink (a dotfiles repository) is edited where it
// points, so the link stays.
std::string resolved(const std::string &path) {
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf)) return buf;
    return path;
}

std::optional<std::string> read_text(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw Error(Failure::failed, "cannot read " + path, std::strerror(errno), "check its owner and modes");
    }
    std::string text;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            throw Error(Failure::failed, "cannot read " + path, std::strerror(e));
        }
        if (n == 0) break;
        text.append(buf, std::size_t(n));
        if (text.size() > kMaxDotfileBytes) {
            ::close(fd);
            throw Error(Failure::failed, "cannot edit " + path, "it is over 4 MiB", "check that it is the file you mean");
        }
    }
    ::close(fd);
    return text;
}

mode_t mode_of(const std::string &path, mode_t fallback) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : fallback;
}

// Temporary file beside it, fsync, rename, fsync of the directory; the
// file's mode is kept.
void write_text(const std::string &path, const std::string &text, mode_t new_mode) {
    StateDir(dirname_of(path)).write_atomic(basename_of(path), as_bytes(text), mode_of(path, new_mode));
}

void remove_file(const std::string &path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw Error(Failure::failed, "cannot remove " + path, std::strerror(errno));
}

bool make_dir(const std::string &path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) == 0) return true;
    if (errno == EEXIST) return false;
    throw Error(Failure::failed, "cannot create " + path, std::strerror(errno), "check the modes of its parent");
}


// argv with its standard output captured (standard error passed through).
Ran run_capture(const std::vector<std::string> &argv) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) throw Error(Failure::failed, "cannot run " + argv[0], std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    std::vector<char *> args;
    for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(pipefd[1]);
    Ran r;
    if (rc != 0) {
        ::close(pipefd[0]);
        return r;
    }
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (r.out.size() < 65536) r.out.append(buf, std::size_t(n));
    }
    ::close(pipefd[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return r;
}

} // namespace puddle::cli
