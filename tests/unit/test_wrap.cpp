// The wrapped-key format v1 (SPEC §4): layout, round trip, and that every
// kind of damage is refused with exit code 5 and a message that says what.
#define BOOST_TEST_MODULE wrap
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/wrap.hpp"

#include <algorithm>
#include <cstring>
#include <vector>
#include <sodium.h>

namespace puddle {
std::ostream &operator<<(std::ostream &os, const KdfParams &k) {
    return os << "KdfParams{" << k.opslimit << ", " << k.memlimit_kib << "}";
}
} // namespace puddle

using namespace puddle;
using puddle_test::catch_error;

namespace {

const std::string kPass = "correct horse battery staple";
const std::string kWrongPass = "correct horse battery stapler";
const std::string kLabel = "/state/identity.wrapped";
const std::string kTagFailure = "wrong passphrase (or damaged identity.wrapped)";
constexpr KdfParams kFast{1, 8};

std::uint32_t be32(const WrappedBytes &b, std::size_t off) {
    return (std::uint32_t(b[off]) << 24) | (std::uint32_t(b[off + 1]) << 16) | (std::uint32_t(b[off + 2]) << 8) |
           std::uint32_t(b[off + 3]);
}

struct Wrapped {
    Keypair kp = Keypair::generate();
    Salt salt = random_salt();
    WrappedBytes blob = wrap_seed(kp, as_bytes(kPass), salt, kFast);
};

// parse + unwrap, as `puddle unlock` does.
Keypair open(std::span<const std::uint8_t> bytes, const std::string &pass, const Salt &salt,
             const PublicKey &pub) {
    auto w = parse_wrapped(bytes, kLabel);
    return unwrap_seed(w, as_bytes(pass), salt, pub);
}

} // namespace

BOOST_AUTO_TEST_CASE(round_trip_gives_back_the_same_seed_and_public_key) {
    Wrapped w;
    auto parsed = parse_wrapped(w.blob, kLabel);
    BOOST_TEST(parsed.kdf == kFast);
    auto kp = unwrap_seed(parsed, as_bytes(kPass), w.salt, w.kp.public_key());
    BOOST_TEST(kp.public_key().str() == w.kp.public_key().str());
    BOOST_TEST(kp.seed().bytes() == w.kp.seed().bytes(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(round_trip_with_default_parameters) {
    // The one test that pays for the real 3 passes over 64 MiB.
    Wrapped w;
    auto blob = wrap_seed(w.kp, as_bytes(kPass), w.salt, KdfParams{});
    BOOST_TEST(be32(blob, 9) == 3u);
    BOOST_TEST(be32(blob, 13) == 65536u);
    auto parsed = parse_wrapped(blob, kLabel);
    BOOST_TEST(parsed.kdf.opslimit == 3u);
    BOOST_TEST(parsed.kdf.memlimit_kib == 65536u);
    auto kp = unwrap_seed(parsed, as_bytes(kPass), w.salt, w.kp.public_key());
    BOOST_TEST(kp.seed().bytes() == w.kp.seed().bytes(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(blob_is_90_bytes_with_the_spec_header) {
    Keypair kp = Keypair::generate();
    Salt salt = random_salt();
    const KdfParams params{2, 300}; // distinctive bytes: 00 00 00 02 / 00 00 01 2c
    WrappedBytes blob = wrap_seed(kp, as_bytes(kPass), salt, params);
    BOOST_TEST(blob.size() == 90u);
    BOOST_TEST(std::string(blob.begin(), blob.begin() + 8) == "PUDDLEW1");
    BOOST_TEST(blob[8] == 0x01);
    const std::uint8_t ops[4] = {0x00, 0x00, 0x00, 0x02};
    const std::uint8_t mem[4] = {0x00, 0x00, 0x01, 0x2c};
    BOOST_TEST(std::memcmp(blob.data() + 9, ops, 4) == 0);
    BOOST_TEST(std::memcmp(blob.data() + 13, mem, 4) == 0);
    BOOST_TEST(blob[17] == 0x00);

    auto parsed = parse_wrapped(blob, kLabel);
    BOOST_TEST(parsed.kdf == params);
    BOOST_TEST(std::memcmp(parsed.nonce.data(), blob.data() + 18, 24) == 0);
    BOOST_TEST(parsed.raw == blob);
}

BOOST_AUTO_TEST_CASE(blob_decrypts_with_the_spec_construction_independently) {
    // Rebuild the unwrap from SPEC §4 with libsodium alone: key = Argon2id,
    // AD = header || public key, nonce at 18, ciphertext||tag at 42.
    Wrapped w;
    std::uint8_t key[32];
    BOOST_REQUIRE(crypto_pwhash(key, sizeof key, kPass.data(), kPass.size(), w.salt.data(), kFast.opslimit,
                                std::size_t(kFast.memlimit_kib) * 1024, crypto_pwhash_ALG_ARGON2ID13) == 0);
    std::uint8_t ad[18 + 32];
    std::memcpy(ad, w.blob.data(), 18);
    std::memcpy(ad + 18, w.kp.public_key().bytes.data(), 32);
    std::uint8_t seed[32];
    unsigned long long seed_len = 0;
    BOOST_REQUIRE(crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &seed_len, nullptr, w.blob.data() + 42, 48, ad,
                                                             sizeof ad, w.blob.data() + 18, key) == 0);
    BOOST_TEST(seed_len == 32u);
    BOOST_TEST(std::memcmp(seed, w.kp.seed().data(), 32) == 0);
}

BOOST_AUTO_TEST_CASE(every_wrap_uses_a_fresh_nonce) {
    Wrapped w;
    WrappedBytes again = wrap_seed(w.kp, as_bytes(kPass), w.salt, kFast);
    BOOST_TEST(std::memcmp(w.blob.data(), again.data(), 18) == 0); // same header
    BOOST_TEST(std::memcmp(w.blob.data() + 18, again.data() + 18, 24) != 0); // new nonce
    BOOST_TEST(std::memcmp(w.blob.data() + 42, again.data() + 42, 48) != 0); // so new ciphertext
    // Both still open.
    BOOST_TEST(open(again, kPass, w.salt, w.kp.public_key()).public_key() == w.kp.public_key());
}

BOOST_AUTO_TEST_CASE(wrong_passphrase_is_exit_5_with_the_spec_message) {
    Wrapped w;
    auto err = catch_error([&] { open(w.blob, kWrongPass, w.salt, w.kp.public_key()); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    BOOST_TEST(err->why() == kTagFailure);
    BOOST_TEST(!err->hint().empty());
}

BOOST_AUTO_TEST_CASE(wrong_salt_is_a_tag_failure) {
    Wrapped w;
    Salt other = w.salt;
    other[0] ^= 1;
    auto err = catch_error([&] { open(w.blob, kPass, other, w.kp.public_key()); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    BOOST_TEST(err->why() == kTagFailure);
}

BOOST_AUTO_TEST_CASE(blob_paired_with_another_identity_pub_is_refused) {
    Wrapped w;
    Keypair other = Keypair::generate();
    auto err = catch_error([&] { open(w.blob, kPass, w.salt, other.public_key()); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    BOOST_TEST(err->why() == kTagFailure);
}

BOOST_AUTO_TEST_CASE(seed_that_does_not_derive_identity_pub_is_a_corrupted_identity) {
    // A blob whose AD names key B but which holds A's seed authenticates
    // fine; the derived public key then does not match.
    Keypair a = Keypair::generate(), b = Keypair::generate();
    Salt salt = random_salt();
    WrappedBytes blob = wrap_seed(a, as_bytes(kPass), salt, kFast);
    auto key = derive_wrapping_key(as_bytes(kPass), salt, kFast);
    std::uint8_t ad[18 + 32];
    std::memcpy(ad, blob.data(), 18);
    std::memcpy(ad + 18, b.public_key().bytes.data(), 32);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(blob.data() + 42, &clen, a.seed().data(), 32, ad, sizeof ad, nullptr,
                                               blob.data() + 18, key.data());
    BOOST_REQUIRE(clen == 48u);

    auto err = catch_error([&] { open(blob, kPass, salt, b.public_key()); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    BOOST_TEST(err->what_failed() == "corrupted identity");
    CHECK_CONTAINS(err->why(), "does not match identity.pub");
}

BOOST_AUTO_TEST_CASE(a_flipped_byte_anywhere_is_exit_5) {
    Wrapped w;
    // Sanity: the untouched blob opens, so every failure below is the flip's.
    BOOST_REQUIRE(open(w.blob, kPass, w.salt, w.kp.public_key()).public_key() == w.kp.public_key());

    for (std::size_t off = 0; off < kWrappedBytes; ++off) {
        for (std::uint8_t mask : {std::uint8_t(0x01), std::uint8_t(0x80), std::uint8_t(0xff)}) {
            BOOST_TEST_CONTEXT("offset " << off << ", xor 0x" << std::hex << int(mask)) {
                WrappedBytes b = w.blob;
                b[off] ^= mask;
                auto err = catch_error([&] { open(b, kPass, w.salt, w.kp.public_key()); });
                BOOST_REQUIRE(err);
                BOOST_TEST(err->kind() == Failure::bad_passphrase);

                if (off < 8) { // magic
                    BOOST_TEST(err->what_failed() == "cannot read " + kLabel);
                    // Still "PUDDLE??" is another version of the format; anything else is not ours.
                    CHECK_CONTAINS(err->why(), off < 6 ? "unknown magic" : "is not supported");
                } else if (off == 8) { // KDF id
                    BOOST_TEST(err->what_failed() == "cannot read " + kLabel);
                    CHECK_CONTAINS(err->why(), "unknown KDF id 0x" + to_hex(std::span(&b[8], 1)));
                } else if (off < 17) { // opslimit / memlimit
                    const KdfParams changed{be32(b, 9), be32(b, 13)};
                    const bool in_bounds = changed.opslimit >= kMinOpslimit && changed.opslimit <= kMaxOpslimit &&
                                           changed.memlimit_kib >= kMinMemlimitKib &&
                                           changed.memlimit_kib <= kMaxMemlimitKib;
                    if (in_bounds) {
                        BOOST_TEST(err->why() == kTagFailure); // header is in the AD
                    } else {
                        BOOST_TEST(err->what_failed() == "cannot read " + kLabel);
                        CHECK_CONTAINS(err->why(), off < 13 ? "opslimit" : "memlimit");
                        CHECK_CONTAINS(err->why(), "outside");
                    }
                } else if (off == 17) { // reserved
                    BOOST_TEST(err->what_failed() == "cannot read " + kLabel);
                    CHECK_CONTAINS(err->why(), "reserved");
                } else { // nonce, ciphertext, tag
                    BOOST_TEST(err->why() == kTagFailure);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(truncated_blob_is_exit_5_naming_its_size) {
    Wrapped w;
    for (std::size_t len = 0; len < kWrappedBytes; ++len) {
        BOOST_TEST_CONTEXT("length " << len) {
            auto err = catch_error([&] { parse_wrapped(std::span(w.blob.data(), len), kLabel); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::bad_passphrase);
            BOOST_TEST(err->what_failed() == "cannot read " + kLabel);
            CHECK_CONTAINS(err->why(), "file is " + std::to_string(len) + " bytes");
        }
    }
}

BOOST_AUTO_TEST_CASE(over_long_blob_is_exit_5_naming_its_size) {
    Wrapped w;
    for (std::size_t len : {91u, 200u}) {
        BOOST_TEST_CONTEXT("length " << len) {
            Bytes b(w.blob.begin(), w.blob.end());
            b.resize(len, 0);
            auto err = catch_error([&] { parse_wrapped(b, kLabel); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::bad_passphrase);
            CHECK_CONTAINS(err->why(), "file is " + std::to_string(len) + " bytes");
            CHECK_CONTAINS(err->why(), "exactly 90");
        }
    }
}

BOOST_AUTO_TEST_CASE(future_version_magic_names_the_version_found) {
    Wrapped w;
    Bytes b(w.blob.begin(), w.blob.end());
    std::memcpy(b.data(), "PUDDLEW2", 8);
    auto err = catch_error([&] { parse_wrapped(b, kLabel); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    BOOST_TEST(err->what_failed() == "cannot read " + kLabel); // names the file
    CHECK_CONTAINS(err->why(), "version \"PUDDLEW2\" is not supported");
}

BOOST_AUTO_TEST_CASE(unknown_magic_is_named_as_such) {
    Wrapped w;
    Bytes b(w.blob.begin(), w.blob.end());
    std::memcpy(b.data(), "GARBAGE!", 8);
    auto err = catch_error([&] { parse_wrapped(b, kLabel); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    CHECK_CONTAINS(err->why(), "unknown magic \"GARBAGE!\"");
    BOOST_TEST(!puddle_test::contains(err->why(), "version"));
}

BOOST_AUTO_TEST_CASE(unprintable_magic_is_shown_escaped) {
    Wrapped w;
    Bytes b(w.blob.begin(), w.blob.end());
    b[0] = 0x00;
    b[1] = 0xff;
    auto err = catch_error([&] { parse_wrapped(b, kLabel); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    CHECK_CONTAINS(err->why(), "unknown magic \"\\x00\\xffDDLEW1\"");
}

BOOST_AUTO_TEST_CASE(unknown_kdf_id_is_named) {
    Wrapped w;
    Bytes b(w.blob.begin(), w.blob.end());
    b[8] = 0x02;
    auto err = catch_error([&] { parse_wrapped(b, kLabel); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::bad_passphrase);
    BOOST_TEST(err->what_failed() == "cannot read " + kLabel);
    CHECK_CONTAINS(err->why(), "KDF id 0x02");
}

BOOST_AUTO_TEST_CASE(hostile_kdf_parameters_are_refused_before_any_work) {
    Wrapped w;
    struct Case {
        std::uint32_t ops, mem;
        const char *word;
    };
    for (const Case c : {Case{0, 8, "opslimit"}, Case{33, 8, "opslimit"}, Case{0xffffffffu, 8, "opslimit"},
                         Case{1, 7, "memlimit"}, Case{1, 1024 * 1024 + 1, "memlimit"},
                         Case{1, 0xffffffffu, "memlimit"}}) {
        BOOST_TEST_CONTEXT("ops " << c.ops << " mem " << c.mem) {
            WrappedBytes b = w.blob;
            for (int i = 0; i < 4; ++i) {
                b[9 + i] = std::uint8_t(c.ops >> (24 - 8 * i));
                b[13 + i] = std::uint8_t(c.mem >> (24 - 8 * i));
            }
            auto err = catch_error([&] { parse_wrapped(b, kLabel); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::bad_passphrase);
            CHECK_CONTAINS(err->why(), c.word);
        }
    }
}

BOOST_AUTO_TEST_CASE(kdf_bounds_are_inclusive) {
    BOOST_CHECK_NO_THROW(check_kdf_params(KdfParams{kMinOpslimit, kMinMemlimitKib}, "test"));
    BOOST_CHECK_NO_THROW(check_kdf_params(KdfParams{kMaxOpslimit, kMaxMemlimitKib}, "test"));
    auto err = catch_error([] { check_kdf_params(KdfParams{kMaxOpslimit + 1, 8}, "[kdf] in puddle.toml"); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
    BOOST_TEST(err->what_failed() == "[kdf] in puddle.toml");
    err = catch_error([] { check_kdf_params(KdfParams{1, kMaxMemlimitKib + 1}, "x"); });
    BOOST_REQUIRE(err);
    CHECK_CONTAINS(err->why(), "memlimit");
}

BOOST_AUTO_TEST_CASE(wrapping_with_out_of_bounds_parameters_is_refused) {
    Keypair kp = Keypair::generate();
    auto err = catch_error([&] { wrap_seed(kp, as_bytes(kPass), random_salt(), KdfParams{0, 8}); });
    BOOST_REQUIRE(err);
    BOOST_TEST(err->kind() == Failure::failed);
}

BOOST_AUTO_TEST_CASE(salt_of_the_wrong_length_is_exit_5) {
    const Bytes good(16, 0xab);
    Salt s = parse_salt(good, "identity.salt");
    BOOST_TEST(std::all_of(s.begin(), s.end(), [](std::uint8_t x) { return x == 0xab; }));
    for (std::size_t len : {0u, 15u, 17u, 32u}) {
        BOOST_TEST_CONTEXT("length " << len) {
            const Bytes b(len, 0xab);
            auto err = catch_error([&] { parse_salt(b, "/state/identity.salt"); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::bad_passphrase);
            BOOST_TEST(err->what_failed() == "cannot read /state/identity.salt");
            CHECK_CONTAINS(err->why(), "file is " + std::to_string(len) + " bytes");
        }
    }
}

BOOST_AUTO_TEST_CASE(random_salts_differ) {
    BOOST_TEST(random_salt() != random_salt());
}

BOOST_AUTO_TEST_CASE(wrapping_key_depends_on_every_input) {
    const Salt salt{};
    auto k = derive_wrapping_key(as_bytes(kPass), salt, kFast);
    BOOST_TEST(k.size() == 32u);
    auto same = derive_wrapping_key(as_bytes(kPass), salt, kFast);
    BOOST_TEST(k.bytes() == same.bytes(), boost::test_tools::per_element());
    Salt salt2{};
    salt2[15] = 1;
    std::vector<SecretBuffer> others;
    others.push_back(derive_wrapping_key(as_bytes(kWrongPass), salt, kFast));
    others.push_back(derive_wrapping_key(as_bytes(kPass), salt2, kFast));
    others.push_back(derive_wrapping_key(as_bytes(kPass), salt, KdfParams{2, 8}));
    others.push_back(derive_wrapping_key(as_bytes(kPass), salt, KdfParams{1, 16}));
    for (const auto &other : others) BOOST_TEST(std::memcmp(k.data(), other.data(), 32) != 0);
}
