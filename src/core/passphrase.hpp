// Passphrases: read from a file descriptor up to the first newline, or from
// the controlling terminal with echo off. Always into locked memory.
#pragma once

#include "core/secret.hpp"

#include <string>

namespace puddle {

inline constexpr std::size_t kMaxPassphraseBytes = 1024;

// Reads byte by byte so that nothing after the newline is consumed (a caller
// may hand several lines through one pipe). Empty and over-long passphrases
// are refused with Error(Failure::invalid_argument/failed). `what` names the fd in errors.
SecretBuffer read_passphrase_fd(int fd, const std::string &what);

// Prompts on /dev/tty with echo off. With confirm, asks twice and refuses a
// mismatch. Without a terminal, fails at once naming the option to use.
SecretBuffer read_passphrase_tty(const std::string &prompt, bool confirm, const std::string &fd_option);

} // namespace puddle
