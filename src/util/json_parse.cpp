// The strict JSON parser (RFC 8259, integers only) behind parse_json().
// A recursive descent over the text; a failure is thrown inside the parser as
// (offset, message) and turned into "line L, column C: message" at the edge.
#include "util/json.hpp"
#include "util/text.hpp"

#include <cstdio>
#include <unordered_set>

namespace puddle {
namespace {

struct ParseFailure {
    std::size_t at;
    std::string message;
};

std::string hex_byte(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", c);
    return buf;
}

std::string hex4(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04x", unsigned(v));
    return buf;
}

void append_utf8(std::string &out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Parser {
public:
    Parser(std::string_view text, const JsonLimits &limits) : s_(text), limits_(limits) {}

    Json document() {
        if (s_.starts_with("\xEF\xBB\xBF"))
            fail(0, "a byte order mark is not allowed before the JSON value");
        skip_ws();
        Json v = value(0);
        skip_ws();
        if (pos_ < s_.size()) fail(pos_, "unexpected " + found() + " after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(std::size_t at, std::string message) {
        throw ParseFailure{at, std::move(message)};
    }

    // The character at pos_, described for a message.
    std::string found() const {
        if (pos_ >= s_.size()) return "the end of the text";
        const unsigned char c = s_[pos_];
        if (c >= 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
        return "byte " + hex_byte(c);
    }

    bool next_is(char c) const { return pos_ < s_.size() && s_[pos_] == c; }

    void skip_ws() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }

    // depth: how many containers enclose this value.
    Json value(int depth) {
        if (++count_ > limits_.max_elements)
            fail(pos_, "more than " + std::to_string(limits_.max_elements) + " values in the document");
        if (pos_ >= s_.size()) fail(pos_, "expected a JSON value, found the end of the text");
        switch (s_[pos_]) {
        case '{': return object(depth + 1);
        case '[': return array(depth + 1);
        case '"': return Json(string());
        case 't': literal("true"); return Json(true);
        case 'f': literal("false"); return Json(false);
        case 'n': literal("null"); return Json(nullptr);
        default:
            if (s_[pos_] == '-' || is_digit(s_[pos_])) return number();
            fail(pos_, "expected a JSON value, found " + found());
        }
    }

    void literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word)
            fail(pos_, "invalid literal (expected true, false or null)");
        pos_ += word.size();
    }

    void check_depth(int depth) {
        if (depth > limits_.max_depth)
            fail(pos_, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }

    Json object(int depth) {
        check_depth(depth);
        ++pos_; // '{'
        Json::Object members;
        std::unordered_set<std::string> keys;
        skip_ws();
        if (next_is('}')) {
            ++pos_;
            return Json(std::move(members));
        }
        for (;;) {
            if (!next_is('"'))
                fail(pos_, std::string(members.empty() ? "expected a string key or '}' after '{'"
                                                       : "expected a string key after ','") +
                               ", found " + found());
            const std::size_t key_at = pos_;
            std::string key = string();
            if (!keys.insert(key).second) fail(key_at, "duplicate object key " + quote_for_message(key));
            skip_ws();
            if (!next_is(':')) fail(pos_, "expected ':' after an object key, found " + found());
            ++pos_;
            skip_ws();
            Json v = value(depth);
            members.emplace_back(std::move(key), std::move(v));
            skip_ws();
            if (next_is(',')) {
                ++pos_;
                skip_ws();
                continue;
            }
            if (next_is('}')) {
                ++pos_;
                return Json(std::move(members));
            }
            fail(pos_, "expected ',' or '}' after an object member, found " + found());
        }
    }

    Json array(int depth) {
        check_depth(depth);
        ++pos_; // '['
        Json::Array elements;
        skip_ws();
        if (next_is(']')) {
            ++pos_;
            return Json(std::move(elements));
        }
        for (;;) {
            if (next_is(']')) fail(pos_, "expected a value after ',', found ']' (no trailing commas)");
            elements.push_back(value(depth));
            skip_ws();
            if (next_is(',')) {
                ++pos_;
                skip_ws();
                continue;
            }
            if (next_is(']')) {
                ++pos_;
                return Json(std::move(elements));
            }
            fail(pos_, "expected ',' or ']' after an array element, found " + found());
        }
    }

    Json number() {
        const std::size_t start = pos_;
        const bool negative = next_is('-');
        if (negative) {
            ++pos_;
            if (pos_ >= s_.size() || !is_digit(s_[pos_]))
                fail(pos_, "expected a digit after '-', found " + found());
        }
        if (s_[pos_] == '0' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]))
            fail(start, "leading zeros are not allowed");
        const std::uint64_t limit = negative ? std::uint64_t(1) << 63 : (std::uint64_t(1) << 63) - 1;
        std::uint64_t magnitude = 0;
        bool overflow = false;
        while (pos_ < s_.size() && is_digit(s_[pos_])) {
            const unsigned d = unsigned(s_[pos_] - '0');
            if (overflow || magnitude > (limit - d) / 10)
                overflow = true;
            else
                magnitude = magnitude * 10 + d;
            ++pos_;
        }
        if (next_is('.') || next_is('e') || next_is('E'))
            fail(start, "numbers must be integers (puddle's JSON has no fractions or exponents)");
        if (overflow) fail(start, "integer out of range (it must fit in 64 bits, signed)");
        if (!negative) return Json(std::int64_t(magnitude));
        if (magnitude == std::uint64_t(1) << 63) return Json(INT64_MIN);
        return Json(-std::int64_t(magnitude));
    }

    std::string string() {
        const std::size_t start = pos_;
        ++pos_; // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) fail(start, "unterminated string");
            const unsigned char c = s_[pos_];
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c == '\\') {
                escape(out);
            } else if (c < 0x20) {
                fail(pos_, "control character U+" + hex4(c) + " in a string (it must be escaped)");
            } else if (c < 0x80) {
                out += char(c);
                ++pos_;
            } else {
                const std::size_t n = utf8_sequence();
                out.append(s_.substr(pos_, n));
                pos_ += n;
            }
        }
    }

    // Checks the UTF-8 sequence at pos_ (RFC 3629) and returns its length.
    std::size_t utf8_sequence() {
        const std::size_t at = pos_;
        const unsigned char c = s_[at];
        std::size_t n = 0;
        unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
        const char *why_second = "incomplete multi-byte sequence";
        if (c < 0xC0) fail(at, "invalid UTF-8: unexpected continuation byte " + hex_byte(c));
        if (c < 0xC2) fail(at, "invalid UTF-8: overlong encoding (byte " + hex_byte(c) + ")");
        if (c < 0xE0) {
            n = 2;
        } else if (c < 0xF0) {
            n = 3;
            if (c == 0xE0) lo = 0xA0, why_second = "overlong encoding";
            if (c == 0xED) hi = 0x9F, why_second = "encoded surrogate (U+D800 to U+DFFF)";
        } else if (c < 0xF5) {
            n = 4;
            if (c == 0xF0) lo = 0x90, why_second = "overlong encoding";
            if (c == 0xF4) hi = 0x8F, why_second = "code point above U+10FFFF";
        } else {
            fail(at, "invalid UTF-8: byte " + hex_byte(c) + " (it would start a code point above U+10FFFF)");
        }
        for (std::size_t i = 1; i < n; ++i) {
            if (at + i >= s_.size()) fail(at, "invalid UTF-8: sequence cut short by the end of the text");
            const unsigned char b = s_[at + i];
            if (b < 0x80 || b > 0xBF) fail(at, "invalid UTF-8: incomplete multi-byte sequence");
            if (i == 1 && (b < lo || b > hi)) fail(at, std::string("invalid UTF-8: ") + why_second);
        }
        return n;
    }

    void escape(std::string &out) {
        const std::size_t at = pos_; // the backslash
        if (pos_ + 1 >= s_.size()) fail(at, "unterminated string");
        const char e = s_[pos_ + 1];
        switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u':
            pos_ += 2;
            unicode_escape(at, out);
            return;
        default:
            ++pos_;
            fail(at, "invalid escape: '\\' followed by " + found());
        }
        pos_ += 2;
    }

    // pos_ is just after "\u"; at is the backslash.
    std::uint32_t hex_digits(std::size_t at) {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i, ++pos_) {
            if (pos_ >= s_.size()) fail(at, "invalid \\u escape: expected 4 hex digits");
            const char c = s_[pos_];
            unsigned d;
            if (c >= '0' && c <= '9') d = unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = unsigned(c - 'A' + 10);
            else fail(at, "invalid \\u escape: expected 4 hex digits");
            v = v * 16 + d;
        }
        return v;
    }

    void unicode_escape(std::size_t at, std::string &out) {
        std::uint32_t cp = hex_digits(at);
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            fail(at, "lone low surrogate \\u" + hex4(cp) + " (it must follow a high surrogate)");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!(pos_ + 1 < s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u'))
                fail(at, "lone high surrogate \\u" + hex4(cp) + " (it must be followed by a \\u low surrogate)");
            const std::size_t second = pos_;
            pos_ += 2;
            const std::uint32_t low = hex_digits(second);
            if (low < 0xDC00 || low > 0xDFFF)
                fail(at, "high surrogate \\u" + hex4(cp) + " followed by \\u" + hex4(low) +
                             ", which is not a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, cp);
    }

    std::string_view s_;
    const JsonLimits &limits_;
    std::size_t pos_ = 0;
    std::size_t count_ = 0;
};

// "line L, column C: message"; a column counts characters (UTF-8 lead bytes).
std::string located(std::string_view text, std::size_t at, const std::string &message) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at && i < text.size(); ++i) {
        const unsigned char c = text[i];
        if (c == '\n') {
            ++line;
            column = 1;
        } else if ((c & 0xC0) != 0x80) {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

} // namespace

std::optional<Json> parse_json(std::string_view text, std::string *error, const JsonLimits &limits) {
    if (text.size() > limits.max_bytes) {
        if (error)
            *error = "the text is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                     std::to_string(limits.max_bytes);
        return std::nullopt;
    }
    try {
        return Parser(text, limits).document();
    } catch (const ParseFailure &f) {
        if (error) *error = located(text, f.at, f.message);
        return std::nullopt;
    }
}

} // namespace puddle
