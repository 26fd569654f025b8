// Hex and base64: round trips, RFC 4648 vectors, and strict rejection.
#define BOOST_TEST_MODULE encoding
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/encoding.hpp"

#include <cstdint>
#include <sodium.h>

using namespace puddle;
using puddle_test::bytes_of;

namespace {

Bytes random_bytes(std::size_t n) {
    BOOST_REQUIRE(sodium_init() >= 0);
    Bytes b(n);
    if (n) randombytes_buf(b.data(), b.size()); // data() may be null when empty
    return b;
}

} // namespace

BOOST_AUTO_TEST_CASE(hex_is_lowercase) {
    const Bytes b{0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    BOOST_TEST(to_hex(b) == "00017f80abcdefff");
    BOOST_TEST(to_hex(Bytes{}) == "");
}

BOOST_AUTO_TEST_CASE(hex_round_trips) {
    for (std::size_t n : {0u, 1u, 2u, 31u, 32u, 33u, 64u, 1000u}) {
        const Bytes b = random_bytes(n);
        auto back = from_hex(to_hex(b));
        BOOST_REQUIRE(back);
        BOOST_TEST(*back == b, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(hex_decodes_either_case) {
    const Bytes expected{0xab, 0xcd, 0xef};
    auto lower = from_hex("abcdef");
    auto upper = from_hex("ABCDEF");
    auto mixed = from_hex("aBcDeF");
    BOOST_REQUIRE(lower);
    BOOST_REQUIRE(upper);
    BOOST_REQUIRE(mixed);
    BOOST_TEST(*lower == expected, boost::test_tools::per_element());
    BOOST_TEST(*upper == expected, boost::test_tools::per_element());
    BOOST_TEST(*mixed == expected, boost::test_tools::per_element());
    auto empty = from_hex("");
    BOOST_REQUIRE(empty);
    BOOST_TEST(empty->empty());
}

BOOST_AUTO_TEST_CASE(hex_rejects_odd_length_and_foreign_characters) {
    for (const char *bad : {"a", "abc", "0g", "g0", "0x00", " 00", "00 ", "00\n", "0:", "-1", "zz"}) {
        BOOST_TEST(!from_hex(bad).has_value(), "accepted \"" << bad << "\"");
    }
    // An embedded NUL inside the view is not a terminator.
    BOOST_TEST(!from_hex(std::string_view("00\0000", 4)).has_value());
}

BOOST_AUTO_TEST_CASE(base64_matches_rfc4648_vectors) {
    const std::pair<const char *, const char *> vectors[] = {
        {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto &[plain, encoded] : vectors) {
        BOOST_TEST_CONTEXT("\"" << plain << "\"") {
            BOOST_TEST(to_base64(as_bytes(plain)) == encoded);
            auto back = from_base64(encoded);
            BOOST_REQUIRE(back);
            BOOST_TEST(*back == bytes_of(plain), boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(base64_uses_the_standard_alphabet) {
    const Bytes b{0xfb, 0xff, 0xbf};
    BOOST_TEST(to_base64(b) == "+/+/");
    auto back = from_base64("+/+/");
    BOOST_REQUIRE(back);
    BOOST_TEST(*back == b, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(base64_round_trips) {
    for (std::size_t n = 0; n <= 70; ++n) {
        const Bytes b = random_bytes(n);
        const std::string text = to_base64(b);
        BOOST_TEST(text.size() % 4 == 0u);
        auto back = from_base64(text);
        BOOST_REQUIRE(back);
        BOOST_TEST(*back == b, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(base64_rejects_bad_characters) {
    for (const char *bad : {"Zm9v!mFy", "Zm9v YmFy", "Zm9vYmFy\n", " Zm9vYmFy", "Zm9-", "Zm9_", "Zm\tv"}) {
        BOOST_TEST(!from_base64(bad).has_value(), "accepted \"" << bad << "\"");
    }
    BOOST_TEST(!from_base64(std::string_view("Zm9v\0mFy", 8)).has_value());
    // The URL-safe alphabet is a different encoding.
    BOOST_TEST(!from_base64("-_-_").has_value());
}

BOOST_AUTO_TEST_CASE(base64_rejects_missing_or_misplaced_padding) {
    for (const char *bad : {"Zg", "Zg=", "Zm8", "Zm9vYg", "Zm9vYg=", "Zm9vYmE", "Zg===", "====", "Zg==Zg==",
                            "=Zg=", "Z===", "Zm=8"}) {
        BOOST_TEST(!from_base64(bad).has_value(), "accepted \"" << bad << "\"");
    }
}

BOOST_AUTO_TEST_CASE(base64_rejects_lengths_not_a_multiple_of_4) {
    for (const char *bad : {"Z", "Zm", "Zm9", "Zm9vY", "Zm9vYmFyZ"}) {
        BOOST_TEST(!from_base64(bad).has_value(), "accepted \"" << bad << "\"");
    }
}

BOOST_AUTO_TEST_CASE(base64_rejects_non_canonical_trailing_bits) {
    // "Zh==" carries 'f' plus nonzero leftover bits; only "Zg==" is canonical.
    BOOST_TEST(!from_base64("Zh==").has_value());
    BOOST_TEST(!from_base64("Zm9=").has_value());
}

BOOST_AUTO_TEST_CASE(base64_respects_max_decoded) {
    // 6 bytes in, 8 characters, no padding.
    BOOST_TEST(from_base64("Zm9vYmFy", 6).has_value());
    BOOST_TEST(from_base64("Zm9vYmFy", 100).has_value());
    BOOST_TEST(!from_base64("Zm9vYmFy", 5).has_value());
    BOOST_TEST(!from_base64("Zm9vYmFy", 0).has_value());
    // 4 and 5 bytes: padding shrinks the decoded size below the 6 the length suggests.
    BOOST_TEST(from_base64("Zm9vYg==", 4).has_value());
    BOOST_TEST(!from_base64("Zm9vYg==", 3).has_value());
    BOOST_TEST(from_base64("Zm9vYmE=", 5).has_value());
    BOOST_TEST(!from_base64("Zm9vYmE=", 4).has_value());
    // Nothing decoded is within any limit.
    BOOST_TEST(from_base64("", 0).has_value());
    // A long input is refused against a small limit.
    const std::string big = to_base64(random_bytes(3000));
    BOOST_TEST(!from_base64(big, 64).has_value());
    BOOST_TEST(from_base64(big, 3000).has_value());
}

BOOST_AUTO_TEST_CASE(base64_with_huge_limits_is_unlimited) {
    // Limits near SIZE_MAX must behave like "no limit", not wrap around.
    for (std::size_t limit : {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 2, SIZE_MAX - 3}) {
        auto out = from_base64("Zm9vYmFy", limit);
        BOOST_TEST(out.has_value(), "limit SIZE_MAX - " << (SIZE_MAX - limit));
    }
}
