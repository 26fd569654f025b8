// CPace over ristretto255 + SHA-512 (PAIRING.md "CPace"): the draft's
// known-answer vector (g, Ya, Yb, K, ISK and the must-abort points), key
// confirmation and the payload key, and puddle's inputs (code, CI, ADa, ADb).
#define BOOST_TEST_MODULE cpace
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"
#include "vectors.hpp"

#include "pair/cpace.hpp"

#include <sodium.h>
#include <type_traits>

using namespace puddle;
using namespace puddle::pair;
using puddle_test::bytes_of;
namespace pt = boost::property_tree;

namespace {

static_assert(!std::is_copy_constructible_v<CpaceKeys>, "keys hold SecretBuffers: move-only");
static_assert(!std::is_copy_constructible_v<CpaceParty>, "a party holds its scalar: move-only");

struct Vector {
    pt::ptree tree;
    Bytes field(const std::string &key) const { return puddle_test::hex_field(tree, key); }
    std::string text(const std::string &key) const { return tree.get<std::string>(key); }
};

Vector load_vector() {
    return Vector{puddle_test::load_vectors("cpace-ristretto255.json")};
}

Bytes hex(std::string_view text) {
    auto b = from_hex(text);
    BOOST_REQUIRE(b);
    return *b;
}

SecretBuffer secret(std::span<const std::uint8_t> bytes) {
    SecretBuffer s(bytes.size());
    std::copy(bytes.begin(), bytes.end(), s.data());
    return s;
}

Bytes plain(const SecretBuffer &s) { return Bytes(s.bytes().begin(), s.bytes().end()); }
template <std::size_t N>
Bytes plain(const std::array<std::uint8_t, N> &a) { return Bytes(a.begin(), a.end()); }

// The vector's parties, with its fixed scalars.
struct VectorParties {
    Vector v = load_vector();
    Bytes prs = bytes_of(v.text("PRS_ascii"));
    Bytes ci = v.field("CI");
    Bytes sid = v.field("sid");
    Bytes ada = bytes_of(v.text("ADa_ascii"));
    Bytes adb = bytes_of(v.text("ADb_ascii"));
    CpaceParty a = CpaceParty::with_scalar(CpaceRole::initiator, prs, ci, sid, ada, secret(v.field("ya")));
    CpaceParty b = CpaceParty::with_scalar(CpaceRole::responder, prs, ci, sid, adb, secret(v.field("yb")));
};

// Fresh random parties for the same code (or two different codes).
struct RandomParties {
    explicit RandomParties(std::string_view code_a = "12345678", std::string_view code_b = "12345678")
        : a(CpaceRole::initiator, prs(code_a).bytes(), ci, sid, ada),
          b(CpaceRole::responder, prs(code_b).bytes(), ci, sid, adb) {}
    static SecretBuffer prs(std::string_view code) {
        auto p = prs_from_code(code);
        BOOST_REQUIRE(p);
        return std::move(*p);
    }
    Bytes sid = make_sid(SessionNonce{1, 2, 3}, SessionNonce{4, 5, 6});
    Bytes ci = make_ci(Bytes(32, 0xcb), "alice");
    Bytes ada = make_ada(kPairProtocolVersion, Purpose::pair, "laptop");
    Bytes adb = make_adb(kPairProtocolVersion, Purpose::pair, "desktop", "ed25519:" + std::string(64, 'a'));
    CpaceParty a, b;
};

} // namespace

// --- lv ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(lv_prefixes_a_leb128_length) {
    BOOST_TEST(lv({}) == Bytes{0x00}, boost::test_tools::per_element());
    BOOST_TEST(lv(bytes_of("ab")) == (Bytes{0x02, 'a', 'b'}), boost::test_tools::per_element());
    const Bytes b127(127, 0x11), b128(128, 0x22), b300(300, 0x33);
    BOOST_TEST(lv(b127).size() == 128u);
    BOOST_TEST(lv(b127)[0] == 0x7f);
    BOOST_TEST(lv(b128).size() == 130u);
    BOOST_TEST(lv(b128)[0] == 0x80);
    BOOST_TEST(lv(b128)[1] == 0x01);
    BOOST_TEST(lv(b300)[0] == 0xac);
    BOOST_TEST(lv(b300)[1] == 0x02);
    BOOST_TEST(lv_cat({bytes_of("a"), {}, bytes_of("bc")}) == (Bytes{1, 'a', 0, 2, 'b', 'c'}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(split_lv_cat_is_the_strict_inverse_of_lv_cat) {
    const Bytes big(300, 7);
    const Bytes cat = lv_cat({bytes_of("x"), big, {}});
    auto parts = split_lv_cat(cat, 3);
    BOOST_REQUIRE(parts);
    BOOST_TEST((*parts)[0].size() == 1u);
    BOOST_TEST((*parts)[1].size() == 300u);
    BOOST_TEST((*parts)[2].empty());

    BOOST_TEST(!split_lv_cat(cat, 2));                           // bytes left over
    BOOST_TEST(!split_lv_cat(cat, 4));                           // one part missing
    BOOST_TEST(!split_lv_cat(Bytes(cat.begin(), cat.end() - 2), 3)); // truncated
    BOOST_TEST(!split_lv_cat(Bytes{0x80, 0x00}, 1));             // non-minimal zero
    BOOST_TEST(!split_lv_cat(Bytes{0x81, 0x00, 'a'}, 1));        // non-minimal one
    BOOST_TEST(!split_lv_cat(Bytes{0x80}, 1));                   // length cut short
    BOOST_TEST(!split_lv_cat(Bytes{0xff, 0xff, 0xff, 0xff, 0x0f}, 1)); // absurd length
    BOOST_TEST(!split_lv_cat(Bytes{0x05, 'a'}, 1));              // length past the end
}

// --- the draft's vector ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(vector_generator_matches) {
    const Vector v = load_vector();
    BOOST_TEST(v.text("DSI_ascii") == std::string(kCpaceDsi));
    BOOST_TEST(v.text("s_in_bytes") == std::to_string(kCpaceSInBytes));
    const SecretBuffer g = generator(bytes_of(v.text("PRS_ascii")), v.field("CI"), v.field("sid"));
    BOOST_TEST(plain(g) == v.field("g"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(vector_shares_match_with_the_fixed_scalars) {
    VectorParties p;
    BOOST_TEST(plain(p.a.share()) == p.v.field("Ya"), boost::test_tools::per_element());
    BOOST_TEST(plain(p.b.share()) == p.v.field("Yb"), boost::test_tools::per_element());

    const SecretBuffer g = generator(p.prs, p.ci, p.sid);
    BOOST_TEST(plain(public_share(secret(p.v.field("ya")), g)) == p.v.field("Ya"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(vector_shared_secret_matches_from_both_sides) {
    const Vector v = load_vector();
    auto ka = shared_secret(secret(v.field("ya")), v.field("Yb"));
    auto kb = shared_secret(secret(v.field("yb")), v.field("Ya"));
    BOOST_REQUIRE(ka);
    BOOST_REQUIRE(kb);
    BOOST_TEST(plain(*ka) == v.field("K"), boost::test_tools::per_element());
    BOOST_TEST(plain(*kb) == v.field("K"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(vector_isk_matches_from_the_function_and_both_parties) {
    VectorParties p;
    const SecretBuffer isk =
        derive_isk(p.sid, secret(p.v.field("K")), p.v.field("Ya"), p.ada, p.v.field("Yb"), p.adb);
    BOOST_TEST(plain(isk) == p.v.field("ISK_IR"), boost::test_tools::per_element());

    auto keys_a = p.a.finish(p.b.share(), p.adb);
    auto keys_b = p.b.finish(p.a.share(), p.ada);
    BOOST_REQUIRE(keys_a);
    BOOST_REQUIRE(keys_b);
    BOOST_TEST(plain(keys_a->isk) == p.v.field("ISK_IR"), boost::test_tools::per_element());
    BOOST_TEST(plain(keys_b->isk) == p.v.field("ISK_IR"), boost::test_tools::per_element());
}

// puddle's additions on top of the draft's ISK, recomputed independently with
// Python 3.11 (hashlib, hmac, cryptography's HKDF) from the vector's sid, Ya,
// Yb, ADa, ADb and ISK_IR. Not a published vector.
BOOST_AUTO_TEST_CASE(vector_tags_and_payload_key_match_an_independent_computation) {
    VectorParties p;
    const SecretBuffer isk = secret(p.v.field("ISK_IR"));
    const SecretBuffer mac_key = derive_mac_key(p.sid, isk);
    BOOST_TEST(plain(mac_key) == hex("26cef0ae277a6b25bb1ad7e3ca83ce2cd8f4341669dde058314a6a73d5fff55e"
                                     "09872d5546058d1d9374ee0363d4ec9aecb9b1beb2e50d30f122ad8e5056b413"),
               boost::test_tools::per_element());
    const Bytes ta = hex("30478d28d83ae3b214295e91f4a3eb62999a8ed94575075db4a7d3bc3e4d26f1"
                         "6c51adba12dc7771372637a46b5134e0937cddd7d820bfdd83be335e339eb57a");
    const Bytes tb = hex("e927a7da291676f8878caae9cb70407d2f14117e6f9ff9adcfda797c4bcf2bd2"
                         "fefd2ca3f2ddcce81b7386996c895b2f359010cc92069d5ff4ad49a977de79a6");
    const Bytes k = hex("373f4c19d5f11d641632ba39ce99c3eafa7411fb23b60c411ec0660dc1f08837");
    BOOST_TEST(plain(confirmation_tag(mac_key, p.v.field("Ya"), p.ada)) == ta, boost::test_tools::per_element());
    BOOST_TEST(plain(confirmation_tag(mac_key, p.v.field("Yb"), p.adb)) == tb, boost::test_tools::per_element());
    BOOST_TEST(plain(derive_payload_key(p.sid, isk)) == k, boost::test_tools::per_element());

    auto keys = p.a.finish(p.b.share(), p.adb);
    BOOST_REQUIRE(keys);
    BOOST_TEST(plain(keys->ta) == ta, boost::test_tools::per_element());
    BOOST_TEST(plain(keys->tb) == tb, boost::test_tools::per_element());
    BOOST_TEST(plain(keys->payload_key) == k, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(vector_must_abort_points_abort) {
    VectorParties p;
    int count = 0;
    for (const auto &[_, item] : p.v.tree.get_child("must_abort_on_Y")) {
        const Bytes y = hex(item.get_value<std::string>());
        BOOST_TEST_CONTEXT(item.get_value<std::string>()) {
            BOOST_TEST(!shared_secret(secret(p.v.field("ya")), y));
            BOOST_TEST(!shared_secret(secret(p.v.field("yb")), y));
            BOOST_TEST(!p.a.finish(y, p.adb));
            BOOST_TEST(!p.b.finish(y, p.ada));
        }
        ++count;
    }
    BOOST_TEST(count == 2);
}

BOOST_AUTO_TEST_CASE(a_share_of_the_wrong_size_or_a_non_canonical_encoding_aborts) {
    VectorParties p;
    const Bytes yb = p.v.field("Yb");
    BOOST_TEST(!p.a.finish(Bytes(yb.begin(), yb.end() - 1), p.adb));
    Bytes longer = yb;
    longer.push_back(0);
    BOOST_TEST(!p.a.finish(longer, p.adb));
    BOOST_TEST(!p.a.finish(Bytes{}, p.adb));
    // Ristretto encodings are canonical field elements with the low bit clear:
    // setting the low bit, or encoding p itself, is invalid.
    Bytes odd = yb;
    odd[0] |= 1;
    BOOST_TEST(!p.a.finish(odd, p.adb));
    const Bytes field_p = hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    BOOST_TEST(!p.a.finish(field_p, p.adb));
}

BOOST_AUTO_TEST_CASE(a_fixed_scalar_must_be_32_nonzero_bytes) {
    VectorParties p;
    auto zero = puddle_test::catch_error(
        [&] { CpaceParty::with_scalar(CpaceRole::initiator, p.prs, p.ci, p.sid, p.ada, SecretBuffer(32)); });
    BOOST_TEST(zero.has_value());
    auto short_scalar = puddle_test::catch_error(
        [&] { CpaceParty::with_scalar(CpaceRole::initiator, p.prs, p.ci, p.sid, p.ada, SecretBuffer(31)); });
    BOOST_TEST(short_scalar.has_value());
}

// --- random exchanges ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(random_parties_with_the_same_code_agree_on_everything) {
    RandomParties p;
    BOOST_TEST(plain(p.a.share()) != plain(p.b.share()));
    auto ka = p.a.finish(p.b.share(), p.adb);
    auto kb = p.b.finish(p.a.share(), p.ada);
    BOOST_REQUIRE(ka);
    BOOST_REQUIRE(kb);
    BOOST_TEST(plain(ka->isk) == plain(kb->isk), boost::test_tools::per_element());
    BOOST_TEST(plain(ka->ta) == plain(kb->ta), boost::test_tools::per_element());
    BOOST_TEST(plain(ka->tb) == plain(kb->tb), boost::test_tools::per_element());
    BOOST_TEST(plain(ka->payload_key) == plain(kb->payload_key), boost::test_tools::per_element());
    BOOST_TEST(ka->isk.size() == kIskBytes);
    BOOST_TEST(ka->payload_key.size() == kPayloadKeyBytes);
    BOOST_TEST(plain(ka->ta) != plain(ka->tb));

    // Each side sends its own tag and accepts the other's.
    BOOST_TEST(plain(ka->own_tag()) == plain(ka->ta));
    BOOST_TEST(plain(kb->own_tag()) == plain(kb->tb));
    BOOST_TEST(ka->peer_tag_matches(kb->own_tag()));
    BOOST_TEST(kb->peer_tag_matches(ka->own_tag()));
    // A side never accepts its own tag reflected back.
    BOOST_TEST(!ka->peer_tag_matches(ka->own_tag()));
    BOOST_TEST(!kb->peer_tag_matches(kb->own_tag()));
}

BOOST_AUTO_TEST_CASE(two_runs_draw_different_scalars) {
    RandomParties one, two;
    BOOST_TEST(plain(one.a.share()) != plain(two.a.share()));
}

BOOST_AUTO_TEST_CASE(a_wrong_code_on_one_side_fails_both_tags) {
    RandomParties p("12345678", "12345679");
    auto ka = p.a.finish(p.b.share(), p.adb);
    auto kb = p.b.finish(p.a.share(), p.ada);
    BOOST_REQUIRE(ka);
    BOOST_REQUIRE(kb);
    BOOST_TEST(!ka->peer_tag_matches(kb->own_tag())); // J refuses Tb
    BOOST_TEST(!kb->peer_tag_matches(ka->own_tag())); // H refuses Ta
    BOOST_TEST(plain(ka->payload_key) != plain(kb->payload_key));
}

BOOST_AUTO_TEST_CASE(a_changed_ad_or_sid_fails_the_tags) {
    RandomParties p;
    auto kb = p.b.finish(p.a.share(), p.ada);
    BOOST_REQUIRE(kb);
    // J sees a different ADb than H sent (a changed host name).
    auto ka = p.a.finish(p.b.share(), make_adb(kPairProtocolVersion, Purpose::pair, "desktoq",
                                               "ed25519:" + std::string(64, 'a')));
    BOOST_REQUIRE(ka);
    BOOST_TEST(!ka->peer_tag_matches(kb->own_tag()));

    // Another session (different nH) with the same code and inputs.
    const Bytes other_sid = make_sid(SessionNonce{1, 2, 3}, SessionNonce{4, 5, 7});
    const auto prs = RandomParties::prs("12345678");
    CpaceParty a2(CpaceRole::initiator, prs.bytes(), p.ci, other_sid, p.ada);
    auto ka2 = a2.finish(p.b.share(), p.adb);
    BOOST_REQUIRE(ka2);
    BOOST_TEST(!ka2->peer_tag_matches(kb->own_tag()));
}

BOOST_AUTO_TEST_CASE(tags_compare_in_full_and_by_size) {
    const Tag a{1, 2, 3};
    Tag b = a;
    BOOST_TEST(tags_equal(a, b));
    b[63] ^= 1;
    BOOST_TEST(!tags_equal(a, b));
    BOOST_TEST(!tags_equal(a, std::span<const std::uint8_t>(a).first(63)));
    BOOST_TEST(!tags_equal({}, {}));
}

// HKDF-SHA-512 from OpenSSL against RFC 5869 spelled out with libsodium's HMAC.
BOOST_AUTO_TEST_CASE(hkdf_matches_rfc5869_built_from_hmac) {
    const Bytes salt = bytes_of("salt-of-sixteen!");
    const Bytes ikm(64, 0x42);
    const Bytes info = bytes_of("puddle-pair/1 payload");
    for (std::size_t length : {32u, 64u, 100u}) {
        const SecretBuffer okm = hkdf_sha512(salt, secret(ikm).bytes(), info, length);
        BOOST_REQUIRE(okm.size() == length);

        std::uint8_t prk[64];
        crypto_auth_hmacsha512_state st;
        crypto_auth_hmacsha512_init(&st, salt.data(), salt.size());
        crypto_auth_hmacsha512_update(&st, ikm.data(), ikm.size());
        crypto_auth_hmacsha512_final(&st, prk);
        Bytes expected, t;
        for (std::uint8_t i = 1; expected.size() < length; ++i) {
            crypto_auth_hmacsha512_init(&st, prk, sizeof prk);
            crypto_auth_hmacsha512_update(&st, t.data(), t.size());
            crypto_auth_hmacsha512_update(&st, info.data(), info.size());
            crypto_auth_hmacsha512_update(&st, &i, 1);
            t.resize(64);
            crypto_auth_hmacsha512_final(&st, t.data());
            expected.insert(expected.end(), t.begin(), t.end());
        }
        expected.resize(length);
        BOOST_TEST(plain(okm) == expected, boost::test_tools::per_element());
    }
}

// --- puddle's inputs ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_code_gives_its_eight_digits_as_prs) {
    for (std::string_view code : {"01234567", "0123-4567"}) {
        auto prs = prs_from_code(code);
        BOOST_REQUIRE(prs);
        BOOST_TEST(plain(*prs) == bytes_of("01234567"), boost::test_tools::per_element());
    }
    for (std::string_view bad : {"", "1234567", "123456789", "1234-567", "123-45678", "1234 5678", "12345a78",
                                 "12-345678", "-12345678", "1234--5678", "１2345678"})
        BOOST_TEST(!prs_from_code(bad), "accepted " << bad);
}

BOOST_AUTO_TEST_CASE(sid_is_nj_then_nh) {
    const SessionNonce nj{1}, nh{2};
    const Bytes sid = make_sid(nj, nh);
    BOOST_TEST(sid.size() == kSidBytes);
    BOOST_TEST(sid[0] == 1);
    BOOST_TEST(sid[16] == 2);
    BOOST_TEST(puddle_test::catch_error([&] { make_sid(Bytes(15), nh); }).has_value());
}

BOOST_AUTO_TEST_CASE(ci_ada_and_adb_have_the_documented_layout) {
    const Bytes cb(32, 0xcb);
    Bytes expected_ci = {13};
    for (char c : std::string_view("puddle-pair/1")) expected_ci.push_back(static_cast<std::uint8_t>(c));
    expected_ci.push_back(32);
    expected_ci.insert(expected_ci.end(), cb.begin(), cb.end());
    for (std::string_view part : {"joiner", "holder", "alice"}) {
        expected_ci.push_back(static_cast<std::uint8_t>(part.size()));
        expected_ci.insert(expected_ci.end(), part.begin(), part.end());
    }
    BOOST_TEST(make_ci(cb, "alice") == expected_ci, boost::test_tools::per_element());

    BOOST_TEST(make_ada(1, Purpose::rekey, "lap") == (Bytes{1, 1, 1, 2, 3, 'l', 'a', 'p'}),
               boost::test_tools::per_element());
    BOOST_TEST(make_adb(1, Purpose::pair, "h", "k") == (Bytes{1, 1, 1, 1, 1, 'h', 1, 'k'}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ad_parsers_read_back_what_the_builders_make) {
    auto a = parse_ada(make_ada(1, Purpose::rekey, "laptop.example"));
    BOOST_REQUIRE(a);
    BOOST_TEST(a->version == 1);
    BOOST_TEST((a->purpose == Purpose::rekey));
    BOOST_TEST(a->host == "laptop.example");

    const std::string key = "ed25519:" + std::string(64, 'f');
    auto b = parse_adb(make_adb(7, Purpose::pair, "desk", key));
    BOOST_REQUIRE(b);
    BOOST_TEST(b->version == 7); // returned as is: the caller compares
    BOOST_TEST((b->purpose == Purpose::pair));
    BOOST_TEST(b->host == "desk");
    BOOST_TEST(b->pubkey == key);

    // Mixing them up, and malformed ones.
    BOOST_TEST(!parse_ada(make_adb(1, Purpose::pair, "desk", key)));
    BOOST_TEST(!parse_adb(make_ada(1, Purpose::pair, "desk")));
    BOOST_TEST(!parse_ada(lv_cat({Bytes{1}, Bytes{3}, bytes_of("h")})));     // unknown purpose
    BOOST_TEST(!parse_ada(lv_cat({Bytes{1, 0}, Bytes{1}, bytes_of("h")})));  // two-byte version
    BOOST_TEST(!parse_ada(lv_cat({Bytes{1}, Bytes{1}, Bytes{}})));           // empty host
    BOOST_TEST(!parse_ada(lv_cat({Bytes{1}, Bytes{1}, bytes_of("a\nb")}))); // control byte
    BOOST_TEST(!parse_ada(lv_cat({Bytes{1}, Bytes{1}, Bytes(256, 'h')})));   // host too long
    BOOST_TEST(!parse_adb(lv_cat({Bytes{1}, Bytes{1}, bytes_of("h"), Bytes(101, 'k')}))); // key too long
    Bytes trailing = make_ada(1, Purpose::pair, "h");
    trailing.push_back(0);
    BOOST_TEST(!parse_ada(trailing));
    BOOST_TEST(!parse_ada(Bytes{}));
}

BOOST_AUTO_TEST_CASE(builders_refuse_what_the_parsers_would_refuse) {
    BOOST_TEST(puddle_test::catch_error([] { make_ada(1, Purpose::pair, ""); }).has_value());
    BOOST_TEST(puddle_test::catch_error([] { make_ada(1, Purpose::pair, std::string(256, 'h')); }).has_value());
    BOOST_TEST(puddle_test::catch_error([] { make_ada(1, Purpose::pair, "a\tb"); }).has_value());
    BOOST_TEST(puddle_test::catch_error([] { make_adb(1, Purpose::pair, "h", ""); }).has_value());
    BOOST_TEST(puddle_test::catch_error([] { make_adb(1, Purpose::pair, "h", std::string(101, 'k')); }).has_value());
    BOOST_TEST(!puddle_test::catch_error([] { make_ada(1, Purpose::pair, std::string(255, 'h')); }).has_value());
}
