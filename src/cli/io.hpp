// Small I/O helpers shared by verbs: input files, signatures, config
// warnings, error printing.
#pragma once

#include "core/config.hpp"
#include "core/encoding.hpp"
#include "core/identity.hpp"
#include "core/statedir.hpp"
#include "util/error.hpp"

#include <string>

namespace puddle::cli {

// Creates `path` 0600 with `text`, never over an existing file (it may be
// someone's only copy of something), and syncs it. `what` names the content
// in messages ("the export", "the envelope").
void write_new_file(const std::string &path, std::string_view text, const std::string &what);

// Reads FILE, or standard input for "-"; more than max_bytes is refused
// (usage error naming the limit) without reading on.
Bytes read_input(const std::string &path, std::size_t max_bytes = SIZE_MAX);
// Accepts base64 (88 characters) or hex (128 digits); usage error otherwise.
Signature decode_signature(const std::string &text);
// load_config() with its warnings printed to stderr.
// Verbs that act with the configuration refuse a file with an error (the
// default); verbs that only report pass skip_file and go on without it.
Config load_config_reporting(ConfigErrors errors = ConfigErrors::refuse, std::optional<Error> *problem = nullptr);
// "puddle: what: why" and "hint: ...", each one line (control characters
// and stray bytes escaped, cut at 1 KiB).
void print_error(const Error &e);
void print_warning(const std::string &text);
void print_notice(const std::string &text);
// An argument or value echoed in a message: quoted, escaped, cut short.
std::string quoted(const std::string &s);
// A state directory that did not exist when the command started: if the
// command ends with nothing in it but .lock (it failed early), it is removed
// again, so a failed init or join leaves no trace.
class CreatedDirCleanup {
public:
    explicit CreatedDirCleanup(StateDir dir) : dir_(std::move(dir)), armed_(!dir_.exists()) {}
    ~CreatedDirCleanup() {
        if (armed_) dir_.remove_if_only_lock();
    }
    CreatedDirCleanup(const CreatedDirCleanup &) = delete;
    CreatedDirCleanup &operator=(const CreatedDirCleanup &) = delete;
    void keep() { armed_ = false; }

private:
    StateDir dir_;
    bool armed_;
};

// Colour only when stdout is a terminal and NO_COLOR is unset.
bool use_colour();

} // namespace puddle::cli
