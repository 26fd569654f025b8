// Ed25519 identities: the strict `ed25519:<hex>` form, the identity.pub file,
// keypairs from seeds, signing and verification.
#define BOOST_TEST_MODULE identity
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/identity.hpp"
#include "core/identity_store.hpp"

#include <stdexcept>

using namespace puddle;
using puddle_test::catch_error;

namespace {

// RFC 8032 §7.1 TEST 1.
const std::string kSeedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const std::string kPubHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const std::string kKey = "ed25519:" + kPubHex;

Keypair test_keypair() { return Keypair::from_seed(*from_hex(kSeedHex)); }

// Parses and returns the why text; the parse must fail.
std::string rejection(const std::string &text) {
    std::string why;
    auto key = parse_public_key(text, &why);
    BOOST_TEST(!key.has_value(), "accepted \"" << text << "\"");
    BOOST_TEST(!why.empty(), "no reason given for \"" << text << "\"");
    return why;
}

} // namespace

BOOST_AUTO_TEST_CASE(public_key_parses_from_its_canonical_form) {
    std::string why = "untouched";
    auto key = parse_public_key(kKey, &why);
    BOOST_REQUIRE(key);
    BOOST_TEST(to_hex(key->bytes) == kPubHex);
    BOOST_TEST(key->bytes[0] == 0xd7);
    BOOST_TEST(key->bytes[31] == 0x1a);
    BOOST_TEST(why == "untouched"); // success leaves *why alone
    BOOST_TEST(parse_public_key(kKey).has_value()); // why is optional
}

BOOST_AUTO_TEST_CASE(public_key_str_and_short_hex) {
    auto key = *parse_public_key(kKey);
    BOOST_TEST(key.str() == kKey);
    BOOST_TEST(key.short_hex() == "d75a980182b10ab7");
    BOOST_TEST(key.short_hex().size() == 16u);
    BOOST_TEST(*parse_public_key(key.str()) == key);

    PublicKey zero;
    BOOST_TEST(zero.str() == "ed25519:" + std::string(64, '0'));
    BOOST_TEST(zero.short_hex() == std::string(16, '0'));
}

BOOST_AUTO_TEST_CASE(uppercase_hex_is_rejected) {
    std::string upper = kPubHex;
    for (auto &c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    CHECK_CONTAINS(rejection("ed25519:" + upper), "lowercase");
    // One uppercase digit is enough.
    std::string one = kKey;
    one[8 + 3] = 'A'; // 'a' → 'A'
    BOOST_REQUIRE(one != kKey);
    CHECK_CONTAINS(rejection(one), "lowercase");
}

BOOST_AUTO_TEST_CASE(wrong_number_of_digits_is_rejected) {
    CHECK_CONTAINS(rejection(kKey.substr(0, kKey.size() - 1)), "found 63");
    CHECK_CONTAINS(rejection(kKey + "0"), "found 65");
    CHECK_CONTAINS(rejection("ed25519:"), "found 0");
    CHECK_CONTAINS(rejection(kKey + kPubHex), "found 128");
}

BOOST_AUTO_TEST_CASE(missing_or_wrong_prefix_is_rejected) {
    for (const std::string &text : {kPubHex, "ED25519:" + kPubHex, "ed25519 " + kPubHex, "ed25519" + kPubHex,
                                    "ssh-ed25519:" + kPubHex, " " + kKey, std::string()}) {
        BOOST_TEST_CONTEXT("\"" << text << "\"") { CHECK_CONTAINS(rejection(text), "ed25519:"); }
    }
}

BOOST_AUTO_TEST_CASE(trailing_whitespace_is_rejected) {
    for (const std::string &text : {kKey + "\n", kKey + " ", kKey + "\t", kKey + "\r\n"}) {
        BOOST_TEST_CONTEXT("key followed by " << text.size() - kKey.size() << " whitespace") {
            CHECK_CONTAINS(rejection(text), "found 6");
        }
    }
    // Whitespace in place of a digit keeps the length right: still refused.
    std::string spaced = kKey;
    spaced.back() = ' ';
    CHECK_CONTAINS(rejection(spaced), "hex");
}

BOOST_AUTO_TEST_CASE(non_hex_digits_are_rejected) {
    for (char bad : {'g', 'z', 'G', ':', '-', '\0', '/', '`'}) {
        std::string text = kKey;
        text[20] = bad;
        BOOST_TEST_CONTEXT("digit '" << bad << "'") { CHECK_CONTAINS(rejection(text), "hex"); }
    }
}

BOOST_AUTO_TEST_CASE(keypair_from_seed_matches_rfc8032) {
    auto kp = test_keypair();
    BOOST_TEST(kp.public_key().str() == kKey);
    BOOST_TEST(to_hex(kp.seed().bytes()) == kSeedHex);
    BOOST_TEST(kp.seed().size() == kSeedBytes);
}

BOOST_AUTO_TEST_CASE(keypair_from_a_seed_of_the_wrong_size_is_refused) {
    const Bytes short_seed(31, 1), long_seed(33, 1);
    BOOST_CHECK_THROW(Keypair::from_seed(short_seed), std::invalid_argument);
    BOOST_CHECK_THROW(Keypair::from_seed(long_seed), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(generated_keypairs_are_distinct_and_consistent) {
    auto a = Keypair::generate();
    auto b = Keypair::generate();
    BOOST_TEST(!(a.public_key() == b.public_key()));
    // The public key is the one the seed derives.
    auto again = Keypair::from_seed(a.seed().bytes());
    BOOST_TEST(again.public_key() == a.public_key());
}

BOOST_AUTO_TEST_CASE(signature_verifies_under_its_key_only) {
    auto kp = Keypair::generate();
    const std::string message = "puddle test message";
    Signature sig = kp.sign(as_bytes(message));
    BOOST_TEST(verify_signature(kp.public_key(), as_bytes(message), sig));
    // Deterministic (Ed25519 has no per-signature randomness).
    BOOST_TEST(kp.sign(as_bytes(message)) == sig);
    auto other = Keypair::generate();
    BOOST_TEST(!verify_signature(other.public_key(), as_bytes(message), sig));
}

BOOST_AUTO_TEST_CASE(verify_rejects_a_modified_message) {
    auto kp = test_keypair();
    const std::string message = "sign me";
    Signature sig = kp.sign(as_bytes(message));
    for (std::size_t i = 0; i < message.size(); ++i) {
        std::string changed = message;
        changed[i] ^= 0x01;
        BOOST_TEST(!verify_signature(kp.public_key(), as_bytes(changed), sig), "byte " << i);
    }
    BOOST_TEST(!verify_signature(kp.public_key(), as_bytes(message + "!"), sig));
    BOOST_TEST(!verify_signature(kp.public_key(), as_bytes(message.substr(1)), sig));
}

BOOST_AUTO_TEST_CASE(verify_rejects_a_modified_signature) {
    auto kp = test_keypair();
    const std::string message = "sign me";
    Signature sig = kp.sign(as_bytes(message));
    for (std::size_t i = 0; i < sig.size(); ++i) {
        Signature bad = sig;
        bad[i] ^= 0x01;
        BOOST_TEST(!verify_signature(kp.public_key(), as_bytes(message), bad), "byte " << i);
    }
    // Wrong lengths are refused, not read past.
    BOOST_TEST(!verify_signature(kp.public_key(), as_bytes(message), std::span(sig.data(), 63)));
    Bytes longer(sig.begin(), sig.end());
    longer.push_back(0);
    BOOST_TEST(!verify_signature(kp.public_key(), as_bytes(message), longer));
    BOOST_TEST(!verify_signature(kp.public_key(), as_bytes(message), Bytes{}));
}

BOOST_AUTO_TEST_CASE(pub_file_accepts_one_trailing_newline) {
    BOOST_TEST(parse_pub_file(as_bytes(kKey + "\n"), "identity.pub").str() == kKey);
    BOOST_TEST(parse_pub_file(as_bytes(kKey), "identity.pub").str() == kKey);
}

BOOST_AUTO_TEST_CASE(pub_file_rejects_anything_more) {
    for (const std::string &text :
         {kKey + "\n\n", kKey + "\r\n", kKey + " \n", kKey + "\n ", "\n" + kKey, kKey + "\n" + kKey + "\n",
          std::string("\n"), std::string()}) {
        BOOST_TEST_CONTEXT("\"" << text << "\"") {
            auto err = catch_error([&] { parse_pub_file(as_bytes(text), "/state/identity.pub"); });
            BOOST_REQUIRE(err);
            BOOST_TEST(err->kind() == Failure::bad_passphrase);
            BOOST_TEST(err->what_failed() == "cannot read /state/identity.pub");
            BOOST_TEST(!err->why().empty());
            BOOST_TEST(!err->hint().empty());
        }
    }
}
