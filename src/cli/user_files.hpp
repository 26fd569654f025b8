// The user's own files and programs, for `puddle setup`: where home,
// configuration and runtime directories are, reading and atomically
// replacing a dotfile (where a symlink points, keeping its mode), and running
// a program for its output. No knowledge of what the files mean.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace puddle::cli {

std::string home_dir();
std::string config_home();  // $XDG_CONFIG_HOME, else ~/.config
std::string runtime_dir();  // $XDG_RUNTIME_DIR, else /run/user/UID
// `path` with ~ for the home directory, for messages.
std::string shown(const std::string &path);
std::string dirname_of(const std::string &path);
std::string basename_of(const std::string &path);
bool exists(const std::string &path); // lstat: a dangling symlink exists
// Where a symlink points (a dotfiles repository), so the link stays; the
// path itself when it cannot be resolved.
std::string resolved(const std::string &path);
// nullopt when absent; over 4 MiB or unreadable is an Error.
std::optional<std::string> read_text(const std::string &path);
mode_t mode_of(const std::string &path, mode_t fallback);
// Temporary file beside it, fsync, rename, fsync of the directory; an
// existing file's mode is kept, a new one gets `new_mode`.
void write_text(const std::string &path, const std::string &text, mode_t new_mode);
void remove_file(const std::string &path); // absent is fine
// Creates the directory with `mode` if missing; true if it did.
bool make_dir(const std::string &path, mode_t mode);

struct Ran {
    int status = -1; // exit status, -1 when it could not run
    std::string out;
};
// argv (looked up in PATH) with its standard output captured, standard error passed through.
Ran run_capture(const std::vector<std::string> &argv);

} // namespace puddle::cli
