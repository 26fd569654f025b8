// The envoy secret, the sealed wrap v2, the upgrade of a v1 identity and
// the export bundle (docs/formats.md).
#define BOOST_TEST_MODULE envoy
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "core/envoy.hpp"
#include "core/envoy_wrap.hpp"
#include "core/files/export_bundle.hpp"
#include "core/identity_store.hpp"

#include <sys/stat.h>

using namespace puddle;
using puddle_test::EnvVar;
using puddle_test::TempDir;

namespace {

struct Fixture {
    TempDir state, home;
    EnvVar home_env{"HOME", home.path()};
    StateDir dir{state.path()};
    Keypair kp = Keypair::generate();
    Salt salt = random_salt();
    WrappedBytes wrapped = wrap_seed(kp, as_bytes(std::string("pass")), salt, KdfParams{1, 8});
    Fixture() { ::chmod(state.path().c_str(), 0700); }
    StateDir envoy_dir() const { return StateDir(home.path() + "/.local/state/puddle"); }
};

std::string failure_text(const std::function<void()> &f) {
    try {
        f();
    } catch (const Error &e) {
        return e.what_failed() + ": " + e.why() + " | " + e.hint();
    }
    return "(no error)";
}

EnvoySecret fixed_envoy(std::uint8_t fill) {
    std::array<std::uint8_t, 32> s;
    s.fill(fill);
    return EnvoySecret::from_bytes(s);
}

} // namespace

BOOST_AUTO_TEST_CASE(envoy_keys_print_and_parse) {
    const auto e = fixed_envoy(7);
    const std::string text = e.public_key().str();
    BOOST_TEST(text.size() == 7u + 64u);
    BOOST_TEST(parse_envoy_key(text).value() == e.public_key());
    std::string why;
    BOOST_TEST(!parse_envoy_key("ed25519:" + text.substr(7), &why));
    BOOST_TEST(why == "a sealing key starts with \"x25519:\"");
    BOOST_TEST(!parse_envoy_key(text.substr(0, 70), &why));
    BOOST_TEST(!parse_envoy_key("x25519:" + std::string(64, 'A'), &why));
    BOOST_TEST(why == "a sealing key is lowercase hex after \"x25519:\"");
    // Different secrets, different keys; the same secret, the same key.
    BOOST_TEST(!(fixed_envoy(8).public_key() == e.public_key()));
    BOOST_TEST(fixed_envoy(7).public_key() == e.public_key());
}

BOOST_FIXTURE_TEST_CASE(the_secret_is_made_once_0600_outside_the_state_directory, Fixture) {
    BOOST_TEST(EnvoySecret::location().path() == home.path() + "/.local/state/puddle");
    BOOST_TEST(!EnvoySecret::load(envoy_dir()));
    const auto a = EnvoySecret::load_or_create(envoy_dir());
    const auto b = EnvoySecret::load_or_create(envoy_dir());
    BOOST_TEST(a.public_key() == b.public_key());
    BOOST_TEST(puddle_test::mode_of(envoy_dir().file(kEnvoySecretFile)) == 0600u);
    BOOST_TEST(puddle_test::read_file(envoy_dir().file(kEnvoySecretFile)).size() == 40u);
    BOOST_TEST(puddle_test::read_file(envoy_dir().file(kEnvoySecretFile)).substr(0, 8) == "PUDDLEE1");
}

BOOST_FIXTURE_TEST_CASE(a_damaged_or_open_secret_file_is_refused_with_the_fix, Fixture) {
    (void)EnvoySecret::load_or_create(envoy_dir());
    const std::string path = envoy_dir().file(kEnvoySecretFile);
    ::chmod(path.c_str(), 0644);
    BOOST_TEST(failure_text([&] { (void)EnvoySecret::load(envoy_dir()); }).find("chmod 600 " + path) !=
               std::string::npos);
    ::chmod(path.c_str(), 0600);
    puddle_test::write_file(path, "PUDDLEE1short");
    ::chmod(path.c_str(), 0600);
    BOOST_TEST(failure_text([&] { (void)EnvoySecret::load(envoy_dir()); }) ==
               "cannot read " + path + ": it is 13 bytes; a machine secret file is exactly 40 | restore it from a "
               "backup of this machine; without it the identity here is sealed for good: re-join with 'puddle "
               "pair' on another member and 'puddle join' here, or 'puddle import' an export");
}

BOOST_FIXTURE_TEST_CASE(seal_and_open_round_trip_and_bind_envoy_and_identity, Fixture) {
    const auto e = fixed_envoy(1);
    const auto sealed_bytes = seal_wrap(wrapped, kp.public_key(), e);
    BOOST_TEST(is_sealed_wrap(sealed_bytes));
    const auto sealed = parse_sealed_wrap(sealed_bytes, "w");
    BOOST_TEST(sealed.envoy == e.public_key());
    BOOST_TEST(open_sealed_wrap(sealed, kp.public_key(), e, "w").raw == wrapped);
    // Two seals of the same wrap differ (fresh nonce).
    BOOST_TEST(!(seal_wrap(wrapped, kp.public_key(), e) == sealed_bytes));

    // Another machine's envoy: refused, saying whose seal it is.
    const auto other = fixed_envoy(2);
    const std::string msg = failure_text([&] { (void)open_sealed_wrap(sealed, kp.public_key(), other, "w"); });
    BOOST_TEST(msg.find("it is sealed to the sealing key " + e.public_key().str() + ", and this machine's sealing key is " +
                        other.public_key().str()) != std::string::npos, msg);
    BOOST_TEST(msg.find("'puddle export FILE'") != std::string::npos, msg);

    // Another identity's public key (the AD) or any flipped byte: the seal does not open.
    const auto stranger = Keypair::generate();
    BOOST_TEST(failure_text([&] { (void)open_sealed_wrap(sealed, stranger.public_key(), e, "w"); })
                   .find("the machine seal does not open") != std::string::npos);
    for (std::size_t i : {8u, 11u, 44u, 100u, 173u}) {
        auto bad = sealed_bytes;
        bad[i] ^= 0x01;
        const std::string m = failure_text([&] {
            auto s = parse_sealed_wrap(bad, "w");
            (void)open_sealed_wrap(s, kp.public_key(), e, "w");
        });
        BOOST_TEST(m != "(no error)", "byte " << i);
    }
}

BOOST_AUTO_TEST_CASE(the_parser_says_what_is_wrong) {
    const auto e = fixed_envoy(1);
    const auto kp = Keypair::generate();
    const auto good = seal_wrap(WrappedBytes{}, kp.public_key(), e);
    auto msg = [](std::span<const std::uint8_t> b) { return failure_text([&] { (void)parse_sealed_wrap(b, "w"); }); };
    BOOST_TEST(msg(std::span(good).first(100)) ==
               "cannot read w: file is 100 bytes; a PUDDLEW2 wrap is exactly 174 | restore the identity files from "
               "another of your machines ('puddle export' there, 'puddle import' here)");
    auto bad = good;
    bad[8] = 3;
    BOOST_TEST(msg(bad).find("unknown protection 0x03") != std::string::npos);
    bad = good;
    bad[10] = 1;
    BOOST_TEST(msg(bad).find("reserved header bytes are not 0") != std::string::npos);
    BOOST_TEST(!is_sealed_wrap(std::span(good).first(7)));
}

BOOST_FIXTURE_TEST_CASE(a_copied_state_directory_does_not_open_without_its_envoy, Fixture) {
    IdentityStore store(dir);
    store.commit(salt, wrapped, kp.public_key());
    BOOST_TEST(store.load().protection == Protection::file);
    // The envoy secret is gone (another machine): the load says what happened.
    const std::string secret = envoy_dir().file(kEnvoySecretFile);
    BOOST_REQUIRE(::unlink(secret.c_str()) == 0);
    const std::string msg = failure_text([&] { (void)store.load(); });
    BOOST_TEST(msg.find("this machine has no machine secret (" + secret + " does not exist)") != std::string::npos,
               msg);
    // A new secret (another machine's) does not open it either.
    (void)EnvoySecret::load_or_create(envoy_dir());
    BOOST_TEST(failure_text([&] { (void)store.load(); }).find("and this machine's sealing key is") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(an_older_identity_is_sealed_by_the_first_command, Fixture) {
    // As an older puddle left it: the v1 wrap in identity.wrapped.
    dir.write_atomic(kSaltFile, salt, 0600);
    dir.write_atomic(kWrappedFile, wrapped, 0600);
    dir.write_atomic(kPubFile, as_bytes(kp.public_key().str() + "\n"), 0644);
    IdentityStore store(dir);
    BOOST_TEST(store.load().protection == Protection::passphrase_only);
    BOOST_TEST(store.seal_to_envoy());
    BOOST_TEST(!store.seal_to_envoy());
    const auto id = store.load();
    BOOST_TEST(id.protection == Protection::file);
    BOOST_TEST(id.wrapped.raw == wrapped);
    BOOST_TEST(id.salt == salt);
    BOOST_TEST(puddle_test::read_file(dir.file(kWrappedFile)).size() == kSealedWrapBytes);
    BOOST_TEST(!dir.has(kJournalFile));
    // open_state does it too.
    IdentityStore(dir).commit(salt, wrapped, kp.public_key());
}

BOOST_AUTO_TEST_CASE(export_bundles_round_trip_and_refuse_what_is_not_one) {
    ExportBundle b;
    const auto kp = Keypair::generate();
    b.pub = kp.public_key();
    b.salt = random_salt();
    b.wrapped = wrap_seed(kp, as_bytes(std::string("p")), b.salt, KdfParams{1, 8});
    const std::string text = serialize_export_bundle(b);
    const auto back = parse_export_bundle(as_bytes(text), "f");
    BOOST_TEST(back.pub == b.pub);
    BOOST_TEST(back.salt == b.salt);
    BOOST_TEST(back.wrapped == b.wrapped);
    BOOST_TEST(back.retired.empty());

    auto msg = [](const std::string &t) {
        return failure_text([&] { (void)parse_export_bundle(as_bytes(t), "f"); });
    };
    auto replace = [&](const std::string &from, const std::string &to) {
        std::string t = text;
        t.replace(t.find(from), from.size(), to);
        return t;
    };
    BOOST_TEST(msg(replace("puddle-export", "puddle-other")).find("field \"kind\" is \"puddle-other\"") !=
               std::string::npos);
    BOOST_TEST(msg(replace("\"v\":1", "\"v\":2")).find("format version 2") != std::string::npos);
    BOOST_TEST(msg(replace("\"retired\":[]", "\"retired\":[],\"x\":1")).find("unknown field \"x\"") !=
               std::string::npos);
    BOOST_TEST(msg(replace("\"retired\":[]", "\"retired\":{}")).find("field \"retired\" must be an array") !=
               std::string::npos);
    BOOST_TEST(msg(replace(to_base64(b.salt), "AAAA")).find("field \"salt\" must be the base64 of 16 bytes") !=
               std::string::npos);
    auto v2 = b.wrapped;
    v2[7] = '2';
    BOOST_TEST(msg(replace(to_base64(b.wrapped), to_base64(v2))).find("field \"wrapped\"") != std::string::npos);
    BOOST_TEST(msg("not json").find("cannot read f") != std::string::npos);
    BOOST_TEST(msg(std::string(kMaxExportBundleBytes + 1, ' ')) != "(no error)");
}
