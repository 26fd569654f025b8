// Logging to stderr with sd-daemon priority prefixes, which the journal (or
// the user manager's log) turns into priorities. One line per event: what
// happened and why.
#pragma once

#include <string>

namespace puddle {

enum class LogLevel { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

void log(LogLevel level, const std::string &message);
inline void log_error(const std::string &m) { log(LogLevel::error, m); }
inline void log_warning(const std::string &m) { log(LogLevel::warning, m); }
inline void log_info(const std::string &m) { log(LogLevel::info, m); }

} // namespace puddle
