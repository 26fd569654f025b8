// session-bind@openssh.com on the agent's side: the host key's signature over
// the session id for each host key type OpenSSH servers use (keys and
// signatures made here with OpenSSL and libsodium, written in the SSH wire
// layout, so a layout mistake on either side fails), OpenSSH's binding
// rules, the login/binding check and the [ssh] destinations rule.
#define BOOST_TEST_MODULE ssh_policy
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "support.hpp"

#include "agent/host_key.hpp"
#include "agent/ssh_policy.hpp"
#include "core/config.hpp"
#include "core/wire.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>

using namespace puddle;
using namespace puddle::agent;

namespace {

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes mpint(const BIGNUM *bn) {
    Bytes b(std::size_t(BN_num_bytes(bn)));
    BN_bn2bin(bn, b.data());
    if (!b.empty() && (b[0] & 0x80)) b.insert(b.begin(), 0);
    return b;
}

Bytes bn_param(EVP_PKEY *k, const char *name) {
    BIGNUM *bn = nullptr;
    BOOST_REQUIRE(EVP_PKEY_get_bn_param(k, name, &bn) == 1);
    Bytes b = mpint(bn);
    BN_free(bn);
    return b;
}

Bytes digest_sign(EVP_PKEY *k, const EVP_MD *md, const Bytes &data) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    BOOST_REQUIRE(EVP_DigestSignInit(ctx, nullptr, md, nullptr, k) == 1);
    BOOST_REQUIRE(EVP_DigestSign(ctx, nullptr, &len, data.data(), data.size()) == 1);
    Bytes sig(len);
    BOOST_REQUIRE(EVP_DigestSign(ctx, sig.data(), &len, data.data(), data.size()) == 1);
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
}

struct Signed {
    Bytes key_blob, sig_blob;
};

const Bytes kSid(32, 0x5a);

Signed ed25519(const Bytes &data) {
    std::uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, nullptr, data.data(), data.size(), sk);
    Signed s;
    ByteWriter(s.key_blob).string(text("ssh-ed25519")).string(Bytes(pk, pk + sizeof pk));
    ByteWriter(s.sig_blob).string(text("ssh-ed25519")).string(Bytes(sig, sig + sizeof sig));
    return s;
}

Signed ecdsa(const char *group, std::string_view curve, const EVP_MD *md, const Bytes &data) {
    EVP_PKEY *k = EVP_EC_gen(group);
    BOOST_REQUIRE(k);
    std::uint8_t point[200];
    std::size_t plen = 0;
    BOOST_REQUIRE(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &plen) == 1);
    const std::string type = "ecdsa-sha2-" + std::string(curve);
    Signed s;
    ByteWriter(s.key_blob).string(text(type)).string(text(curve)).string(Bytes(point, point + plen));
    const Bytes der = digest_sign(k, md, data);
    const std::uint8_t *p = der.data();
    ECDSA_SIG *es = d2i_ECDSA_SIG(nullptr, &p, long(der.size()));
    Bytes inner;
    ByteWriter(inner).string(mpint(ECDSA_SIG_get0_r(es))).string(mpint(ECDSA_SIG_get0_s(es)));
    ByteWriter(s.sig_blob).string(text(type)).string(inner);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(k);
    return s;
}

Signed rsa(unsigned bits, const char *alg, const EVP_MD *md, const Bytes &data) {
    EVP_PKEY *k = EVP_RSA_gen(bits);
    BOOST_REQUIRE(k);
    Signed s;
    ByteWriter(s.key_blob).string(text("ssh-rsa")).string(bn_param(k, OSSL_PKEY_PARAM_RSA_E)).string(
        bn_param(k, OSSL_PKEY_PARAM_RSA_N));
    ByteWriter(s.sig_blob).string(text(alg)).string(digest_sign(k, md, data));
    EVP_PKEY_free(k);
    return s;
}

bool verifies(const Signed &s, const Bytes &data, std::string *why = nullptr) {
    return ssh::verify_host_signature(s.key_blob, s.sig_blob, data, why);
}

ssh::SessionBind bind_of(const Signed &s, const Bytes &sid, bool forwarding) {
    return ssh::SessionBind{s.key_blob, sid, s.sig_blob, forwarding};
}

ssh::LoginUse login(const Bytes &sid, std::optional<Bytes> hostkey = std::nullopt) {
    return ssh::LoginUse{sid, "alice", "ssh-connection", std::move(hostkey)};
}

} // namespace

BOOST_AUTO_TEST_CASE(each_host_key_type_verifies_and_a_changed_byte_does_not) {
    const Bytes other(32, 0x5b);
    std::vector<std::pair<std::string, Signed>> cases;
    cases.emplace_back("ed25519", ed25519(kSid));
    cases.emplace_back("nistp256", ecdsa("P-256", "nistp256", EVP_sha256(), kSid));
    cases.emplace_back("nistp384", ecdsa("P-384", "nistp384", EVP_sha384(), kSid));
    cases.emplace_back("nistp521", ecdsa("P-521", "nistp521", EVP_sha512(), kSid));
    cases.emplace_back("rsa-sha2-256", rsa(2048, "rsa-sha2-256", EVP_sha256(), kSid));
    cases.emplace_back("rsa-sha2-512", rsa(3072, "rsa-sha2-512", EVP_sha512(), kSid));
    for (auto &[name, s] : cases) {
        BOOST_TEST_CONTEXT(name) {
            std::string why;
            BOOST_TEST(verifies(s, kSid, &why), why);
            BOOST_TEST(!verifies(s, other, &why));
            BOOST_TEST(why == "bad host key signature");
            Signed flipped = s;
            flipped.sig_blob.back() ^= 1;
            BOOST_TEST(!verifies(flipped, kSid));
            Signed truncated = s;
            truncated.key_blob.pop_back();
            BOOST_TEST(!verifies(truncated, kSid));
        }
    }
    // Another key's signature, under a key of the same type.
    Signed a = ed25519(kSid), b = ed25519(kSid);
    BOOST_TEST(!ssh::verify_host_signature(a.key_blob, b.sig_blob, kSid));
}

BOOST_AUTO_TEST_CASE(refused_algorithms_and_sizes) {
    std::string why;
    BOOST_TEST(!verifies(rsa(2048, "ssh-rsa", EVP_sha1(), kSid), kSid, &why));
    BOOST_TEST(why == "RSA host key signatures must be rsa-sha2-256 or rsa-sha2-512");
    BOOST_TEST(!verifies(rsa(1024, "rsa-sha2-256", EVP_sha256(), kSid), kSid, &why));
    BOOST_TEST(why.find("refused size") != std::string::npos);
    // The ECDSA curve in the signature's algorithm must be the key's.
    Signed p256 = ecdsa("P-256", "nistp256", EVP_sha256(), kSid), p384 = ecdsa("P-384", "nistp384", EVP_sha384(), kSid);
    BOOST_TEST(!ssh::verify_host_signature(p256.key_blob, p384.sig_blob, kSid, &why));
    Bytes dss;
    ByteWriter(dss).string(text("ssh-dss")).string(Bytes(20, 1));
    BOOST_TEST(!ssh::verify_host_signature(dss, p256.sig_blob, kSid, &why));
    BOOST_TEST(why.find("not supported") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bindings_follow_openssh_rules) {
    const Signed hop1 = ed25519(kSid);
    const Bytes sid2(32, 0x77);
    const Signed hop2 = ecdsa("P-256", "nistp256", EVP_sha256(), sid2);
    std::vector<Binding> b;
    // A forwarding binding, then the next hop's: both recorded.
    BOOST_TEST(bind_session(b, bind_of(hop1, kSid, true)) == "");
    BOOST_TEST(bind_session(b, bind_of(hop1, kSid, true)) == ""); // again: nothing new
    BOOST_TEST(b.size() == 1u);
    BOOST_TEST(bind_session(b, bind_of(hop2, sid2, false)) == "");
    BOOST_TEST(b.size() == 2u);
    BOOST_TEST(b.back().host_key == ssh::key_fingerprint(hop2.key_blob));
    // Bound for authentication: nothing more.
    const Bytes sid3(32, 0x33);
    BOOST_TEST(bind_session(b, bind_of(ed25519(sid3), sid3, true)).find("already bound for authentication") !=
               std::string::npos);
    // A bad signature is never recorded.
    std::vector<Binding> c;
    Signed bad = hop1;
    bad.sig_blob.back() ^= 1;
    BOOST_TEST(bind_session(c, bind_of(bad, kSid, false)) == "session-bind: bad host key signature");
    BOOST_TEST(c.empty());
    // The same session id under another key is refused.
    const Signed other = ed25519(kSid);
    BOOST_TEST(bind_session(c, bind_of(hop1, kSid, true)) == "");
    BOOST_TEST(bind_session(c, bind_of(other, kSid, true)).find("another host key") != std::string::npos);
    // Bounded.
    std::vector<Binding> many;
    for (int i = 0; i < int(kMaxBindings); ++i) {
        Bytes sid(32, std::uint8_t(i));
        BOOST_TEST(bind_session(many, bind_of(ed25519(sid), sid, true)) == "");
    }
    Bytes sid(32, 0xee);
    BOOST_TEST(bind_session(many, bind_of(ed25519(sid), sid, true)).find("too many") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_login_must_be_for_the_bound_session_and_host) {
    const Signed host = ed25519(kSid);
    std::vector<Binding> b;
    BOOST_TEST(login_matches_binding(login(Bytes(32, 1)), b) == ""); // unbound: nothing to hold to
    BOOST_REQUIRE(bind_session(b, bind_of(host, kSid, false)) == "");
    BOOST_TEST(login_matches_binding(login(kSid), b) == "");
    BOOST_TEST(login_matches_binding(login(kSid, host.key_blob), b) == "");
    BOOST_TEST(login_matches_binding(login(Bytes(32, 1)), b).find("another ssh session") != std::string::npos);
    BOOST_TEST(login_matches_binding(login(kSid, ed25519(kSid).key_blob), b).find("another host key") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(destinations_hold_logins_and_never_sshsig) {
    const Signed host = ed25519(kSid);
    const std::string fp = ssh::key_fingerprint(host.key_blob);
    std::vector<Binding> bound;
    BOOST_REQUIRE(bind_session(bound, bind_of(host, kSid, false)) == "");
    const ssh::SignPurpose to_host = login(kSid), sshsig = ssh::SshSigUse{"git", "sha512"};
    BOOST_TEST(destination_refusal(to_host, bound, {}) == "");           // no rule
    BOOST_TEST(destination_refusal(to_host, bound, {fp}) == "");         // listed
    BOOST_TEST(destination_refusal(to_host, bound, {"SHA256:x"}).find("not in [ssh] destinations") != std::string::npos);
    BOOST_TEST(destination_refusal(to_host, {}, {fp}).find("not known") != std::string::npos); // unbound
    BOOST_TEST(destination_refusal(sshsig, {}, {"SHA256:x"}) == "");     // git signing: never
    BOOST_TEST(destination_refusal(ssh::OtherUse{}, {}, {"SHA256:x"}) == "");
}

BOOST_AUTO_TEST_CASE(destinations_are_written_as_fingerprints_or_key_lines) {
    std::string why;
    const std::string line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAXQZg8T4d7zjQiYgnM6SPi+tBb/5GxcCN5AfeUwnyM root@vm";
    BOOST_TEST(*host_key_fingerprint(line, &why) == "SHA256:wxTC4qBiP3ZG+RtuOy1oo0H6/31qRYha8zyOoljCQls");
    BOOST_TEST(*host_key_fingerprint("SHA256:wxTC4qBiP3ZG+RtuOy1oo0H6/31qRYha8zyOoljCQls", &why) ==
               "SHA256:wxTC4qBiP3ZG+RtuOy1oo0H6/31qRYha8zyOoljCQls");
    for (const char *bad : {"SHA256:short", "MD5:aa:bb", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIDAXQZg8T4d7zjQiYgnM6SPi+tBb/5GxcCN5AfeUwnyM",
                            "ssh-ed25519 !!!", "", "host.example"}) {
        BOOST_TEST(!host_key_fingerprint(bad, &why), bad);
        BOOST_TEST(!why.empty());
    }
}
