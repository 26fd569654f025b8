// The strict JSON reading shared by the state-file codecs in core/files/:
// which file is read and what to tell the user when it is wrong, the size
// limit, and one object read field by field (known names, exact types).
// Internal to core/files; callers use the per-format headers.
#pragma once

#include "core/identity.hpp"
#include "util/error.hpp"
#include "util/json.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace puddle::files_detail {

inline constexpr std::int64_t kVersion = 1;
using KeyBytes = std::array<std::uint8_t, kPublicKeyBytes>;

inline const std::string kNewerHint = "it was written by a newer puddle; use that version, or upgrade puddle here";

std::string describe_char(unsigned char c);

// Which file we are reading and what to tell the user when it is wrong.
struct Source {
    const std::string &label;
    std::string hint;

    [[noreturn]] void fail(const std::string &why) const { fail(why, hint); }
    [[noreturn]] void fail(const std::string &why, const std::string &with_hint) const {
        throw Error(Failure::failed, "cannot read " + label, why, with_hint);
    }
};

Json parse_document(const Source &src, std::span<const std::uint8_t> bytes, std::size_t max_bytes);

// An advisory file (puddle writes it for itself and reads it only to report:
// session.unlocked, unlock-failed, <purpose>.result): a damaged one reads as
// absent fields, never as an error, so a report is never lost to it.
class LooseReader {
public:
    explicit LooseReader(std::span<const std::uint8_t> bytes)
        : doc_(parse_json(std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()), nullptr)) {}
    bool parsed() const noexcept { return doc_.has_value(); }
    template <class T> void integer(const char *name, T &into) const {
        if (const Json *v = doc_ ? doc_->get(name) : nullptr; v && v->as_int()) into = T(*v->as_int());
    }
    template <class T> void string(const char *name, T &into) const {
        if (const Json *v = doc_ ? doc_->get(name) : nullptr; v && v->as_string()) into = *v->as_string();
    }

private:
    std::optional<Json> doc_;
};

// One JSON object of a file, read strictly: known names, exact types.
// `where` names the object in messages ("" for the top level, "members[2]").
class ObjectReader {
public:
    ObjectReader(const Source &src, const Json &value, std::string where)
        : src_(src), where_(std::move(where)) {
        obj_ = value.as_object();
        if (!obj_)
            src_.fail(where_.empty() ? std::string("expected a JSON object, found ") + value.kind()
                                     : where_ + " must be a JSON object, found " + value.kind());
    }

    std::string field(std::string_view name) const {
        return "field " + quote_for_message(name) + (where_.empty() ? "" : " in " + where_);
    }

    [[noreturn]] void fail(const std::string &why) const { src_.fail(why); }

    // `v` first: a newer version may legitimately carry other fields.
    void version() const {
        const std::int64_t v = integer("v");
        if (v != kVersion)
            src_.fail("format version " + std::to_string(v) + (where_.empty() ? "" : " in " + where_) +
                          " is not supported (this puddle reads version 1)",
                      kNewerHint);
    }

    void only(std::initializer_list<std::string_view> known) const {
        for (const auto &[key, value] : *obj_)
            if (std::find(known.begin(), known.end(), key) == known.end()) fail("unknown " + field(key));
    }

    bool has(const char *name) const {
        for (const auto &[key, value] : *obj_)
            if (key == name) return true;
        return false;
    }

    const Json &get(const char *name) const {
        for (const auto &[key, value] : *obj_)
            if (key == name) return value;
        fail("missing " + field(name));
    }

    std::int64_t integer(const char *name) const {
        const Json &v = get(name);
        if (!v.as_int()) fail(field(name) + " must be an integer, found " + v.kind());
        return *v.as_int();
    }

    const std::string &string(const char *name) const {
        const Json &v = get(name);
        if (!v.as_string()) fail(field(name) + " must be a string, found " + v.kind());
        return *v.as_string();
    }

    bool boolean(const char *name) const {
        const Json &v = get(name);
        if (!v.as_bool()) fail(field(name) + " must be true or false, found " + v.kind());
        return *v.as_bool();
    }

    const Json::Array &array(const char *name) const {
        const Json &v = get(name);
        if (!v.as_array()) fail(field(name) + " must be an array, found " + v.kind());
        return *v.as_array();
    }

    // A document that names what it is ("kind"), for files a user carries
    // around: the wrong file gets "is X, not Y", not a field-by-field refusal.
    void kind(const char *expected) const {
        const std::string &k = string("kind");
        if (k != expected) fail(field("kind") + " is " + quote_for_message(k) + ", not \"" + expected + "\"");
    }

    // Exactly N bytes, as canonical base64.
    template <std::size_t N> std::array<std::uint8_t, N> fixed_bytes(const char *name) const {
        const std::string &text = string(name);
        const auto raw = from_base64(text, N);
        if (!raw || raw->size() != N || to_base64(*raw) != text)
            fail(field(name) + " must be the base64 of " + std::to_string(N) + " bytes");
        std::array<std::uint8_t, N> out{};
        std::copy(raw->begin(), raw->end(), out.begin());
        return out;
    }

    PublicKey key(const char *name) const {
        std::string why;
        const auto k = parse_public_key(string(name), &why);
        if (!k) fail(field(name) + " is not a public key: " + why);
        return *k;
    }

    Signature signature(const char *name) const {
        const std::string &text = string(name);
        const auto raw = from_base64(text, kSignatureBytes);
        if (!raw || raw->size() != kSignatureBytes || to_base64(*raw) != text)
            fail(field(name) + " must be a signature: the base64 of 64 bytes (88 characters ending in \"==\")");
        Signature sig{};
        std::copy(raw->begin(), raw->end(), sig.begin());
        return sig;
    }

private:
    const Source &src_;
    std::string where_;
    const Json::Object *obj_ = nullptr;
};

// Serializers refuse what their parser would refuse: writing it is a bug.
void must_be_fine(const std::string &what, const std::string &problem);
std::string with_where(const std::string &where, const std::string &problem);

inline std::string signature_text(const Signature &sig) { return to_base64(sig); }

} // namespace puddle::files_detail
