#include "util/text.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace puddle {

std::string quote_for_message(std::string_view s) {
    constexpr std::size_t kMax = 40;
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
        const unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += char(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (s.size() > kMax) out += "...";
    out += '"';
    return out;
}

} // namespace puddle

namespace puddle {

std::size_t utf8_sequence_length(std::string_view s) {
    if (s.empty()) return 0;
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    std::size_t n;
    unsigned lo = 0x80, hi = 0xbf; // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;      // overlong
        else if (c == 0xed) hi = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;      // overlong
        else if (c == 0xf4) hi = 0x8f; // above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i)
        if (b(i) < 0x80 || b(i) > 0xbf) return 0;
    return n;
}

std::string printable(std::string_view s, std::size_t max) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size() && out.size() < max) {
        const unsigned char c = s[i];
        const std::size_t n = utf8_sequence_length(s.substr(i));
        if (n > 1 || (n == 1 && c >= 0x20 && c != 0x7f)) {
            out.append(s.substr(i, n));
            i += n;
            continue;
        }
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
        ++i;
    }
    if (i < s.size()) out += "...";
    return out;
}

std::string one_line_label(std::string_view s, std::size_t max) {
    // Made for every signature's record (program and unit): no formatting
    // calls per character (the profile found them a tenth of the agent's time).
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(s.size(), max) + 3);
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        const unsigned char c = s[i];
        char buf[4];
        std::size_t n = 0;
        if (c == '\\') buf[n++] = '\\', buf[n++] = '\\';
        else if (c >= 0x20 && c < 0x7f) buf[n++] = char(c);
        else buf[n++] = '\\', buf[n++] = 'x', buf[n++] = kHex[c >> 4], buf[n++] = kHex[c & 15];
        if (out.size() + n > max) break;
        out.append(buf, n);
    }
    if (i < s.size()) out += "...";
    return out;
}

std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s.substr(i));
        if (n) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    return out;
}

std::string local_iso_time(std::int64_t unix_seconds) {
    const std::time_t t = std::time_t(unix_seconds);
    struct tm tm;
    if (!localtime_r(&t, &tm)) return std::to_string(unix_seconds);
    char buf[40];
    if (!std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm)) return std::to_string(unix_seconds);
    std::string out = buf; // %z is +hhmm; ISO 8601's extended form has +hh:mm
    if (out.size() >= 5) out.insert(out.size() - 2, ":");
    return out;
}

} // namespace puddle
