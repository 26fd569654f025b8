#include "pair/tls.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <poll.h>

namespace puddle::pair {
namespace {

struct X509Deleter { void operator()(X509 *x) const { X509_free(x); } };
struct PkeyDeleter { void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); } };

[[noreturn]] void tls_fail(const std::string &what) {
    throw Error(Failure::pairing_failed, what, openssl_error());
}

// An Ed25519 key and a self-signed certificate made for this one connection.
void use_ephemeral_identity(SSL_CTX *ctx) {
    std::unique_ptr<EVP_PKEY, PkeyDeleter> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key) tls_fail("cannot make an ephemeral TLS key");
    std::unique_ptr<X509, X509Deleter> cert(X509_new());
    if (!cert) tls_fail("cannot make an ephemeral certificate");
    X509_set_version(cert.get(), 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_NAME *name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char *>("puddle-pair"), -1,
                               -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    if (X509_sign(cert.get(), key.get(), nullptr) <= 0) tls_fail("cannot sign the ephemeral certificate");
    if (SSL_CTX_use_certificate(ctx, cert.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1)
        tls_fail("cannot use the ephemeral certificate");
}

// Without a fleet CA the certificates authenticate nothing; CPace does.
int accept_any(int, X509_STORE_CTX *) { return 1; }

} // namespace

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    if (!e) return "TLS failure";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

SslCtx make_tls_context(TlsRole role, const Config::Tls &tls) {
    SslCtx ctx(SSL_CTX_new(role == TlsRole::server ? TLS_server_method() : TLS_client_method()));
    if (!ctx) tls_fail("cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx.get(), 0);
    const bool fleet = !tls.ca_file.empty() || !tls.cert_file.empty() || !tls.key_file.empty();
    if (fleet) {
        if (tls.ca_file.empty() || tls.cert_file.empty() || tls.key_file.empty())
            throw Error(Failure::failed, "invalid [tls] configuration",
                        "ca_file, cert_file and key_file must be set together", "set all three, or none");
        if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr) != 1)
            throw Error(Failure::failed, "cannot load the fleet CA " + tls.ca_file, openssl_error());
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1)
            throw Error(Failure::failed, "cannot load the certificate " + tls.cert_file, openssl_error());
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx.get()) != 1)
            throw Error(Failure::failed, "cannot load the key " + tls.key_file, openssl_error());
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    } else {
        use_ephemeral_identity(ctx.get());
        // Both sides present a certificate, as the protocol says; neither trusts it.
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, accept_any);
    }
    return ctx;
}

TlsConnection::TlsConnection(SSL_CTX *ctx, TlsRole role, UniqueFd fd, Clock::time_point deadline)
    : fd_(std::move(fd)) {
    int flags = ::fcntl(fd_.get(), F_GETFL);
    ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
    ssl_.reset(SSL_new(ctx));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1) tls_fail("cannot set up TLS");
    for (;;) {
        int r = role == TlsRole::server ? SSL_accept(ssl_.get()) : SSL_connect(ssl_.get());
        if (r == 1) break;
        int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ) wait(false, deadline);
        else if (e == SSL_ERROR_WANT_WRITE) wait(true, deadline);
        else tls_fail("TLS handshake failed");
    }
}

void TlsConnection::wait(bool for_write, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) throw Error(Failure::pairing_failed, "pairing connection", "the peer took too long to answer");
        struct pollfd p {fd_.get(), short(for_write ? POLLOUT : POLLIN), 0};
        int r = ::poll(&p, 1, int(left));
        if (r > 0) return;
        if (r < 0 && errno != EINTR) throw_errno("poll", errno);
    }
}

Bytes TlsConnection::channel_binding() const {
    static const char label[] = "EXPORTER-Channel-Binding";
    Bytes cb(32);
    if (SSL_export_keying_material(ssl_.get(), cb.data(), cb.size(), label, sizeof label - 1, nullptr, 0, 0) != 1)
        tls_fail("cannot export the TLS channel binding");
    return cb;
}

Bytes TlsConnection::read_exact(std::size_t n, Clock::time_point deadline) {
    Bytes out(n);
    std::size_t got = 0;
    while (got < n) {
        int r = SSL_read(ssl_.get(), out.data() + got, int(n - got));
        if (r > 0) {
            got += std::size_t(r);
            continue;
        }
        int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ) wait(false, deadline);
        else if (e == SSL_ERROR_WANT_WRITE) wait(true, deadline);
        else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && r == 0))
            throw Error(Failure::pairing_failed, "pairing connection", "the peer closed the connection");
        else tls_fail("TLS read failed");
    }
    return out;
}

void TlsConnection::write_all(std::span<const std::uint8_t> data, Clock::time_point deadline) {
    std::size_t done = 0;
    while (done < data.size()) {
        int r = SSL_write(ssl_.get(), data.data() + done, int(data.size() - done));
        if (r > 0) {
            done += std::size_t(r);
            continue;
        }
        int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ) wait(false, deadline);
        else if (e == SSL_ERROR_WANT_WRITE) wait(true, deadline);
        else tls_fail("TLS write failed");
    }
}

void TlsConnection::shutdown() { SSL_shutdown(ssl_.get()); }

} // namespace puddle::pair
