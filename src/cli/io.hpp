// Small I/O helpers shared by verbs: input files, signatures, config
// warnings, error printing.
#pragma once

#include "core/config.hpp"
#include "core/encoding.hpp"
#include "core/identity.hpp"
#include "util/error.hpp"

#include <string>

namespace puddle::cli {

// Reads FILE, or standard input for "-".
Bytes read_input(const std::string &path);
// Accepts base64 (88 characters) or hex (128 digits); usage error otherwise.
Signature decode_signature(const std::string &text);
// load_config() with its warnings printed to stderr.
Config load_config_reporting();
void print_error(const Error &e);
// Colour only when stdout is a terminal and NO_COLOR is unset.
bool use_colour();

} // namespace puddle::cli
