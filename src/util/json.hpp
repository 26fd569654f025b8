// A small JSON value with a strict serializer, for --json output and state
// files. Object keys keep insertion order so output is stable.
#pragma once

#include <cstdint>
#include <string>
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

    std::string dump() const; // compact, one line

private:
    std::variant<std::nullptr_t, bool, std::int64_t, std::string, Array, Object> v_;
};

std::string json_quote(const std::string &s);

} // namespace puddle
