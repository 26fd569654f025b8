// The wire codec every binary format reads and writes through: big-endian
// integers, raw bytes and u32-length strings; a read that runs short is a
// refusal that reads nothing, never a read past the end; a writer into a
// fixed buffer never grows it.
#define BOOST_TEST_MODULE wire
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/wire.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

using namespace puddle;
using puddle_test::bytes_of;

namespace {

using View = std::span<const std::uint8_t>;

Bytes hex(std::string_view text) { return *from_hex(text); }

Bytes written(void (*write)(ByteWriter &)) {
    Bytes out;
    ByteWriter w(out);
    write(w);
    return out;
}

} // namespace

// --- integers -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(integers_are_written_big_endian) {
    BOOST_TEST(written([](ByteWriter &w) { w.u8(0xab); }) == hex("ab"), boost::test_tools::per_element());
    BOOST_TEST(written([](ByteWriter &w) { w.u32(0x01020304); }) == hex("01020304"),
               boost::test_tools::per_element());
    BOOST_TEST(written([](ByteWriter &w) { w.u64(0x0102030405060708ull); }) == hex("0102030405060708"),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(integers_are_read_big_endian) {
    const Bytes in = hex("ab" "01020304" "0102030405060708");
    ByteReader r(in);
    std::uint8_t a = 0;
    std::uint32_t b = 0;
    std::uint64_t c = 0;
    BOOST_REQUIRE(r.u8(a) && r.u32(b) && r.u64(c));
    BOOST_TEST(a == 0xab);
    BOOST_TEST(b == 0x01020304u);
    BOOST_TEST(c == 0x0102030405060708ull);
    BOOST_TEST(r.at_end());
}

BOOST_AUTO_TEST_CASE(extreme_integers_round_trip) {
    Bytes out;
    ByteWriter(out)
        .u8(0)
        .u8(0xff)
        .u32(0)
        .u32(std::numeric_limits<std::uint32_t>::max())
        .u64(0)
        .u64(std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST(out.size() == 2 + 8 + 16u);
    ByteReader r(out);
    std::uint8_t a = 1, b = 0;
    std::uint32_t c = 1, d = 0;
    std::uint64_t e = 1, f = 0;
    BOOST_REQUIRE(r.u8(a) && r.u8(b) && r.u32(c) && r.u32(d) && r.u64(e) && r.u64(f));
    BOOST_TEST(a == 0);
    BOOST_TEST(b == 0xff);
    BOOST_TEST(c == 0u);
    BOOST_TEST(d == std::numeric_limits<std::uint32_t>::max());
    BOOST_TEST(e == 0u);
    BOOST_TEST(f == std::numeric_limits<std::uint64_t>::max());
}

BOOST_AUTO_TEST_CASE(a_short_integer_is_refused_and_reads_nothing) {
    const Bytes in = hex("01020304050607");
    for (std::size_t n = 0; n < in.size(); ++n) {
        BOOST_TEST_CONTEXT(n << " bytes") {
            ByteReader r(View(in).first(n));
            std::uint64_t v64 = 42;
            BOOST_TEST(!r.u64(v64));
            BOOST_TEST(v64 == 42u); // untouched
            BOOST_TEST(r.consumed() == 0u);
            std::uint32_t v32 = 42;
            BOOST_TEST(r.u32(v32) == (n >= 4));
            if (n < 4) BOOST_TEST(r.consumed() == 0u);
        }
    }
    ByteReader empty(View{});
    std::uint8_t v8 = 42;
    BOOST_TEST(!empty.u8(v8));
    BOOST_TEST(v8 == 42);
}

// --- raw bytes and magic numbers ------------------------------------------------

BOOST_AUTO_TEST_CASE(bytes_are_a_view_into_the_input) {
    const Bytes in = hex("00112233");
    ByteReader r(in);
    std::span<const std::uint8_t> view;
    BOOST_REQUIRE(r.bytes(3, view));
    BOOST_TEST(view.data() == in.data());
    BOOST_TEST(view.size() == 3u);
    BOOST_TEST(r.remaining() == 1u);
    BOOST_TEST(!r.bytes(2, view)); // one byte left
    BOOST_TEST(r.remaining() == 1u);
    BOOST_REQUIRE(r.bytes(0, view)); // nothing is always there
    BOOST_TEST(r.remaining() == 1u);
}

BOOST_AUTO_TEST_CASE(a_fixed_array_is_filled_or_left_alone) {
    const Bytes in = hex("0102030405");
    ByteReader r(in);
    std::array<std::uint8_t, 4> a{};
    BOOST_REQUIRE(r.bytes(a));
    BOOST_TEST(a == (std::array<std::uint8_t, 4>{1, 2, 3, 4}));
    std::array<std::uint8_t, 4> b{9, 9, 9, 9};
    BOOST_TEST(!r.bytes(b));
    BOOST_TEST(b == (std::array<std::uint8_t, 4>{9, 9, 9, 9}));
    BOOST_TEST(r.remaining() == 1u);
}

BOOST_AUTO_TEST_CASE(expect_takes_a_matching_magic_only) {
    const Bytes in = bytes_of("PDS1rest");
    const Bytes magic = bytes_of("PDS1");
    ByteReader r(in);
    BOOST_TEST(!r.expect(bytes_of("PDS0")));
    BOOST_TEST(r.consumed() == 0u);
    BOOST_TEST(!r.expect(bytes_of("PDS1rest+"))); // longer than the input
    BOOST_TEST(r.consumed() == 0u);
    BOOST_TEST(r.expect(magic));
    BOOST_TEST(r.consumed() == 4u);
}

BOOST_AUTO_TEST_CASE(rest_takes_everything_left) {
    const Bytes in = hex("aabbcc");
    ByteReader r(in);
    std::uint8_t first = 0;
    BOOST_REQUIRE(r.u8(first));
    const auto rest = r.rest();
    BOOST_TEST(rest.data() == in.data() + 1);
    BOOST_TEST(rest.size() == 2u);
    BOOST_TEST(r.at_end());
    BOOST_TEST(r.rest().empty());
}

// --- length-prefixed strings ------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_string_is_a_u32_length_then_its_bytes) {
    // The ssh key type, as RFC 4251 §5 spells it.
    BOOST_TEST(written([](ByteWriter &w) { w.string(as_bytes("ssh-ed25519")); }) ==
                   hex("0000000b7373682d65643235353139"),
               boost::test_tools::per_element());
    BOOST_TEST(written([](ByteWriter &w) { w.string(View{}); }) == hex("00000000"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(strings_read_as_views_text_or_bytes) {
    Bytes in;
    ByteWriter(in).string(as_bytes("alice")).string(as_bytes("bob")).string(hex("00ff"));
    ByteReader r(in);
    std::span<const std::uint8_t> view;
    std::string text;
    Bytes bytes;
    BOOST_REQUIRE(r.string(view) && r.string(text) && r.string(bytes));
    BOOST_TEST(view.data() == in.data() + 4);
    BOOST_TEST(std::string(view.begin(), view.end()) == "alice");
    BOOST_TEST(text == "bob");
    BOOST_TEST(bytes == hex("00ff"), boost::test_tools::per_element());
    BOOST_TEST(r.at_end());
}

BOOST_AUTO_TEST_CASE(an_empty_string_is_four_zero_bytes) {
    const Bytes in = hex("00000000");
    ByteReader r(in);
    std::string text = "old";
    BOOST_REQUIRE(r.string(text));
    BOOST_TEST(text.empty());
    BOOST_TEST(r.at_end());
}

BOOST_AUTO_TEST_CASE(a_string_longer_than_what_is_left_is_refused_and_reads_nothing) {
    Bytes in;
    ByteWriter(in).string(as_bytes("hello"));
    // Every truncation: inside the length, and inside the bytes.
    for (std::size_t n = 0; n < in.size(); ++n) {
        BOOST_TEST_CONTEXT(n << " of " << in.size() << " bytes") {
            ByteReader r(View(in).first(n));
            std::string text = "untouched";
            BOOST_TEST(!r.string(text));
            BOOST_TEST(text == "untouched");
            BOOST_TEST(r.consumed() == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_huge_length_is_a_refusal_not_an_overflow) {
    for (const char *length : {"ffffffff", "fffffffc", "80000000", "00000005"}) {
        BOOST_TEST_CONTEXT("length " << length) {
            const Bytes in = hex(std::string(length) + "01020304");
            ByteReader r(in);
            std::span<const std::uint8_t> view;
            BOOST_TEST(!r.string(view));
            BOOST_TEST(r.remaining() == in.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_failed_read_leaves_the_reader_where_it_was) {
    // As with sshbuf: a caller can try another layout from the same place.
    const Bytes in = hex("00000009" "0102");
    ByteReader r(in);
    std::span<const std::uint8_t> view;
    BOOST_TEST(!r.string(view));
    std::uint32_t length = 0;
    BOOST_REQUIRE(r.u32(length));
    BOOST_TEST(length == 9u);
    BOOST_TEST(r.remaining() == 2u);
}

// --- writing --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_growing_writer_appends_and_counts_its_own_bytes) {
    Bytes out = hex("ee");
    ByteWriter w(out);
    w.u8(1).bytes(hex("0203")).u32(4);
    BOOST_TEST(out == hex("ee" "01" "0203" "00000004"), boost::test_tools::per_element());
    BOOST_TEST(w.written() == 7u);
}

BOOST_AUTO_TEST_CASE(empty_bytes_write_nothing) {
    Bytes out;
    ByteWriter w(out);
    w.bytes(View{});
    BOOST_TEST(out.empty());
    BOOST_TEST(w.written() == 0u);
}

BOOST_AUTO_TEST_CASE(a_fixed_writer_fills_its_buffer_in_place) {
    std::array<std::uint8_t, 9> buf{};
    ByteWriter w{std::span<std::uint8_t>(buf)};
    w.u8(0x7f).u32(0x01020304).u32(0xa0b0c0d0);
    BOOST_TEST(w.written() == buf.size());
    BOOST_TEST(Bytes(buf.begin(), buf.end()) == hex("7f" "01020304" "a0b0c0d0"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_fixed_writer_refuses_to_overflow) {
    std::array<std::uint8_t, 6> buf{};
    ByteWriter w{std::span<std::uint8_t>(buf)};
    w.u32(0x01020304);
    BOOST_CHECK_THROW(w.u32(0x05060708), std::length_error);
    BOOST_CHECK_THROW(w.u64(1), std::length_error);
    // A string that does not fit leaves the buffer as it was, length included.
    BOOST_CHECK_THROW(w.string(hex("aa")), std::length_error);
    BOOST_TEST(w.written() == 4u);
    BOOST_TEST(Bytes(buf.begin(), buf.end()) == hex("010203040000"), boost::test_tools::per_element());
    w.u8(5).u8(6); // what fits still goes in
    BOOST_TEST(w.written() == 6u);
    BOOST_CHECK_THROW(w.u8(7), std::length_error);
}

BOOST_AUTO_TEST_CASE(what_is_written_reads_back) {
    Bytes out;
    const std::array<std::uint8_t, 3> fixed{7, 8, 9};
    ByteWriter(out).u8(2).string(as_bytes("name")).bytes(fixed).u64(1234567890123ull).string(View{});
    ByteReader r(out);
    std::uint8_t type = 0;
    std::string name;
    std::array<std::uint8_t, 3> back{};
    std::uint64_t number = 0;
    Bytes empty{1};
    BOOST_REQUIRE(r.u8(type) && r.string(name) && r.bytes(back) && r.u64(number) && r.string(empty));
    BOOST_TEST(type == 2);
    BOOST_TEST(name == "name");
    BOOST_TEST(back == fixed);
    BOOST_TEST(number == 1234567890123ull);
    BOOST_TEST(empty.empty());
    BOOST_TEST(r.at_end());
}
