#include "core/statedir.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace puddle {
namespace {

constexpr std::string_view kTempPrefix = ".tmp-";

std::string octal_mode(mode_t m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", unsigned(m & 07777));
    return buf;
}

std::string user_name(uid_t uid) {
    if (auto *pw = ::getpwuid(uid)) return pw->pw_name;
    return std::to_string(uid);
}

// Another user's file or directory cannot be chowned back by the user, and a
// shared directory (/tmp) must not be chmod-ed: say what they can do.
const char *kOwnDirHint = "use a directory of your own: set PUDDLE_HOME to one, or unset it for ~/.puddle";

void check_owner_and_mode(const std::string &path, const struct stat &st, const char *kind,
                          mode_t fix_mode) {
    const bool directory = std::string_view(kind) == "directory";
    if (st.st_uid != ::geteuid())
        throw Error(Failure::failed, "refusing to use " + path,
                    std::string(kind) + " is owned by " + user_name(st.st_uid) + ", not by you",
                    directory ? std::string(kOwnDirHint)
                              : "find out who wrote it; to keep it, as root: chown " + user_name(::geteuid()) + " " + path);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        throw Error(Failure::failed, "refusing to use " + path,
                    std::string(kind) + " is writable by " +
                        ((st.st_mode & S_IWOTH) ? "others" : "its group") + " (mode " +
                        octal_mode(st.st_mode) + ")",
                    directory && (st.st_mode & S_ISVTX) ? std::string(kOwnDirHint)
                                                        : "chmod " + octal_mode(fix_mode).substr(1) + " " + path);
}

} // namespace

void write_all(int fd, const std::uint8_t *p, std::size_t n, const std::string &path) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot write " + path, errno);
        }
        p += w;
        n -= std::size_t(w);
    }
}

void check_file_safe(const std::string &path, const struct stat &st, mode_t fix_mode) {
    check_owner_and_mode(path, st, "file", fix_mode);
}

StateDir StateDir::locate() {
    if (const char *h = std::getenv("PUDDLE_HOME"); h && *h) return StateDir(h);
    const char *home = std::getenv("HOME");
    std::string base;
    if (home && *home) base = home;
    else if (auto *pw = ::getpwuid(::geteuid())) base = pw->pw_dir;
    else
        throw Error(Failure::failed, "cannot find the state directory", "neither $PUDDLE_HOME nor $HOME is set",
                    "set PUDDLE_HOME to a directory of your own");
    return StateDir(base + "/.puddle");
}

bool StateDir::exists() const {
    struct stat st;
    return ::stat(path_.c_str(), &st) == 0;
}

void StateDir::create() {
    std::string partial;
    for (std::size_t pos = 1;; ++pos) {
        pos = path_.find('/', pos);
        partial = path_.substr(0, pos);
        if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
            throw_errno("cannot create " + partial, errno);
        if (pos == std::string::npos) break;
    }
}

void StateDir::check_safe() const {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) throw_errno("cannot use state directory " + path_, errno);
    if (!S_ISDIR(st.st_mode))
        throw Error(Failure::failed, "cannot use state directory " + path_, "it is not a directory",
                    "move it away, or set PUDDLE_HOME to another directory");
    check_owner_and_mode(path_, st, "directory", 0700);
    // SPEC §3: 0700. Without rwx for the owner every command would fail on
    // some file inside with a message naming that file, not the directory.
    if ((st.st_mode & S_IRWXU) != S_IRWXU)
        throw Error(Failure::failed, "refusing to use state directory " + path_,
                    "its mode " + octal_mode(st.st_mode) + " denies you access", "chmod 700 " + path_);
    // Readable or searchable by others: the public file names and sizes
    // leak, and it is not what puddle made; init repairs it (repair_mode).
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        throw Error(Failure::failed, "refusing to use state directory " + path_,
                    "its mode is " + octal_mode(st.st_mode) + ", not 0700",
                    "chmod 700 " + path_ + " (puddle init does this for you)");
    check_parents();
}

bool StateDir::repair_mode() const {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return false;
    // Writable by others is not repaired: someone else may have put files
    // in it. Only read/search bits are taken away.
    if ((st.st_mode & 07777) == 0700 || (st.st_mode & (S_IWGRP | S_IWOTH))) return false;
    if (::chmod(path_.c_str(), 0700) != 0) throw_errno("cannot chmod 700 " + path_, errno);
    return true;
}

void StateDir::check_parents() const {
    // As OpenSSH's StrictModes: whoever may replace a parent directory may
    // replace the state directory. Each parent must belong to root or the
    // user and be writable by no one else -- up to the home directory, or
    // up to / for a state directory elsewhere, where a root-owned sticky
    // directory (/tmp) is accepted as the kernel keeps others from renaming
    // what is ours in it.
    const char *home = std::getenv("HOME");
    const std::string stop = home && *home == '/' ? std::string(home) : std::string();
    std::string p = path_;
    while (p.size() > 1) {
        auto slash = p.find_last_of('/');
        p = slash == 0 ? "/" : p.substr(0, slash);
        struct stat st;
        if (::stat(p.c_str(), &st) != 0) throw_errno("cannot check " + p + ", a parent of " + path_, errno);
        if (st.st_uid != 0 && st.st_uid != ::getuid())
            throw Error(Failure::failed, "refusing to use state directory " + path_,
                        "its parent " + p + " belongs to " + user_name(st.st_uid) + ", who could replace it",
                        "use a state directory under a directory of your own (PUDDLE_HOME)");
        const bool sticky_root = st.st_uid == 0 && (st.st_mode & S_ISVTX);
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_root) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
            throw Error(Failure::failed, "refusing to use state directory " + path_,
                        "its parent " + p + " is writable by others (mode " + mode + ")", "chmod go-w " + p);
        }
        if (p == stop) break;
    }
}

bool StateDir::has(const std::string &name) const {
    struct stat st;
    return ::lstat(file(name).c_str(), &st) == 0;
}

Bytes StateDir::read(const std::string &name, std::size_t max_bytes, FileTrust trust, Failure oversize) const {
    const std::string p = file(name);
    // Relative to the directory, never through a symbolic link (for any
    // file: a link would let whoever controls its target choose what puddle
    // reads). O_NONBLOCK: opening a FIFO someone left in its place must not
    // hang (status, the listener, the agent's Health); it is refused below
    // as not a regular file. Reads of a regular file ignore the flag.
    UniqueFd d(::open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!d) throw_errno("cannot open " + path_, errno);
    UniqueFd fd(::openat(d.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW));
    if (!fd) {
        if (errno == ELOOP)
            throw Error(Failure::failed, "refusing to read " + p, "it is a symbolic link",
                        "replace the link with the file itself");
        throw_errno("cannot read " + p, errno);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw_errno("cannot stat " + p, errno);
    if (!S_ISREG(st.st_mode)) throw Error(Failure::failed, "cannot read " + p, "not a regular file");
    if (trust != FileTrust::unchecked) check_file_safe(p, st, trust == FileTrust::public_file ? 0644 : 0600);
    if (std::size_t(st.st_size) > max_bytes)
        throw Error(oversize, "cannot read " + p,
                    "file is " + std::to_string(st.st_size) + " bytes, more than the " +
                        std::to_string(max_bytes) + " it may hold",
                    "restore it from another of your machines or a backup");
    Bytes out(max_bytes + 1);
    std::size_t got = 0;
    while (got < out.size()) {
        ssize_t r = ::read(fd.get(), out.data() + got, out.size() - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot read " + p, errno);
        }
        if (r == 0) break;
        got += std::size_t(r);
    }
    if (got > max_bytes)
        throw Error(oversize, "cannot read " + p,
                    "file holds more than the " + std::to_string(max_bytes) + " bytes it may hold");
    out.resize(got);
    return out;
}

void StateDir::write_atomic(const std::string &name, std::span<const std::uint8_t> data, mode_t mode) const {
    std::string tmpl = file(std::string(kTempPrefix) + name + "-XXXXXX");
    UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd) throw_errno("cannot create a temporary file in " + path_, errno);
    try {
        if (::fchmod(fd.get(), mode) != 0) throw_errno("cannot set the mode of " + tmpl, errno);
        write_all(fd.get(), data.data(), data.size(), tmpl);
        if (::fsync(fd.get()) != 0) throw_errno("cannot sync " + tmpl, errno);
        fd.reset();
        if (::rename(tmpl.c_str(), file(name).c_str()) != 0) throw_errno("cannot replace " + file(name), errno);
    } catch (...) {
        ::unlink(tmpl.c_str());
        throw;
    }
    sync_dir();
}

void StateDir::remove(const std::string &name) const {
    if (::unlink(file(name).c_str()) != 0) {
        if (errno == ENOENT) return;
        throw_errno("cannot remove " + file(name), errno);
    }
    sync_dir();
}

void StateDir::sync_dir() const {
    UniqueFd d(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d || ::fsync(d.get()) != 0) throw_errno("cannot sync directory " + path_, errno);
}

bool StateDir::remove_if_only_lock() const {
    bool only_lock = true;
    if (!for_each_entry([&](int, const char *name) {
            std::string_view n = name;
            if (n != "." && n != ".." && n != ".lock") only_lock = false;
        }))
        return false;
    if (!only_lock) return false;
    ::unlink(file(".lock").c_str());
    return ::rmdir(path_.c_str()) == 0;
}

bool StateDir::remove_stale_temporaries() const {
    bool removed = false;
    for_each_entry([&](int dir_fd, const char *name) {
        if (std::string_view(name).starts_with(kTempPrefix)) removed |= ::unlinkat(dir_fd, name, 0) == 0;
    });
    if (removed) sync_dir();
    return removed;
}

bool StateDir::for_each_entry(const std::function<void(int dir_fd, const char *name)> &visit) const {
    DIR *d = ::opendir(path_.c_str());
    if (!d) return false;
    while (auto *e = ::readdir(d)) visit(::dirfd(d), e->d_name);
    ::closedir(d);
    return true;
}

std::optional<StateLock> StateLock::try_take(const StateDir &dir) {
    const std::string p = dir.file(".lock");
    UniqueFd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw_errno("cannot open lock file " + p, errno);
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return std::nullopt;
        if (errno != EINTR) throw_errno("cannot lock " + p, errno);
    }
    return StateLock(std::move(fd));
}

StateLock::StateLock(UniqueFd locked) : fd_(std::move(locked)) {}

StateLock::StateLock(const StateDir &dir) {
    const std::string p = dir.file(".lock");
    fd_.reset(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd_) throw_errno("cannot open lock file " + p, errno);
    while (::flock(fd_.get(), LOCK_EX) != 0)
        if (errno != EINTR) throw_errno("cannot lock " + p, errno);
}

} // namespace puddle
