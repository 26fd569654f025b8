#include "core/wrap.hpp"

#include "core/wire.hpp"
#include "util/error.hpp"

#include <cstring>
#include <sodium.h>

namespace puddle {
namespace {

constexpr char kMagic[8] = {'P', 'U', 'D', 'D', 'L', 'E', 'W', '1'};

std::span<const std::uint8_t> magic() { return as_bytes(std::string_view(kMagic, sizeof kMagic)); }

[[noreturn]] void damaged(const std::string &label, const std::string &why) {
    throw Error(Failure::bad_passphrase, "cannot read " + label, why,
                "restore the identity files from another of your machines or a backup");
}

// Printable rendering of a magic field for messages.
std::string show_magic(const std::uint8_t *p) {
    std::string s;
    for (int i = 0; i < 8; ++i) {
        if (p[i] >= 0x20 && p[i] < 0x7f) s += char(p[i]);
        else s += "\\x" + to_hex(std::span(p + i, 1));
    }
    return s;
}

std::array<std::uint8_t, kWrapHeaderBytes + kPublicKeyBytes> associated_data(const WrappedBytes &raw,
                                                                            const PublicKey &pub) {
    std::array<std::uint8_t, kWrapHeaderBytes + kPublicKeyBytes> ad{};
    std::memcpy(ad.data(), raw.data(), kWrapHeaderBytes);
    std::memcpy(ad.data() + kWrapHeaderBytes, pub.bytes.data(), kPublicKeyBytes);
    return ad;
}

} // namespace

void check_kdf_params(const KdfParams &kdf, const std::string &where) {
    if (kdf.opslimit < kMinOpslimit || kdf.opslimit > kMaxOpslimit)
        throw Error(Failure::failed, where,
                    "Argon2id opslimit " + std::to_string(kdf.opslimit) + " is outside " +
                        std::to_string(kMinOpslimit) + ".." + std::to_string(kMaxOpslimit));
    if (kdf.memlimit_kib < kMinMemlimitKib || kdf.memlimit_kib > kMaxMemlimitKib)
        throw Error(Failure::failed, where,
                    "Argon2id memlimit " + std::to_string(kdf.memlimit_kib) + " KiB is outside " +
                        std::to_string(kMinMemlimitKib) + ".." + std::to_string(kMaxMemlimitKib) + " KiB");
}

void check_received_kdf(const KdfParams &kdf, const std::string &label) {
    check_kdf_params(kdf, label);
    const std::uint64_t cost = std::uint64_t(kdf.opslimit) * kdf.memlimit_kib;
    if (cost > kMaxReceivedKdfCostKib)
        throw Error(Failure::failed, "refusing " + label,
                    "its Argon2id cost (" + std::to_string(kdf.opslimit) + " passes x " +
                        std::to_string(kdf.memlimit_kib / 1024) + " MiB) is above what puddle takes from elsewhere (" +
                        std::to_string(kMaxReceivedKdfCostKib / 1024) + " MiB-passes): every unlock would take that long",
                    "on the machine it came from: 'puddle rotate-passphrase' with [kdf] at most that, then send it again");
}

WrappedKey parse_wrapped(std::span<const std::uint8_t> bytes, const std::string &label) {
    if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
        if (bytes.size() >= 6 && std::memcmp(bytes.data(), "PUDDLE", 6) == 0 && bytes.size() >= 8)
            damaged(label, "wrap format version \"" + show_magic(bytes.data()) +
                               "\" is not supported (this puddle reads PUDDLEW1 and PUDDLEW2)");
        damaged(label, bytes.size() < sizeof kMagic
                           ? "file is " + std::to_string(bytes.size()) + " bytes, too short to be a wrapped key"
                           : "unknown magic \"" + show_magic(bytes.data()) + "\" (expected PUDDLEW2 or PUDDLEW1)");
    }
    if (bytes.size() != kWrappedBytes)
        damaged(label, "file is " + std::to_string(bytes.size()) + " bytes; a PUDDLEW1 wrap is exactly " +
                           std::to_string(kWrappedBytes));
    // The magic and the length are checked above: the header cannot run short.
    ByteReader r(bytes);
    WrappedKey w;
    std::uint8_t kdf_id = 0, reserved = 0;
    if (!r.expect(magic()) || !r.u8(kdf_id) || !r.u32(w.kdf.opslimit) || !r.u32(w.kdf.memlimit_kib) ||
        !r.u8(reserved) || !r.bytes(w.nonce))
        damaged(label, "truncated header");
    if (kdf_id != kKdfArgon2id13)
        damaged(label, "unknown KDF id 0x" + to_hex(std::span(&kdf_id, 1)) + " (only 0x01, Argon2id v1.3, is known)");
    if (reserved != 0) damaged(label, "reserved header byte is 0x" + to_hex(std::span(&reserved, 1)) + ", not 0");
    try {
        check_kdf_params(w.kdf, label);
    } catch (const Error &e) {
        damaged(label, e.why());
    }
    std::memcpy(w.raw.data(), bytes.data(), kWrappedBytes);
    return w;
}

Salt parse_salt(std::span<const std::uint8_t> bytes, const std::string &label) {
    if (bytes.size() != kSaltBytes)
        damaged(label, "file is " + std::to_string(bytes.size()) + " bytes; a salt is exactly " +
                           std::to_string(kSaltBytes));
    Salt s;
    std::memcpy(s.data(), bytes.data(), kSaltBytes);
    return s;
}

Salt random_salt() {
    init_sodium();
    Salt s;
    randombytes_buf(s.data(), s.size());
    return s;
}

SecretBuffer derive_wrapping_key(std::span<const std::uint8_t> passphrase, const Salt &salt,
                                 const KdfParams &kdf) {
    init_sodium();
    check_kdf_params(kdf, "Argon2id parameters");
    SecretBuffer key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (crypto_pwhash(key.data(), key.size(), reinterpret_cast<const char *>(passphrase.data()),
                      passphrase.size(), salt.data(), kdf.opslimit,
                      std::size_t(kdf.memlimit_kib) * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw Error(Failure::failed, "Argon2id key derivation",
                    "could not allocate " + std::to_string(kdf.memlimit_kib / 1024) + " MiB",
                    "free memory, or lower [kdf] memlimit_kib for new wraps");
    return key;
}

WrappedBytes wrap_seed(const Keypair &keypair, std::span<const std::uint8_t> passphrase,
                       const Salt &salt, const KdfParams &kdf) {
    WrappedBytes raw{};
    std::array<std::uint8_t, kWrapNonceBytes> nonce;
    randombytes_buf(nonce.data(), nonce.size());
    ByteWriter(std::span(raw))
        .bytes(magic())
        .u8(kKdfArgon2id13)
        .u32(kdf.opslimit)
        .u32(kdf.memlimit_kib)
        .u8(0) // reserved
        .bytes(nonce);

    auto key = derive_wrapping_key(passphrase, salt, kdf);
    auto ad = associated_data(raw, keypair.public_key());
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(raw.data() + kWrapHeaderBytes + kWrapNonceBytes, &clen,
                                               keypair.seed().data(), keypair.seed().size(), ad.data(),
                                               ad.size(), nullptr, raw.data() + kWrapHeaderBytes,
                                               key.data());
    return raw;
}

WrapOrigin local_wrap() {
    return {"identity.wrapped", "identity.wrapped here is damaged: on another member run 'puddle export FILE', "
                                "then here 'puddle import FILE'"};
}

Keypair unwrap_seed(const WrappedKey &wrapped, std::span<const std::uint8_t> passphrase,
                    const Salt &salt, const PublicKey &expected, const WrapOrigin &origin) {
    auto key = derive_wrapping_key(passphrase, salt, wrapped.kdf);
    auto ad = associated_data(wrapped.raw, expected);
    SecretBuffer seed(kSeedBytes);
    unsigned long long mlen = 0;
    const std::uint8_t *ct = wrapped.raw.data() + kWrapHeaderBytes + kWrapNonceBytes;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed.data(), &mlen, nullptr, ct,
                                                   kWrappedBytes - kWrapHeaderBytes - kWrapNonceBytes,
                                                   ad.data(), ad.size(), wrapped.nonce.data(),
                                                   key.data()) != 0)
        throw Error(Failure::bad_passphrase, "unwrap failed", "wrong passphrase (or damaged " + origin.what + ")",
                    "try again; if the passphrase is right, " + origin.if_right);
    auto kp = Keypair::from_seed(seed.bytes());
    if (!(kp.public_key() == expected))
        throw Error(Failure::bad_passphrase, "corrupted identity",
                    "the unwrapped key does not match identity.pub",
                    "restore the identity files from another of your machines or a backup");
    return kp;
}

} // namespace puddle
