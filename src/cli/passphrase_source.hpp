// Where a verb gets a passphrase: --passphrase-fd / --new-passphrase-fd, or
// the terminal.
#pragma once

#include "cli/args.hpp"
#include "core/secret.hpp"

namespace puddle::cli {

// Current passphrase: from --passphrase-fd, else asked once on the terminal.
SecretBuffer current_passphrase(const Args &args, const std::string &prompt = "Passphrase");
// A passphrase being set: from `fd_option`, else asked twice on the terminal.
SecretBuffer new_passphrase(const Args &args, const std::string &fd_option, const std::string &prompt);

} // namespace puddle::cli
