// libFuzzer target: the strict JSON parser.
// Invariants: a refusal says where and why in one printable line; whatever
// parses dumps to one line that parses back to an equal value with the same
// dump (the serializer and the parser agree on every accepted document);
// tighter limits only ever refuse more.
#include "fuzz_support.hpp"
#include "util/json.hpp"
#include "util/text.hpp"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

using namespace puddle;

namespace {

// The renderers of untrusted text (util/text): valid_utf8 gives UTF-8 only,
// printable gives one line with no control character and no stray byte, and
// a JSON string of any bytes dumps to a document that parses back.
void check_text(std::string_view text) {
    const std::string u = valid_utf8(text);
    for (std::size_t i = 0; i < u.size();) {
        const std::size_t n = utf8_sequence_length(std::string_view(u).substr(i));
        FUZZ_CHECK(n > 0);
        i += n;
    }
    const std::string p = printable(text, 64);
    FUZZ_CHECK(p.size() <= 64 + 4 + 3); // a last escape, then "..."
    for (std::size_t i = 0; i < p.size();) {
        const std::size_t n = utf8_sequence_length(std::string_view(p).substr(i));
        FUZZ_CHECK(n > 0);
        if (n == 1) FUZZ_CHECK(static_cast<unsigned char>(p[i]) >= 0x20 && p[i] != 0x7f);
        i += n;
    }
    const std::string doc = Json(std::string(text)).dump();
    JsonLimits roomy;
    roomy.max_bytes = SIZE_MAX;
    FUZZ_CHECK(parse_json(doc, nullptr, roomy).has_value());
}

void check(std::span<const std::uint8_t> bytes) {
    const std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    check_text(text);

    std::string error;
    const auto value = parse_json(text, &error);
    if (!value) {
        FUZZ_CHECK(!error.empty());
        FUZZ_CHECK(fuzz::printable(error));
        return;
    }
    FUZZ_CHECK(error.empty());

    const std::string once = value->dump();
    FUZZ_CHECK(once.find('\n') == std::string::npos);
    // Escapes may make the dump longer than the input: lift the byte limit only.
    JsonLimits roomy;
    roomy.max_bytes = SIZE_MAX;
    const auto again = parse_json(once, &error, roomy);
    if (!again) std::fprintf(stderr, "dump refused: %s\n", error.c_str());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(*again == *value);
    FUZZ_CHECK(again->dump() == once);

    // The canonical form is a fixed point.
    FUZZ_CHECK(parse_json(again->dump(), nullptr, roomy)->dump() == once);

    // Tighter limits refuse or give the same value.
    JsonLimits tight;
    tight.max_depth = 2;
    tight.max_elements = 8;
    if (const auto small = parse_json(text, &error, tight)) FUZZ_CHECK(*small == *value);
    else FUZZ_CHECK(fuzz::printable(error));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    check(std::span<const std::uint8_t>(data, size));
    return 0;
}
