// Hex and base64 (RFC 4648, with padding) through libsodium: strict decoders
// that reject anything but the canonical alphabet.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace puddle {

using Bytes = std::vector<std::uint8_t>;

std::string to_hex(std::span<const std::uint8_t> bytes);
// Lowercase or uppercase hex of even length; nullopt on anything else.
std::optional<Bytes> from_hex(std::string_view text);

std::string to_base64(std::span<const std::uint8_t> bytes);
// Standard alphabet with padding; nullopt on bad characters, bad padding,
// or input longer than max_decoded bytes would need.
std::optional<Bytes> from_base64(std::string_view text, std::size_t max_decoded = SIZE_MAX);

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

} // namespace puddle
