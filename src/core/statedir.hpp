// The state directory (SPEC §3): where it is, whether it is safe to use, and
// atomic, fsynced file replacement inside it.
#pragma once

#include "core/encoding.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <functional>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>

namespace puddle {

// What StateDir::read checks of a file's owner and modes. Every file of the
// state directory is written only by its user, who alone may write it:
// private files (secrets, state) are also read by nobody else (a chmod hint
// restores 0600), public ones (identity.pub) are readable by all (0644).
// Unchecked: files whose content is verified by its own signature (name
// claims, which other users publish too).
enum class FileTrust { private_file, public_file, unchecked };

class StateDir {
public:
    // $PUDDLE_HOME, else $HOME/.puddle, else the passwd entry's home.
    static StateDir locate();
    explicit StateDir(std::string path) : path_(std::move(path)) {}

    const std::string &path() const noexcept { return path_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

    bool exists() const;
    // Creates the directory 0700 if missing (parents as needed, 0700 too).
    void create();
    // Refuses a directory owned by another user or writable by group/others
    // (StrictModes), naming the path and the fix. Throws Error(Failure::failed).
    void check_safe() const;
    // Takes read/search bits for group and others off a directory of the
    // user's (0755 -> 0700); true if it changed. For init only: every other
    // command refuses such a directory.
    bool repair_mode() const;
    // Removes a directory that holds nothing but .lock (what a command that
    // created it and then failed leaves); true if removed.
    bool remove_if_only_lock() const;
    // Part of check_safe: the parents, as OpenSSH's StrictModes does.
    void check_parents() const;

    bool has(const std::string &name) const;
    // Reads a whole file, refusing a symlink, more than max_bytes (an Error
    // with `oversize`: a failure, or for the identity's own files a damaged
    // identity, exit 5) and, as `trust` says, unsafe owner or modes.
    Bytes read(const std::string &name, std::size_t max_bytes, FileTrust trust,
               Failure oversize = Failure::failed) const;
    // Temporary file in the same directory, fsync, rename, fsync directory.
    void write_atomic(const std::string &name, std::span<const std::uint8_t> data, mode_t mode) const;
    void remove(const std::string &name) const; // durable; absent is fine
    void sync_dir() const;

    // Removes temporary files left by an interrupted write; true if there
    // were any. Call under StateLock.
    bool remove_stale_temporaries() const;

private:
    // Calls `visit` for each directory entry (with the directory's fd, for
    // *at calls); false when the directory cannot be opened.
    bool for_each_entry(const std::function<void(int dir_fd, const char *name)> &visit) const;
    std::string path_;
};

// An exclusive advisory lock on <state>/.lock for the duration of a change,
// so two puddle commands never interleave writes or recovery.
class StateLock {
public:
    explicit StateLock(const StateDir &dir);
    // The lock if nobody holds it now, nullopt otherwise; never waits.
    static std::optional<StateLock> try_take(const StateDir &dir);

private:
    explicit StateLock(UniqueFd locked);
    UniqueFd fd_;
};

// write(2) until all of it is written; throws naming `path`.
void write_all(int fd, const std::uint8_t *p, std::size_t n, const std::string &path);

// Rejects a file owned by someone else or writable by group/others; the
// hint's chmod restores `fix_mode`.
void check_file_safe(const std::string &path, const struct stat &st, mode_t fix_mode);

} // namespace puddle
