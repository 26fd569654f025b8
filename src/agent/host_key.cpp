#include "agent/host_key.hpp"

#include "core/wire.hpp"

#include <dlfcn.h>
#include <memory>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <string_view>

namespace puddle::agent::ssh {
namespace {

using Span = std::span<const std::uint8_t>;

// libcrypto is loaded the first time a host key other than Ed25519 is
// checked, not when the agent starts: mapped and relocated at start it
// cost every agent ~1.4 MiB resident (400 KiB of it private) and start-up
// time, for a check most agents never make (OpenSSH's default host key is
// Ed25519, which libsodium checks).
#define PUDDLE_CRYPTO_FUNCTIONS(X) \
    X(EVP_PKEY_free) \
    X(EVP_PKEY_CTX_free) \
    X(EVP_MD_CTX_free) \
    X(OSSL_PARAM_BLD_free) \
    X(OSSL_PARAM_free) \
    X(BN_free) \
    X(ECDSA_SIG_free) \
    X(BN_bin2bn) \
    X(OSSL_PARAM_BLD_to_param) \
    X(EVP_PKEY_CTX_new_from_name) \
    X(EVP_PKEY_fromdata_init) \
    X(EVP_PKEY_fromdata) \
    X(EVP_MD_CTX_new) \
    X(EVP_DigestVerifyInit) \
    X(EVP_DigestVerify) \
    X(EVP_sha256) \
    X(EVP_sha384) \
    X(EVP_sha512) \
    X(BN_num_bits) \
    X(OSSL_PARAM_BLD_new) \
    X(OSSL_PARAM_BLD_push_BN) \
    X(ECDSA_SIG_new) \
    X(ECDSA_SIG_set0) \
    X(i2d_ECDSA_SIG) \
    X(CRYPTO_free) \
    X(OSSL_PARAM_BLD_push_utf8_string) \
    X(OSSL_PARAM_BLD_push_octet_string)

struct Crypto {
#define PUDDLE_CRYPTO_POINTER(name) decltype(&::name) name = nullptr;
    PUDDLE_CRYPTO_FUNCTIONS(PUDDLE_CRYPTO_POINTER)
#undef PUDDLE_CRYPTO_POINTER
};

// nullptr when libcrypto 3 cannot be loaded; the handle stays open.
const Crypto *crypto() {
    static const Crypto *loaded = []() -> const Crypto * {
        void *h = ::dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!h) return nullptr;
        static Crypto c;
#define PUDDLE_CRYPTO_LOAD(name) \
    if (!(c.name = reinterpret_cast<decltype(&::name)>(::dlsym(h, #name)))) return nullptr;
        PUDDLE_CRYPTO_FUNCTIONS(PUDDLE_CRYPTO_LOAD)
#undef PUDDLE_CRYPTO_LOAD
        return &c;
    }();
    return loaded;
}

bool is(Span s, std::string_view text) {
    return s.size() == text.size() && std::equal(s.begin(), s.end(), text.begin());
}

bool fail(std::string *why, const char *text) {
    if (why) *why = text;
    return false;
}

struct PkeyFree { void operator()(EVP_PKEY *p) const { crypto()->EVP_PKEY_free(p); } };
struct CtxFree { void operator()(EVP_PKEY_CTX *p) const { crypto()->EVP_PKEY_CTX_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX *p) const { crypto()->EVP_MD_CTX_free(p); } };
struct BldFree { void operator()(OSSL_PARAM_BLD *p) const { crypto()->OSSL_PARAM_BLD_free(p); } };
struct ParamFree { void operator()(OSSL_PARAM *p) const { crypto()->OSSL_PARAM_free(p); } };
struct BnFree { void operator()(BIGNUM *p) const { crypto()->BN_free(p); } };
struct SigFree { void operator()(ECDSA_SIG *p) const { crypto()->ECDSA_SIG_free(p); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// An SSH mpint (RFC 4251 §5): non-negative only, no superfluous leading zero.
Bn mpint(Span raw) {
    if (raw.empty() || (raw[0] & 0x80) || (raw.size() > 1 && raw[0] == 0 && !(raw[1] & 0x80))) return nullptr;
    return Bn(crypto()->BN_bin2bn(raw.data(), int(raw.size()), nullptr));
}

Pkey from_params(const char *type, OSSL_PARAM_BLD *bld) {
    std::unique_ptr<OSSL_PARAM, ParamFree> params(crypto()->OSSL_PARAM_BLD_to_param(bld));
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(crypto()->EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY *key = nullptr;
    if (!params || !ctx || crypto()->EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        crypto()->EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
        return nullptr;
    return Pkey(key);
}

bool digest_verify(EVP_PKEY *key, const EVP_MD *md, Span sig, Span data) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(crypto()->EVP_MD_CTX_new());
    return ctx && crypto()->EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
           crypto()->EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
}

bool verify_rsa(ByteReader &key, Span alg, Span sig, Span data, std::string *why) {
    Span e_raw, n_raw;
    if (!key.string(e_raw) || !key.string(n_raw) || !key.at_end()) return fail(why, "malformed RSA host key");
    const EVP_MD *md = is(alg, "rsa-sha2-256") ? crypto()->EVP_sha256() : is(alg, "rsa-sha2-512") ? crypto()->EVP_sha512() : nullptr;
    if (!md) return fail(why, "RSA host key signatures must be rsa-sha2-256 or rsa-sha2-512");
    Bn e = mpint(e_raw), n = mpint(n_raw);
    if (!e || !n || crypto()->BN_num_bits(n.get()) < 2048 || crypto()->BN_num_bits(n.get()) > 16384)
        return fail(why, "RSA host key of a refused size (2048 to 16384 bits)");
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(crypto()->OSSL_PARAM_BLD_new());
    if (!bld || !crypto()->OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !crypto()->OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()))
        return fail(why, "cannot build the RSA key");
    Pkey pkey = from_params("RSA", bld.get());
    if (!pkey) return fail(why, "malformed RSA host key");
    if (!digest_verify(pkey.get(), md, sig, data)) return fail(why, "bad host key signature");
    return true;
}

bool verify_ecdsa(ByteReader &key, Span type, Span alg, Span sig, Span data, std::string *why) {
    struct Curve {
        std::string_view type, id;
        const char *group;
        int sha; // SHA-2 size of the curve's digest
    };
    static const Curve curves[] = {{"ecdsa-sha2-nistp256", "nistp256", "prime256v1", 256},
                                   {"ecdsa-sha2-nistp384", "nistp384", "secp384r1", 384},
                                   {"ecdsa-sha2-nistp521", "nistp521", "secp521r1", 512}};
    const Curve *curve = nullptr;
    for (const auto &c : curves)
        if (is(type, c.type)) curve = &c;
    Span id, point;
    if (!curve || !key.string(id) || !is(id, curve->id) || !key.string(point) || !key.at_end())
        return fail(why, "malformed ECDSA host key");
    if (!is(alg, curve->type)) return fail(why, "signature algorithm does not match the host key");
    // The signature: string containing mpint r, mpint s.
    ByteReader sr(sig);
    Span r_raw, s_raw;
    if (!sr.string(r_raw) || !sr.string(s_raw) || !sr.at_end()) return fail(why, "malformed ECDSA signature");
    Bn r = mpint(r_raw), s = mpint(s_raw);
    if (!r || !s) return fail(why, "malformed ECDSA signature");
    std::unique_ptr<ECDSA_SIG, SigFree> es(crypto()->ECDSA_SIG_new());
    if (!es || crypto()->ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1) return fail(why, "malformed ECDSA signature");
    r.release();
    s.release();
    unsigned char *der = nullptr;
    const int der_len = crypto()->i2d_ECDSA_SIG(es.get(), &der);
    if (der_len <= 0) return fail(why, "malformed ECDSA signature");
    std::unique_ptr<unsigned char, void (*)(unsigned char *)> der_owner(der, [](unsigned char *p) { crypto()->CRYPTO_free(p, __FILE__, __LINE__); });
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(crypto()->OSSL_PARAM_BLD_new());
    if (!bld || !crypto()->OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->group, 0) ||
        !crypto()->OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
        return fail(why, "cannot build the ECDSA key");
    Pkey pkey = from_params("EC", bld.get());
    if (!pkey) return fail(why, "malformed ECDSA host key");
    if (!digest_verify(pkey.get(), (curve->sha == 256 ? crypto()->EVP_sha256() : curve->sha == 384 ? crypto()->EVP_sha384() : crypto()->EVP_sha512()), Span(der, std::size_t(der_len)), data))
        return fail(why, "bad host key signature");
    return true;
}

} // namespace

bool verify_host_signature(Span key_blob, Span signature_blob, Span data, std::string *why) {
    ByteReader key(key_blob), sigr(signature_blob);
    Span type, alg, sig;
    if (!key.string(type)) return fail(why, "malformed host key");
    if (!sigr.string(alg) || !sigr.string(sig) || !sigr.at_end()) return fail(why, "malformed host key signature");
    if (is(type, "ssh-ed25519")) {
        Span pk;
        if (!key.string(pk) || pk.size() != crypto_sign_PUBLICKEYBYTES || !key.at_end())
            return fail(why, "malformed Ed25519 host key");
        if (!is(alg, "ssh-ed25519") || sig.size() != crypto_sign_BYTES)
            return fail(why, "malformed Ed25519 host key signature");
        if (crypto_sign_verify_detached(sig.data(), data.data(), data.size(), pk.data()) != 0)
            return fail(why, "bad host key signature");
        return true;
    }
    const bool rsa = is(type, "ssh-rsa");
    const bool ecdsa = type.size() > 11 && std::string_view(reinterpret_cast<const char *>(type.data()), 11) == "ecdsa-sha2-";
    if ((rsa || ecdsa) && !crypto()) return fail(why, "libcrypto.so.3 (OpenSSL 3) cannot be loaded to check this host key");
    if (rsa) return verify_rsa(key, alg, sig, data, why);
    if (ecdsa)
        return verify_ecdsa(key, type, alg, sig, data, why);
    return fail(why, "host key type not supported (Ed25519, ECDSA and RSA are)");
}

} // namespace puddle::agent::ssh
