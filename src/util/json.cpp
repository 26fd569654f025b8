#include "util/json.hpp"

#include "util/text.hpp"

#include <cstdio>
#include <stdexcept>

namespace puddle {

Json &Json::set(const std::string &key, Json value) {
    auto *o = std::get_if<Object>(&v_);
    if (!o) throw std::logic_error("Json::set on a non-object");
    for (auto &[k, v] : *o)
        if (k == key) {
            v = std::move(value);
            return *this;
        }
    o->emplace_back(key, std::move(value));
    return *this;
}

Json &Json::push(Json value) {
    auto *a = std::get_if<Array>(&v_);
    if (!a) throw std::logic_error("Json::push on a non-array");
    a->push_back(std::move(value));
    return *this;
}

const Json *Json::get(const std::string &key) const {
    if (const auto *o = as_object())
        for (const auto &[k, v] : *o)
            if (k == key) return &v;
    return nullptr;
}

const char *Json::kind() const {
    struct V {
        const char *operator()(std::nullptr_t) const { return "null"; }
        const char *operator()(bool) const { return "a boolean"; }
        const char *operator()(std::int64_t) const { return "an integer"; }
        const char *operator()(const std::string &) const { return "a string"; }
        const char *operator()(const Array &) const { return "an array"; }
        const char *operator()(const Object &) const { return "an object"; }
    };
    return std::visit(V{}, v_);
}

std::string json_quote(const std::string &raw) {
    // JSON text is UTF-8 (RFC 8259 §8.1): a value that is not (a path from
    // the environment, say) gets U+FFFD for each stray byte.
    const std::string s = valid_utf8(raw);
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += char(c);
            }
        }
    }
    return out + "\"";
}

std::string Json::dump() const {
    struct V {
        std::string operator()(std::nullptr_t) const { return "null"; }
        std::string operator()(bool b) const { return b ? "true" : "false"; }
        std::string operator()(std::int64_t i) const { return std::to_string(i); }
        std::string operator()(const std::string &s) const { return json_quote(s); }
        std::string operator()(const Array &a) const {
            std::string out = "[";
            for (std::size_t i = 0; i < a.size(); ++i) out += (i ? "," : "") + a[i].dump();
            return out + "]";
        }
        std::string operator()(const Object &o) const {
            std::string out = "{";
            for (std::size_t i = 0; i < o.size(); ++i)
                out += (i ? "," : "") + json_quote(o[i].first) + ":" + o[i].second.dump();
            return out + "}";
        }
    };
    return std::visit(V{}, v_);
}

} // namespace puddle
