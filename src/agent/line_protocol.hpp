// The agent.sock line protocol (SPEC §6.3), as pure functions: one line in,
// one request or error out; replies formatted. No sockets here, so the fuzz
// target and unit tests call these directly.
#pragma once

#include "agent/api.hpp"
#include "core/encoding.hpp"

#include <string>
#include <string_view>
#include <variant>

namespace puddle::agent {

inline constexpr std::size_t kMaxLineBytes = 65536; // without the LF

const char *err_code_name(ErrCode c);

struct SignRequest { Bytes data; };
struct StatusRequest {};
struct PubkeyRequest {};
struct LockRequest {};
struct LineError {
    ErrCode code;
    std::string text;
};

using LineRequest = std::variant<SignRequest, StatusRequest, PubkeyRequest, LockRequest, LineError>;

// `line` excludes the terminating LF. A trailing CR is tolerated so the
// protocol can be typed by hand through tools that send CRLF.
LineRequest parse_line(std::string_view line);

std::string format_ok(std::string_view payload = {}); // "OK[ payload]\n"
std::string format_err(ErrCode code, std::string_view text);

} // namespace puddle::agent
