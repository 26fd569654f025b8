// Where a verb gets a passphrase: --passphrase-fd / --new-passphrase-fd, or
// the terminal.
#pragma once

#include "cli/args.hpp"
#include "core/secret.hpp"

#include <initializer_list>

namespace puddle::cli {

// Checks that every given --*-fd option names an open descriptor, before the
// verb opens anything (its own files would otherwise take those numbers):
// "--passphrase-fd 3: that file descriptor is not open", exit 2.
void check_fd_options(const Args &args, std::initializer_list<const char *> options);
// Current passphrase: from --passphrase-fd, else asked once on the terminal.
SecretBuffer current_passphrase(const Args &args, const std::string &prompt = "Passphrase");
// A passphrase being set: from `fd_option`, else asked twice on the terminal.
SecretBuffer new_passphrase(const Args &args, const std::string &fd_option, const std::string &prompt);

} // namespace puddle::cli
