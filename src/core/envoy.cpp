#include "core/envoy.hpp"

#include "core/encoding.hpp"
#include "util/error.hpp"

#include <cstdlib>
#include <cstring>
#include <pwd.h>
#include <sys/stat.h>
#include <sodium.h>
#include <unistd.h>

namespace puddle {
namespace {

constexpr char kMagic[8] = {'P', 'U', 'D', 'D', 'L', 'E', 'E', '1'};
constexpr std::size_t kFileBytes = sizeof kMagic + kEnvoySecretBytes;
constexpr std::uint64_t kWrapSubkey = 1, kBoxSubkey = 2, kSignSubkey = 3;
constexpr char kWrapContext[crypto_kdf_CONTEXTBYTES] = {'p', 'u', 'd', 'd', 'l', 'e', 'w', '2'};
constexpr char kBoxContext[crypto_kdf_CONTEXTBYTES] = {'p', 'u', 'd', 'd', 'l', 'e', 'b', 'x'};
constexpr char kSignContext[crypto_kdf_CONTEXTBYTES] = {'p', 'u', 'd', 'd', 'l', 'e', 's', 'g'};

SecretBuffer subkey(const SecretBuffer &secret, std::uint64_t id, const char (&ctx)[crypto_kdf_CONTEXTBYTES]) {
    SecretBuffer k(32);
    crypto_kdf_derive_from_key(k.data(), k.size(), id, ctx, secret.data());
    return k;
}

} // namespace

const char *protection_name(Protection p) {
    switch (p) {
    case Protection::passphrase_only: return "passphrase";
    case Protection::file: return "envoy-file";
    case Protection::tpm2: return "envoy-tpm2";
    }
    return "unknown";
}

std::string EnvoyKey::str() const { return "x25519:" + to_hex(bytes); }

std::optional<EnvoyKey> parse_envoy_key(std::string_view text, std::string *why) {
    auto fail = [&](const std::string &w) -> std::optional<EnvoyKey> {
        if (why) *why = w;
        return std::nullopt;
    };
    if (!text.starts_with("x25519:")) return fail("a sealing key starts with \"x25519:\"");
    text.remove_prefix(7);
    if (text.size() != 2 * kEnvoyKeyBytes) return fail("a sealing key has 64 hex digits after \"x25519:\"");
    auto raw = from_hex(text);
    if (!raw) return fail("a sealing key is lowercase hex after \"x25519:\"");
    EnvoyKey k;
    std::memcpy(k.bytes.data(), raw->data(), kEnvoyKeyBytes);
    if (k.str().substr(7) != text) return fail("a sealing key is lowercase hex after \"x25519:\"");
    return k;
}

StateDir EnvoySecret::location() {
    const char *home = std::getenv("HOME");
    std::string base;
    if (home && *home == '/') base = home;
    else if (auto *pw = ::getpwuid(::geteuid())) base = pw->pw_dir;
    else
        throw Error(Failure::failed, "cannot find this machine's secret", "$HOME is not set",
                    "set HOME to your home directory");
    return StateDir(base + "/.local/state/puddle");
}

SecretBuffer parse_envoy_secret_file(std::span<const std::uint8_t> bytes, const std::string &label) {
    if (bytes.size() != kFileBytes || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        throw Error(Failure::bad_passphrase, "cannot read " + label,
                    bytes.size() != kFileBytes
                        ? "it is " + std::to_string(bytes.size()) + " bytes; a machine secret file is exactly " +
                              std::to_string(kFileBytes)
                        : std::string("it does not start with PUDDLEE1"),
                    "restore it from a backup of this machine; without it the identity here is sealed for good: "
                    "re-join with 'puddle pair' on another member and 'puddle join' here, or 'puddle import' an export");
    SecretBuffer s(kEnvoySecretBytes);
    std::memcpy(s.data(), bytes.data() + sizeof kMagic, kEnvoySecretBytes);
    return s;
}

EnvoySecret EnvoySecret::from_bytes(std::span<const std::uint8_t> secret, std::string path) {
    init_sodium();
    if (secret.size() != kEnvoySecretBytes) throw std::invalid_argument("a machine secret is 32 bytes");
    EnvoySecret e;
    e.secret_ = SecretBuffer(kEnvoySecretBytes);
    std::memcpy(e.secret_.data(), secret.data(), kEnvoySecretBytes);
    e.path_ = std::move(path);
    auto sk = e.box_secret_key();
    crypto_scalarmult_base(e.pub_.bytes.data(), sk.data());
    e.signer_ = e.signing_keypair().public_key();
    return e;
}

std::optional<EnvoySecret> EnvoySecret::load(const StateDir &where) {
    if (!where.exists()) return std::nullopt;
    if (where.has(kEnvoyTpmFile)) {
        where.check_safe();
        const auto sealed = where.read(kEnvoyTpmFile, 4096, FileTrust::private_file, Failure::bad_passphrase);
        auto s = tpm_unseal(sealed, where.file(kEnvoyTpmFile));
        if (s.size() != kEnvoySecretBytes)
            throw Error(Failure::bad_passphrase, "cannot use " + where.file(kEnvoyTpmFile),
                        "the TPM unsealed " + std::to_string(s.size()) + " bytes, not 32", "");
        auto e = from_bytes(s.bytes(), where.file(kEnvoyTpmFile));
        e.protection_ = Protection::tpm2;
        return e;
    }
    if (!where.has(kEnvoySecretFile)) return std::nullopt;
    where.check_safe();
    // As ssh refuses an unprotected private key: a secret others could read
    // may already have been read.
    struct stat st;
    const std::string path = where.file(kEnvoySecretFile);
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
        throw Error(Failure::failed, "refusing to use " + path,
                    "this machine's secret is readable by " + std::string((st.st_mode & 007) ? "others" : "its group") +
                        " (mode 0" + std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                        std::to_string(st.st_mode & 7) + ")",
                    "chmod 600 " + path + "; if someone else may have read it, make a new one: 'puddle export' "
                    "(to a file you keep offline), remove it, then 'puddle import' that file");
    auto bytes = where.read(kEnvoySecretFile, 4096, FileTrust::private_file, Failure::bad_passphrase);
    auto s = parse_envoy_secret_file(bytes, where.file(kEnvoySecretFile));
    sodium_memzero(bytes.data(), bytes.size());
    return from_bytes(s.bytes(), where.file(kEnvoySecretFile));
}

EnvoySecret EnvoySecret::load_or_create(const StateDir &where) {
    if (auto e = load(where)) return std::move(*e);
    init_sodium();
    if (!where.exists()) StateDir(where).create();
    where.check_safe();
    StateLock lock(where); // two first commands at once must not make two secrets
    if (auto e = load(where)) return std::move(*e);
    SecretBuffer file(kFileBytes);
    std::memcpy(file.data(), kMagic, sizeof kMagic);
    randombytes_buf(file.data() + sizeof kMagic, kEnvoySecretBytes);
    const auto secret = file.bytes().subspan(sizeof kMagic);
    // In the TPM where there is one: then the secret is never on the disk.
    const TpmChoice &tpm = tpm_choice();
    if (tpm.mode != TpmChoice::Mode::off) {
        try {
            const Bytes sealed = tpm_seal(secret);
            where.write_atomic(kEnvoyTpmFile, sealed, 0600);
            auto e = from_bytes(secret, where.file(kEnvoyTpmFile));
            e.protection_ = Protection::tpm2;
            return e;
        } catch (const Error &e) {
            if (tpm.mode == TpmChoice::Mode::required)
                throw Error(Failure::failed, "cannot make this machine's secret",
                            "[envoy] tpm = \"required\", and " + e.what_failed() + ": " + e.why(), e.hint());
            // "auto": no TPM here (or none we may use): the file below.
        }
    }
    where.write_atomic(kEnvoySecretFile, file.bytes(), 0600);
    return from_bytes(secret, where.file(kEnvoySecretFile));
}

SecretBuffer EnvoySecret::wrap_key() const { return subkey(secret_, kWrapSubkey, kWrapContext); }

Keypair EnvoySecret::signing_keypair() const {
    const auto seed = subkey(secret_, kSignSubkey, kSignContext);
    return Keypair::from_seed(seed.bytes());
}

SecretBuffer EnvoySecret::box_secret_key() const {
    auto seed = subkey(secret_, kBoxSubkey, kBoxContext);
    SecretBuffer sk(crypto_box_SECRETKEYBYTES);
    std::array<std::uint8_t, crypto_box_PUBLICKEYBYTES> pk;
    crypto_box_seed_keypair(pk.data(), sk.data(), seed.data());
    return sk;
}

} // namespace puddle
