// Where `join` and `rekey --from` get the pairing code: the terminal by
// default, --code-fd N in scripts, and --code on the command line only with
// a warning. The command line is readable by every local user
// (/proc/PID/cmdline) for as long as the command runs -- while it waits for
// the passphrase, too -- and whoever claims a code first gets the
// passphrase-wrapped key to attack offline.
#pragma once

#include "cli/args.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace puddle::cli {

// The code's line as read, before it is checked: a code is 9 bytes, so a
// line longer than this is not one (and is not read further).
inline constexpr std::size_t kMaxCodeLineBytes = 64;

// Pure: the line as typed or read (trailing CR and surrounding blanks
// dropped), if it is a code (8 digits, NNNN-NNNN or NNNNNNNN).
std::optional<std::string> parse_code_line(std::string_view line);

// Overwrites the value of --code in this process's own argument strings
// (what /proc/PID/cmdline shows) with '*': the warning stays true -- a reader
// quicker than puddle's start, or the shell's history, has it -- but the
// process list no longer shows it while join waits for the passphrase.
// `argv` as main() got it; the verb's copy of the arguments is made before.
void blank_code_in_command_line(int argc, char **argv);

// Refuses --code with --code-fd (a usage error): called with the other
// checks of the options, before the verb opens or asks anything.
void check_code_options(const Args &args, const std::string &verb);

// The code for `verb`, from --code-fd, the terminal or --code (with the
// warning on stderr). Both --code and --code-fd: a usage error. A line that
// is not a code: exit 2 naming where it came from. The caller has checked
// --code-fd with check_fd_options already.
std::string pairing_code(const Args &args, const std::string &verb);

} // namespace puddle::cli
