#include "agent/line_protocol.hpp"

namespace puddle::agent {

const char *err_code_name(ErrCode c) {
    switch (c) {
    case ErrCode::locked: return "locked";
    case ErrCode::denied: return "denied";
    case ErrCode::not_initialized: return "not-initialized";
    case ErrCode::bad_request: return "bad-request";
    case ErrCode::too_large: return "too-large";
    case ErrCode::reserved_prefix: return "reserved-prefix";
    case ErrCode::internal: return "internal";
    }
    return "internal";
}

LineRequest parse_line(std::string_view line) {
    if (line.size() > kMaxLineBytes)
        return LineError{ErrCode::too_large, "line exceeds " + std::to_string(kMaxLineBytes) + " bytes"};
    if (line.ends_with('\r')) line.remove_suffix(1);
    for (unsigned char c : line)
        if (c < 0x20 || c == 0x7f)
            return LineError{ErrCode::bad_request, "control character in request"};
    auto space = line.find(' ');
    std::string_view verb = line.substr(0, space);
    std::string_view arg = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    const bool has_arg = space != std::string_view::npos;

    if (verb == "SIGN") {
        if (!has_arg) return LineError{ErrCode::bad_request, "SIGN needs base64 data"};
        auto data = from_base64(arg);
        if (!data) return LineError{ErrCode::bad_request, "SIGN data is not valid base64"};
        return SignRequest{std::move(*data)};
    }
    if (verb == "STATUS" || verb == "PUBKEY" || verb == "LOCK") {
        if (has_arg) return LineError{ErrCode::bad_request, std::string(verb) + " takes no argument"};
        if (verb == "STATUS") return StatusRequest{};
        if (verb == "PUBKEY") return PubkeyRequest{};
        return LockRequest{};
    }
    if (line.empty()) return LineError{ErrCode::bad_request, "empty request"};
    return LineError{ErrCode::bad_request, "unknown request (expected SIGN, STATUS, PUBKEY or LOCK)"};
}

std::string format_ok(std::string_view payload) {
    std::string out = "OK";
    if (!payload.empty()) {
        out += ' ';
        out += payload;
    }
    out += '\n';
    return out;
}

std::string format_err(ErrCode code, std::string_view text) {
    std::string out = "ERR ";
    out += err_code_name(code);
    if (!text.empty()) {
        out += ' ';
        out += text;
    }
    out += '\n';
    return out;
}

} // namespace puddle::agent
