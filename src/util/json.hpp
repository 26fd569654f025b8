// A small JSON value with a strict serializer and a strict parser, for --json
// output and state files. Object keys keep insertion order so output is stable.
//
// puddle's JSON has integers only: the parser refuses fractions and exponents
// ("numbers must be integers"), so every number is an exact std::int64_t and
// a value read from a state file means exactly what it says.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace puddle {

class Json {
public:
    using Array = std::vector<Json>;
    using Object = std::vector<std::pair<std::string, Json>>;

    Json() : v_(nullptr) {}
    Json(std::nullptr_t) : v_(nullptr) {}
    Json(bool b) : v_(b) {}
    Json(int i) : v_(std::int64_t(i)) {}
    Json(unsigned i) : v_(std::int64_t(i)) {}
    Json(long i) : v_(std::int64_t(i)) {}
    Json(unsigned long i) : v_(std::int64_t(i)) {}
    Json(long long i) : v_(std::int64_t(i)) {}
    Json(unsigned long long i) : v_(std::int64_t(i)) {}
    Json(const char *s) : v_(std::string(s)) {}
    Json(std::string s) : v_(std::move(s)) {}
    Json(Array a) : v_(std::move(a)) {}
    Json(Object o) : v_(std::move(o)) {}

    static Json object() { return Json(Object{}); }
    static Json array() { return Json(Array{}); }

    // Appends (or replaces) a key of an object.
    Json &set(const std::string &key, Json value);
    Json &push(Json value);

    bool is_null() const { return std::holds_alternative<std::nullptr_t>(v_); }
    const bool *as_bool() const { return std::get_if<bool>(&v_); }
    const std::int64_t *as_int() const { return std::get_if<std::int64_t>(&v_); }
    const std::string *as_string() const { return std::get_if<std::string>(&v_); }
    const Array *as_array() const { return std::get_if<Array>(&v_); }
    const Object *as_object() const { return std::get_if<Object>(&v_); }
    const Json *get(const std::string &key) const;

    // What kind of value this is, for error messages: "null", "a boolean",
    // "an integer", "a string", "an array", "an object".
    const char *kind() const;

    // Structural equality; object members compare in order.
    bool operator==(const Json &) const = default;

    // Compact, one line. For any value parse_json() returned, parse_json(dump())
    // gives an equal value back. (A string holding invalid UTF-8, which only
    // code can build, dumps to text parse_json() refuses.)
    std::string dump() const;

private:
    std::variant<std::nullptr_t, bool, std::int64_t, std::string, Array, Object> v_;
};

std::string json_quote(const std::string &s);

// Bounds for parse_json(), so a hostile document costs little.
struct JsonLimits {
    std::size_t max_bytes = 1 << 20;     // length of the whole text
    int max_depth = 32;                  // nested arrays/objects; the parser recurses this deep
    std::size_t max_elements = 100000;   // values in the document, containers and scalars alike
};

// Strict RFC 8259 parser, pure (no I/O). One value, surrounded by nothing but
// the four JSON whitespace characters. Refused: trailing commas, comments,
// leading zeros, NaN/Infinity, fractions and exponents (puddle's JSON is
// integers only, each fitting std::int64_t), raw control characters in
// strings, invalid UTF-8 (overlong forms, encoded surrogates, > U+10FFFF),
// lone surrogate \u escapes, a byte order mark, duplicate object keys.
// On failure returns nullopt and sets *error (if given) to one printable line
// such as "line 3, column 14: expected ',' or '}' after an object member";
// columns count characters (UTF-8 sequences), from 1.
std::optional<Json> parse_json(std::string_view text, std::string *error,
                               const JsonLimits &limits = {});

} // namespace puddle
