// Known-answer tests from published (or independently computed) vectors in
// tests/vectors/: Ed25519 (RFC 8032), XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03)
// and Argon2id with puddle's default parameters.
#define BOOST_TEST_MODULE vectors
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"
#include "vectors.hpp"

#include "core/identity.hpp"
#include "core/wrap.hpp"

#include <cstring>
#include <sodium.h>

using namespace puddle;

using puddle_test::hex_field;

BOOST_AUTO_TEST_CASE(ed25519_rfc8032_seed_gives_the_public_key) {
    const auto tree = puddle_test::load_vectors("ed25519-rfc8032.json");
    int count = 0;
    for (const auto &[_, v] : tree.get_child("vectors")) {
        BOOST_TEST_CONTEXT(v.get<std::string>("name")) {
            const auto seed = hex_field(v, "seed");
            const auto pub = hex_field(v, "public");
            BOOST_REQUIRE(seed.size() == kSeedBytes);
            BOOST_REQUIRE(pub.size() == kPublicKeyBytes);
            auto kp = Keypair::from_seed(seed);
            BOOST_TEST(kp.public_key().bytes == pub, boost::test_tools::per_element());
            BOOST_TEST(kp.public_key().str() == "ed25519:" + v.get<std::string>("public"));
            ++count;
        }
    }
    BOOST_TEST(count == 2);
}

BOOST_AUTO_TEST_CASE(ed25519_rfc8032_signature_is_exact_and_verifies) {
    const auto tree = puddle_test::load_vectors("ed25519-rfc8032.json");
    int count = 0;
    for (const auto &[_, v] : tree.get_child("vectors")) {
        BOOST_TEST_CONTEXT(v.get<std::string>("name")) {
            const auto seed = hex_field(v, "seed");
            const auto message = hex_field(v, "message");
            const auto expected = hex_field(v, "signature");
            BOOST_REQUIRE(expected.size() == kSignatureBytes);
            auto kp = Keypair::from_seed(seed);
            Signature sig = kp.sign(message);
            BOOST_TEST(sig == expected, boost::test_tools::per_element());
            BOOST_TEST(verify_signature(kp.public_key(), message, expected));

            Bytes other_message = message;
            other_message.push_back(0x00);
            BOOST_TEST(!verify_signature(kp.public_key(), other_message, expected));
            Bytes bad_sig = expected;
            bad_sig[0] ^= 0x01;
            BOOST_TEST(!verify_signature(kp.public_key(), message, bad_sig));
            ++count;
        }
    }
    BOOST_TEST(count == 2);
}

BOOST_AUTO_TEST_CASE(xchacha20poly1305_draft03_encrypts_to_ciphertext_then_tag) {
    const auto v = puddle_test::load_vectors("xchacha20poly1305-draft03.json");
    const auto key = hex_field(v, "key");
    const auto nonce = hex_field(v, "nonce");
    const auto aad = hex_field(v, "aad");
    const auto plaintext = puddle_test::bytes_of(v.get<std::string>("plaintext_ascii"));
    auto expected = hex_field(v, "ciphertext");
    const auto tag = hex_field(v, "tag");
    BOOST_REQUIRE(key.size() == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    BOOST_REQUIRE(nonce.size() == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    BOOST_REQUIRE(tag.size() == crypto_aead_xchacha20poly1305_ietf_ABYTES);
    BOOST_REQUIRE(expected.size() == plaintext.size());
    expected.insert(expected.end(), tag.begin(), tag.end());

    BOOST_REQUIRE(sodium_init() >= 0);
    Bytes out(plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned long long out_len = 0;
    BOOST_REQUIRE(crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(),
                                                             plaintext.size(), aad.data(), aad.size(), nullptr,
                                                             nonce.data(), key.data()) == 0);
    BOOST_TEST(out_len == expected.size());
    BOOST_TEST(out == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(xchacha20poly1305_draft03_decrypts_and_rejects_tampering) {
    const auto v = puddle_test::load_vectors("xchacha20poly1305-draft03.json");
    const auto key = hex_field(v, "key");
    const auto nonce = hex_field(v, "nonce");
    const auto aad = hex_field(v, "aad");
    const auto plaintext = puddle_test::bytes_of(v.get<std::string>("plaintext_ascii"));
    auto sealed = hex_field(v, "ciphertext");
    const auto tag = hex_field(v, "tag");
    sealed.insert(sealed.end(), tag.begin(), tag.end());

    BOOST_REQUIRE(sodium_init() >= 0);
    auto open = [&](const Bytes &ct, const Bytes &ad, Bytes &out) {
        out.assign(ct.size(), 0);
        unsigned long long len = 0;
        int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, ct.data(), ct.size(),
                                                            ad.data(), ad.size(), nonce.data(), key.data());
        out.resize(rc == 0 ? len : 0);
        return rc == 0;
    };
    Bytes out;
    BOOST_REQUIRE(open(sealed, aad, out));
    BOOST_TEST(out == plaintext, boost::test_tools::per_element());

    Bytes bad = sealed;
    bad.back() ^= 0x01; // tag
    BOOST_TEST(!open(bad, aad, out));
    bad = sealed;
    bad[0] ^= 0x01; // ciphertext
    BOOST_TEST(!open(bad, aad, out));
    Bytes bad_aad = aad;
    bad_aad[0] ^= 0x01;
    BOOST_TEST(!open(sealed, bad_aad, out));
}

BOOST_AUTO_TEST_CASE(argon2id_with_puddle_defaults_gives_the_known_key) {
    const auto v = puddle_test::load_vectors("argon2id-puddle-params.json");
    BOOST_REQUIRE(v.get<int>("lanes") == 1);
    BOOST_REQUIRE(v.get<int>("output_len") == 32);
    const auto salt_bytes = hex_field(v, "salt");
    BOOST_REQUIRE(salt_bytes.size() == kSaltBytes);
    Salt salt;
    std::copy(salt_bytes.begin(), salt_bytes.end(), salt.begin());
    const KdfParams params{v.get<std::uint32_t>("opslimit"), v.get<std::uint32_t>("memlimit_kib")};
    // The vector is meant to pin the defaults new wraps use.
    BOOST_TEST(params.opslimit == KdfParams{}.opslimit);
    BOOST_TEST(params.memlimit_kib == KdfParams{}.memlimit_kib);

    const auto password = puddle_test::bytes_of(v.get<std::string>("password_ascii"));
    auto key = derive_wrapping_key(password, salt, params);
    const auto expected = hex_field(v, "output");
    BOOST_TEST(key.bytes() == expected, boost::test_tools::per_element());
}
