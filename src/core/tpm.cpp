#include "core/tpm.hpp"

#include "core/wire.hpp"
#include "util/error.hpp"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

#ifdef PUDDLE_HAVE_TPM2
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#endif

namespace puddle {
namespace {

TpmChoice g_choice;
constexpr char kMagic[8] = {'P', 'U', 'D', 'D', 'L', 'E', 'T', '1'};

} // namespace

void set_tpm_choice(TpmChoice choice) { g_choice = std::move(choice); }
const TpmChoice &tpm_choice() { return g_choice; }

#ifndef PUDDLE_HAVE_TPM2

bool tpm_built() noexcept { return false; }

Bytes tpm_seal(std::span<const std::uint8_t>) {
    throw Error(Failure::failed, "cannot use a TPM", "this puddle was built without tpm2-tss",
                "build with libtss2-dev installed, or set [envoy] tpm = \"off\"");
}

SecretBuffer tpm_unseal(std::span<const std::uint8_t>, const std::string &label) {
    throw Error(Failure::failed, "cannot unseal " + label, "this puddle was built without tpm2-tss",
                "use a puddle built with TPM support on this machine");
}

#else

bool tpm_built() noexcept { return true; }

namespace {

// tpm2-tss is loaded on first use, as systemd loads its optional libraries:
// linked in, its four libraries (and their OpenSSL/JSON dependencies) cost
// every process that never touches a TPM start-up time and resident memory
// (the agent signs without it). The headers still give every prototype.
#define PUDDLE_TSS2_FUNCTIONS(X)                                                                                   \
    X(esys, Esys_Initialize) X(esys, Esys_Finalize) X(esys, Esys_CreatePrimary) X(esys, Esys_Create)            \
    X(esys, Esys_Load) X(esys, Esys_Unseal) X(esys, Esys_FlushContext) X(esys, Esys_Free)                     \
    X(mu, Tss2_MU_TPM2B_PUBLIC_Marshal) X(mu, Tss2_MU_TPM2B_PRIVATE_Marshal)                                   \
    X(mu, Tss2_MU_TPM2B_PUBLIC_Unmarshal) X(mu, Tss2_MU_TPM2B_PRIVATE_Unmarshal) X(rc, Tss2_RC_Decode)          \
    X(tctildr, Tss2_TctiLdr_Initialize) X(tctildr, Tss2_TctiLdr_Finalize)

struct Tss2 {
#define PUDDLE_TSS2_POINTER(lib, name) decltype(&::name) name = nullptr;
    PUDDLE_TSS2_FUNCTIONS(PUDDLE_TSS2_POINTER)
#undef PUDDLE_TSS2_POINTER
};

// The library handles stay open for the life of the process (as systemd's
// dlopen_many_sym_or_warn does): a TPM is used again at the next unlock.
const Tss2 &tss2() {
    static const Tss2 loaded = [] {
        struct Lib {
            const char *soname;
            void *handle;
        };
        Lib esys{"libtss2-esys.so.0", nullptr}, mu{"libtss2-mu.so.0", nullptr}, rc{"libtss2-rc.so.0", nullptr},
            tctildr{"libtss2-tctildr.so.0", nullptr};
        for (Lib *l : {&esys, &mu, &rc, &tctildr}) {
            l->handle = ::dlopen(l->soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
            if (!l->handle) {
                const char *why = ::dlerror();
                throw Error(Failure::failed, "cannot use a TPM", std::string(l->soname) + " cannot be loaded: " +
                                                                     (why ? why : "unknown error"),
                            "install tpm2-tss (Debian: libtss2-esys-3.0.2-0, libtss2-tctildr0), or set [envoy] tpm = \"off\"");
            }
        }
        Tss2 t;
#define PUDDLE_TSS2_LOAD(lib, name)                                                                                 \
    t.name = reinterpret_cast<decltype(&::name)>(::dlsym(lib.handle, #name));                                       \
    if (!t.name)                                                                                                   \
        throw Error(Failure::failed, "cannot use a TPM", std::string(lib.soname) + " has no " #name,              \
                    "install a tpm2-tss of version 3 or later, or set [envoy] tpm = \"off\"");
        PUDDLE_TSS2_FUNCTIONS(PUDDLE_TSS2_LOAD)
#undef PUDDLE_TSS2_LOAD
        return t;
    }();
    return loaded;
}

std::string rc_text(TSS2_RC rc) { return tss2().Tss2_RC_Decode(rc); }

// One connection to the TPM, closed (and its objects flushed) on every path.
class Tpm {
public:
    Tpm() {
        // tpm2-tss logs its own failures to stderr; puddle reports them
        // itself, once, with the fix (a TSS2_LOG the user set is kept).
        ::setenv("TSS2_LOG", "all+NONE", 0);
        const std::string &conf = g_choice.tcti;
        TSS2_RC rc = tss2().Tss2_TctiLdr_Initialize(conf.empty() ? nullptr : conf.c_str(), &tcti_);
        if (rc != TSS2_RC_SUCCESS)
            throw Error(Failure::failed, "cannot reach a TPM" + (conf.empty() ? std::string() : " (" + conf + ")"),
                        rc_text(rc), "check [envoy] tcti, or that /dev/tpmrm0 exists and is yours to open (group tss)");
        rc = tss2().Esys_Initialize(&ctx_, tcti_, nullptr);
        if (rc != TSS2_RC_SUCCESS) {
            tss2().Tss2_TctiLdr_Finalize(&tcti_);
            throw Error(Failure::failed, "cannot talk to the TPM", rc_text(rc), "");
        }
    }
    ~Tpm() {
        if (primary_ != ESYS_TR_NONE) tss2().Esys_FlushContext(ctx_, primary_);
        if (object_ != ESYS_TR_NONE) tss2().Esys_FlushContext(ctx_, object_);
        tss2().Esys_Finalize(&ctx_);
        tss2().Tss2_TctiLdr_Finalize(&tcti_);
    }
    Tpm(const Tpm &) = delete;
    Tpm &operator=(const Tpm &) = delete;

    // The standard storage primary key (the template tpm2_createprimary and
    // the TCG's provisioning guidance use): the same key every time on one
    // TPM, a different one on any other.
    ESYS_TR primary() {
        TPM2B_SENSITIVE_CREATE sensitive{};
        TPM2B_PUBLIC tmpl{};
        tmpl.publicArea.type = TPM2_ALG_ECC;
        tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
        tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                           TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                           TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA;
        auto &ecc = tmpl.publicArea.parameters.eccDetail;
        ecc.symmetric.algorithm = TPM2_ALG_AES;
        ecc.symmetric.keyBits.aes = 128;
        ecc.symmetric.mode.aes = TPM2_ALG_CFB;
        ecc.scheme.scheme = TPM2_ALG_NULL;
        ecc.curveID = TPM2_ECC_NIST_P256;
        ecc.kdf.scheme = TPM2_ALG_NULL;
        TPM2B_DATA outside{};
        TPML_PCR_SELECTION pcrs{};
        TSS2_RC rc = tss2().Esys_CreatePrimary(ctx_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                        &sensitive, &tmpl, &outside, &pcrs, &primary_, nullptr, nullptr, nullptr,
                                        nullptr);
        if (rc != TSS2_RC_SUCCESS)
            throw Error(Failure::failed, "the TPM did not make its storage key", rc_text(rc),
                        "the owner hierarchy may have a password; puddle needs it empty");
        return primary_;
    }

    ESYS_CONTEXT *ctx() { return ctx_; }
    ESYS_TR &object() { return object_; }

private:
    TSS2_TCTI_CONTEXT *tcti_ = nullptr;
    ESYS_CONTEXT *ctx_ = nullptr;
    ESYS_TR primary_ = ESYS_TR_NONE;
    ESYS_TR object_ = ESYS_TR_NONE;
};

[[noreturn]] void damaged(const std::string &label, const std::string &why) {
    throw Error(Failure::bad_passphrase, "cannot unseal " + label, why,
                "this machine secret was sealed in another TPM, or this TPM was cleared: 'puddle export' on another "
                "member and 'puddle import' here, or pair again");
}

} // namespace

Bytes tpm_seal(std::span<const std::uint8_t> secret) {
    Tpm tpm;
    const ESYS_TR parent = tpm.primary();
    TPM2B_SENSITIVE_CREATE sensitive{};
    if (secret.size() > sizeof sensitive.sensitive.data.buffer) throw std::invalid_argument("secret too large");
    sensitive.sensitive.data.size = std::uint16_t(secret.size());
    std::memcpy(sensitive.sensitive.data.buffer, secret.data(), secret.size());
    TPM2B_PUBLIC tmpl{};
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_USERWITHAUTH;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION pcrs{};
    TPM2B_PRIVATE *priv = nullptr;
    TPM2B_PUBLIC *pub = nullptr;
    TSS2_RC rc = tss2().Esys_Create(tpm.ctx(), parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl,
                             &outside, &pcrs, &priv, &pub, nullptr, nullptr, nullptr);
    std::memset(&sensitive, 0, sizeof sensitive);
    if (rc != TSS2_RC_SUCCESS) throw Error(Failure::failed, "the TPM did not seal the machine secret", rc_text(rc), "");
    std::uint8_t pub_buf[sizeof(TPM2B_PUBLIC)], priv_buf[sizeof(TPM2B_PRIVATE)];
    size_t pub_len = 0, priv_len = 0;
    rc = tss2().Tss2_MU_TPM2B_PUBLIC_Marshal(pub, pub_buf, sizeof pub_buf, &pub_len);
    if (rc == TSS2_RC_SUCCESS) rc = tss2().Tss2_MU_TPM2B_PRIVATE_Marshal(priv, priv_buf, sizeof priv_buf, &priv_len);
    tss2().Esys_Free(pub);
    tss2().Esys_Free(priv);
    if (rc != TSS2_RC_SUCCESS) throw Error(Failure::failed, "cannot store the sealed machine secret", rc_text(rc), "");
    Bytes out;
    ByteWriter(out)
        .bytes(as_bytes(std::string_view(kMagic, sizeof kMagic)))
        .string(std::span<const std::uint8_t>(pub_buf, pub_len))
        .string(std::span<const std::uint8_t>(priv_buf, priv_len));
    return out;
}

SecretBuffer tpm_unseal(std::span<const std::uint8_t> file, const std::string &label) {
    ByteReader r(file);
    std::span<const std::uint8_t> pub_bytes, priv_bytes;
    if (!r.expect(as_bytes(std::string_view(kMagic, sizeof kMagic))) || !r.string(pub_bytes) ||
        !r.string(priv_bytes) || !r.at_end())
        damaged(label, "it is not PUDDLET1 and two length-prefixed TPM structures");
    TPM2B_PUBLIC pub{};
    TPM2B_PRIVATE priv{};
    size_t off = 0;
    if (tss2().Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub_bytes.data(), pub_bytes.size(), &off, &pub) != TSS2_RC_SUCCESS ||
        off != pub_bytes.size())
        damaged(label, "its public part does not parse");
    off = 0;
    if (tss2().Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv_bytes.data(), priv_bytes.size(), &off, &priv) != TSS2_RC_SUCCESS ||
        off != priv_bytes.size())
        damaged(label, "its private part does not parse");
    Tpm tpm;
    const ESYS_TR parent = tpm.primary();
    TSS2_RC rc = tss2().Esys_Load(tpm.ctx(), parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &tpm.object());
    if (rc != TSS2_RC_SUCCESS) damaged(label, "this TPM does not load it (" + rc_text(rc) + ")");
    TPM2B_SENSITIVE_DATA *data = nullptr;
    rc = tss2().Esys_Unseal(tpm.ctx(), tpm.object(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data);
    if (rc != TSS2_RC_SUCCESS) damaged(label, "this TPM does not unseal it (" + rc_text(rc) + ")");
    SecretBuffer out(data->size);
    std::memcpy(out.data(), data->buffer, data->size);
    std::memset(data->buffer, 0, data->size);
    tss2().Esys_Free(data);
    return out;
}

#endif

} // namespace puddle
