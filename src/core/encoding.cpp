#include "core/encoding.hpp"

#include "core/secret.hpp"

#include <sodium.h>

namespace puddle {

std::string to_hex(std::span<const std::uint8_t> bytes) {
    std::string out(bytes.size() * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
    out.pop_back();
    return out;
}

std::optional<Bytes> from_hex(std::string_view text) {
    if (text.size() % 2) return std::nullopt;
    // An empty vector's data() is null, which sodium_hex2bin must not get.
    if (text.empty()) return Bytes{};
    Bytes out(text.size() / 2);
    size_t len = 0;
    const char *end = nullptr;
    if (sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end) != 0 ||
        len != out.size() || end != text.data() + text.size())
        return std::nullopt;
    return out;
}

std::string to_base64(std::span<const std::uint8_t> bytes) {
    init_sodium();
    const size_t n = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
    std::string out(n, '\0');
    sodium_bin2base64(out.data(), n, bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
    out.resize(n - 1);
    return out;
}

std::optional<Bytes> from_base64(std::string_view text, std::size_t max_decoded) {
    init_sodium();
    const size_t cap = text.size() / 4 * 3 + 3;
    if (text.size() % 4 != 0) return std::nullopt;
    // libsodium 1.0.18 decodes bytes >= 0x80 as if they were the digit '/'
    // ("\xff\xff\xff\xff" gives ff ff ff), so only the alphabet may pass.
    for (unsigned char c : text)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/' || c == '='))
            return std::nullopt;
    if (max_decoded < SIZE_MAX - 2 && text.size() / 4 * 3 > max_decoded + 2) return std::nullopt;
    Bytes out(cap);
    size_t len = 0;
    const char *end = nullptr;
    if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text.data() + text.size())
        return std::nullopt;
    if (len > max_decoded) return std::nullopt;
    out.resize(len);
    return out;
}

} // namespace puddle
