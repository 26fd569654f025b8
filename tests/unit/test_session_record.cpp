// The keyring session record: "PDS1" || secret key || idle_usec || watch_pid
// || watch_start_time, big-endian. A round trip keeps everything; anything
// but a well-formed record decodes to nothing.
#define BOOST_TEST_MODULE session_record
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "agent/session_record.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

using namespace puddle;
using namespace puddle::agent;

namespace {

std::array<std::uint8_t, kSecretKeyBytes> sample_key() {
    std::array<std::uint8_t, kSecretKeyBytes> k{};
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::uint8_t(0xa0 + i);
    return k;
}

Bytes copy_of(const SecretBuffer &b) { return Bytes(b.bytes().begin(), b.bytes().end()); }

SessionSettings sample_settings() {
    SessionSettings s;
    s.idle_usec = 15ull * 60 * 1000000;
    s.watch_pid = 4242;
    s.watch_start_time = 123456789;
    return s;
}

std::uint64_t be(const Bytes &b, std::size_t off, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | b[off + std::size_t(i)];
    return v;
}

} // namespace

BOOST_AUTO_TEST_CASE(record_is_the_documented_size) {
    BOOST_TEST(kSessionRecordBytes == 88u);
    auto rec = encode_session_record(sample_key(), sample_settings());
    BOOST_TEST(rec.size() == kSessionRecordBytes);
}

BOOST_AUTO_TEST_CASE(round_trip_keeps_the_settings) {
    const auto s = sample_settings();
    auto rec = encode_session_record(sample_key(), s);
    auto back = decode_session_record(rec.bytes());
    BOOST_REQUIRE(back);
    BOOST_TEST(back->settings.idle_usec == s.idle_usec);
    BOOST_TEST(back->settings.watch_pid == s.watch_pid);
    BOOST_TEST(back->settings.watch_start_time == s.watch_start_time);
}

BOOST_AUTO_TEST_CASE(round_trip_keeps_extreme_values) {
    SessionSettings s;
    s.idle_usec = std::numeric_limits<std::uint64_t>::max();
    s.watch_pid = std::numeric_limits<pid_t>::max();
    s.watch_start_time = std::numeric_limits<std::uint64_t>::max();
    auto rec = encode_session_record(sample_key(), s);
    auto back = decode_session_record(rec.bytes());
    BOOST_REQUIRE(back);
    BOOST_TEST(back->settings.idle_usec == s.idle_usec);
    BOOST_TEST(back->settings.watch_pid == s.watch_pid);
    BOOST_TEST(back->settings.watch_start_time == s.watch_start_time);
}

BOOST_AUTO_TEST_CASE(no_watched_process_is_pid_zero) {
    SessionSettings s = sample_settings();
    s.watch_pid = 0;
    s.watch_start_time = 0;
    auto rec = encode_session_record(sample_key(), s);
    auto back = decode_session_record(rec.bytes());
    BOOST_REQUIRE(back);
    BOOST_TEST(back->settings.watch_pid == 0);
    BOOST_TEST(back->settings.watch_start_time == 0u);
}

BOOST_AUTO_TEST_CASE(layout_is_magic_key_then_big_endian_fields) {
    SessionSettings s;
    s.idle_usec = 0x0102030405060708ull;
    s.watch_pid = 0x0a0b0c0d;
    s.watch_start_time = 0x1112131415161718ull;
    const auto key = sample_key();
    const Bytes rec = copy_of(encode_session_record(key, s));
    BOOST_REQUIRE(rec.size() == kSessionRecordBytes);
    BOOST_TEST(std::string(rec.begin(), rec.begin() + 4) == "PDS1");
    BOOST_TEST(std::equal(key.begin(), key.end(), rec.begin() + 4));
    BOOST_TEST(be(rec, 68, 8) == s.idle_usec);
    BOOST_TEST(be(rec, 76, 4) == std::uint64_t(s.watch_pid));
    BOOST_TEST(be(rec, 80, 8) == s.watch_start_time);
}

BOOST_AUTO_TEST_CASE(secret_key_span_is_the_64_bytes_given) {
    const auto key = sample_key();
    auto rec = encode_session_record(key, sample_settings());
    const auto back = decode_session_record(rec.bytes());
    BOOST_REQUIRE(back);
    const auto sk = back->secret_key;
    BOOST_TEST(sk.size() == kSecretKeyBytes);
    BOOST_TEST(std::vector<std::uint8_t>(sk.begin(), sk.end()) == std::vector<std::uint8_t>(key.begin(), key.end()),
               boost::test_tools::per_element());
    // A view into the record itself, not a copy.
    BOOST_TEST(sk.data() == rec.data() + 4);
}

BOOST_AUTO_TEST_CASE(seed_is_the_first_half_of_the_secret_key) {
    const auto key = sample_key();
    auto rec = encode_session_record(key, sample_settings());
    const auto back = decode_session_record(rec.bytes());
    BOOST_REQUIRE(back);
    BOOST_TEST(back->seed().size() == kSeedBytes);
    BOOST_TEST(back->seed().data() == rec.data() + 4);
}

BOOST_AUTO_TEST_CASE(wrong_size_is_rejected) {
    const Bytes good = copy_of(encode_session_record(sample_key(), sample_settings()));
    BOOST_REQUIRE(decode_session_record(good));
    for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(4), std::size_t(68), kSessionRecordBytes - 1}) {
        BOOST_TEST_CONTEXT(n << " bytes") {
            BOOST_TEST(!decode_session_record(std::span(good.data(), n)).has_value());
        }
    }
    Bytes longer = good;
    longer.push_back(0);
    BOOST_TEST(!decode_session_record(longer).has_value());
    longer.resize(2 * kSessionRecordBytes);
    BOOST_TEST(!decode_session_record(longer).has_value());
}

BOOST_AUTO_TEST_CASE(wrong_magic_is_rejected) {
    const Bytes good = copy_of(encode_session_record(sample_key(), sample_settings()));
    for (std::size_t i = 0; i < 4; ++i) {
        BOOST_TEST_CONTEXT("magic byte " << i) {
            Bytes bad = good;
            bad[i] ^= 0x20;
            BOOST_TEST(!decode_session_record(bad).has_value());
        }
    }
    Bytes older = good;
    older[3] = '0'; // "PDS0"
    BOOST_TEST(!decode_session_record(older).has_value());
}

BOOST_AUTO_TEST_CASE(zero_idle_is_rejected) {
    SessionSettings s = sample_settings();
    s.idle_usec = 0;
    auto rec = encode_session_record(sample_key(), s);
    BOOST_TEST(!decode_session_record(rec.bytes()).has_value());
}

BOOST_AUTO_TEST_CASE(negative_pid_is_rejected) {
    for (pid_t pid : {pid_t(-1), pid_t(-4242), std::numeric_limits<pid_t>::min()}) {
        BOOST_TEST_CONTEXT("pid " << pid) {
            SessionSettings s = sample_settings();
            s.watch_pid = pid;
            auto rec = encode_session_record(sample_key(), s);
            BOOST_TEST(!decode_session_record(rec.bytes()).has_value());
        }
    }
    // The same, written by hand: a pid field with its top bit set.
    Bytes rec = copy_of(encode_session_record(sample_key(), sample_settings()));
    rec[76] = 0x80;
    BOOST_TEST(!decode_session_record(rec).has_value());
}

BOOST_AUTO_TEST_CASE(the_secret_key_bytes_do_not_affect_decoding) {
    std::array<std::uint8_t, kSecretKeyBytes> zeros{}, ones{};
    ones.fill(0xff);
    for (const auto &key : {zeros, ones}) {
        auto rec = encode_session_record(key, sample_settings());
        BOOST_TEST(decode_session_record(rec.bytes()).has_value());
    }
}
