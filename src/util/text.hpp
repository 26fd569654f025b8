// Values from files, peers and the command line, rendered for messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace puddle {

// Unix seconds as local ISO 8601 time with its offset,
// "2026-12-07T14:05:00+01:00": for log lines and messages, where a raw
// epoch means nothing to a reader.
std::string local_iso_time(std::int64_t unix_seconds);

// Quoted, printable ASCII only (other bytes as \xNN), at most 40 characters
// then "...": a hostile value can neither flood nor drive a terminal.
std::string quote_for_message(std::string_view s);

// Length of the well-formed UTF-8 sequence at s[0] (1 to 4), or 0 when the
// bytes there are not one (overlong forms and surrogates included).
std::size_t utf8_sequence_length(std::string_view s);

// Text for one line of a terminal: valid UTF-8 kept, control characters and
// bytes that are not UTF-8 as \xNN (so a newline or an escape code in a path
// cannot break the line or drive the terminal), cut after `max` bytes with
// "...".
std::string printable(std::string_view s, std::size_t max = 1024);

// A name a peer controls (an executable's path, a unit, a host) as one line
// of printable ASCII for a prompt or a record line: printable ASCII kept, a
// backslash doubled, every other byte as \xNN (newlines, escape codes, C1
// controls, bidi overrides and other Unicode that could fake a line or
// reorder one), cut after `max` bytes of output with "...". Injective below
// the cap, so two names never look alike unless one was cut.
std::string one_line_label(std::string_view s, std::size_t max = 256);

// The same text as valid UTF-8, each byte that is not part of a well-formed
// sequence replaced by U+FFFD (JSON must be UTF-8; a path need not be).
std::string valid_utf8(std::string_view s);

} // namespace puddle
