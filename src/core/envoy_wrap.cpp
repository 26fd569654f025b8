#include "core/envoy_wrap.hpp"

#include "core/wire.hpp"
#include "util/error.hpp"

#include <cstring>
#include <sodium.h>

namespace puddle {
namespace {

constexpr char kMagic[8] = {'P', 'U', 'D', 'D', 'L', 'E', 'W', '2'};
constexpr std::size_t kHeaderBytes = 12 + kEnvoyKeyBytes; // authenticated, before the nonce
constexpr std::size_t kNonceBytes = 24;
constexpr std::size_t kCipherBytes = kWrappedBytes + crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kHeaderBytes + kNonceBytes + kCipherBytes == kSealedWrapBytes);

constexpr const char *kCopiedHint =
    "this state directory was sealed on another machine (copied, synced or restored from elsewhere): "
    "on a member machine run 'puddle export FILE' and here 'puddle import FILE', or pair again "
    "('puddle pair' there, 'puddle join HOST' here)";

[[noreturn]] void damaged(const std::string &label, const std::string &why) {
    throw Error(Failure::bad_passphrase, "cannot read " + label, why,
                "restore the identity files from another of your machines ('puddle export' there, 'puddle import' here)");
}

std::array<std::uint8_t, kHeaderBytes + kPublicKeyBytes> associated_data(const SealedWrapBytes &raw,
                                                                        const PublicKey &pub) {
    std::array<std::uint8_t, kHeaderBytes + kPublicKeyBytes> ad{};
    std::memcpy(ad.data(), raw.data(), kHeaderBytes);
    std::memcpy(ad.data() + kHeaderBytes, pub.bytes.data(), kPublicKeyBytes);
    return ad;
}

} // namespace

bool is_sealed_wrap(std::span<const std::uint8_t> bytes) noexcept {
    return bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0;
}

SealedWrap parse_sealed_wrap(std::span<const std::uint8_t> bytes, const std::string &label) {
    if (!is_sealed_wrap(bytes)) damaged(label, "it does not start with PUDDLEW2");
    if (bytes.size() != kSealedWrapBytes)
        damaged(label, "file is " + std::to_string(bytes.size()) + " bytes; a PUDDLEW2 wrap is exactly " +
                           std::to_string(kSealedWrapBytes));
    ByteReader r(bytes);
    SealedWrap s;
    std::uint8_t protection = 0, reserved[3]{};
    if (!r.expect(as_bytes(std::string_view(kMagic, sizeof kMagic))) || !r.u8(protection) || !r.u8(reserved[0]) ||
        !r.u8(reserved[1]) || !r.u8(reserved[2]) || !r.bytes(s.envoy.bytes))
        damaged(label, "truncated header");
    if (protection != std::uint8_t(Protection::file) && protection != std::uint8_t(Protection::tpm2))
        damaged(label, "unknown protection 0x" + to_hex(std::span(&protection, 1)) +
                           " (this puddle knows 0x01, a machine secret in a file, and 0x02, one sealed in a TPM)");
    if (reserved[0] || reserved[1] || reserved[2]) damaged(label, "reserved header bytes are not 0");
    s.protection = Protection(protection);
    std::memcpy(s.raw.data(), bytes.data(), kSealedWrapBytes);
    return s;
}

SealedWrapBytes seal_wrap(const WrappedBytes &inner, const PublicKey &pub, const EnvoySecret &envoy) {
    SealedWrapBytes raw{};
    std::array<std::uint8_t, kNonceBytes> nonce;
    randombytes_buf(nonce.data(), nonce.size());
    const std::uint8_t zero3[3]{};
    ByteWriter(std::span(raw))
        .bytes(as_bytes(std::string_view(kMagic, sizeof kMagic)))
        .u8(std::uint8_t(envoy.protection()))
        .bytes(zero3)
        .bytes(envoy.public_key().bytes)
        .bytes(nonce);
    auto key = envoy.wrap_key();
    auto ad = associated_data(raw, pub);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(raw.data() + kHeaderBytes + kNonceBytes, &clen, inner.data(),
                                               inner.size(), ad.data(), ad.size(), nullptr, nonce.data(), key.data());
    return raw;
}

WrappedKey open_sealed_wrap(const SealedWrap &sealed, const PublicKey &pub, const EnvoySecret &envoy,
                            const std::string &label) {
    if (!(sealed.envoy == envoy.public_key()))
        throw Error(Failure::bad_passphrase, "cannot open " + label,
                    "it is sealed to the sealing key " + sealed.envoy.str() + ", and this machine's sealing key is " +
                        envoy.public_key().str() + " (" + envoy.path() + ")",
                    kCopiedHint);
    auto key = envoy.wrap_key();
    auto ad = associated_data(sealed.raw, pub);
    WrappedBytes inner{};
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(inner.data(), &mlen, nullptr,
                                                   sealed.raw.data() + kHeaderBytes + kNonceBytes, kCipherBytes,
                                                   ad.data(), ad.size(), sealed.raw.data() + kHeaderBytes,
                                                   key.data()) != 0)
        damaged(label, "the machine seal does not open (the file was altered, or identity.pub belongs to another "
                       "identity)");
    return parse_wrapped(inner, label + " (inside the machine seal)");
}

Error no_envoy_secret_error(const SealedWrap &sealed, const std::string &label, const std::string &secret_path) {
    return Error(Failure::bad_passphrase, "cannot open " + label,
                 "it is sealed to the sealing key " + sealed.envoy.str() + ", and this machine has no machine secret (" +
                     secret_path + " does not exist)",
                 kCopiedHint);
}

} // namespace puddle
