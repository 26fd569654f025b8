// libFuzzer target: the strict hex and base64 decoders (and their encoders).
// Invariants: decode(encode(x)) == x; a strict decoder accepts only the
// canonical spelling, so encode(decode(text)) == text (hex: in lowercase);
// max_decoded refuses exactly the outputs longer than the limit.
#include "fuzz_support.hpp"
#include "core/encoding.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

using namespace puddle;

namespace {

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char &c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

void check_encoders(std::span<const std::uint8_t> bytes) {
    const Bytes original(bytes.begin(), bytes.end());
    const std::string b64 = to_base64(bytes);
    FUZZ_CHECK(b64.size() == (bytes.size() + 2) / 3 * 4);
    const auto b64_back = from_base64(b64);
    FUZZ_CHECK(b64_back && *b64_back == original);
    FUZZ_CHECK(from_base64(b64, bytes.size()).has_value());
    if (!bytes.empty()) FUZZ_CHECK(!from_base64(b64, bytes.size() - 1).has_value());

    const std::string hex = to_hex(bytes);
    FUZZ_CHECK(hex.size() == 2 * bytes.size());
    const auto hex_back = from_hex(hex);
    FUZZ_CHECK(hex_back && *hex_back == original);
}

void check_decoders(std::string_view text, std::size_t limit) {
    const auto b = from_base64(text);
    if (b) {
        FUZZ_CHECK(to_base64(*b) == text);
        const auto again = from_base64(to_base64(*b));
        FUZZ_CHECK(again && *again == *b);
    }
    FUZZ_CHECK(from_base64(text, limit).has_value() == (b && b->size() <= limit));

    const auto h = from_hex(text);
    if (h) {
        FUZZ_CHECK(to_hex(*h) == lowercase(text));
        const auto again = from_hex(to_hex(*h));
        FUZZ_CHECK(again && *again == *h);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    try {
        const std::span<const std::uint8_t> bytes(data, size);
        check_encoders(bytes);
        const std::string_view text(reinterpret_cast<const char *>(data), size);
        // The first byte picks a decode limit, small or near SIZE_MAX, so both
        // ends of the overflow-prone size check are exercised.
        const std::size_t pick = size ? data[0] : 0;
        const std::size_t limit = pick < 0xf0 ? pick : SIZE_MAX - (pick - 0xf0);
        check_decoders(text, limit);
    } catch (const Error &) {
        // An expected rejection; anything else escapes and crashes the run.
    }
    return 0;
}
