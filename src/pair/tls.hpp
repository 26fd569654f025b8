// TLS 1.3 for pairing (PAIRING.md "Transport"): ephemeral self-signed
// certificates that neither side trusts (the PAKE authenticates), or, with
// [tls] configured, mutual certificate checks against the fleet CA.
// Blocking I/O with per-message and per-connection deadlines.
#pragma once

#include "core/config.hpp"
#include "core/encoding.hpp"
#include "util/fd.hpp"

#include <chrono>
#include <memory>
#include <openssl/ssl.h>
#include <string>

namespace puddle::pair {

struct SslCtxDeleter { void operator()(SSL_CTX *c) const { SSL_CTX_free(c); } };
struct SslDeleter { void operator()(SSL *s) const { SSL_free(s); } };
using SslCtx = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using Ssl = std::unique_ptr<SSL, SslDeleter>;

enum class TlsRole { server, client };

// Throws Error naming the file or OpenSSL's reason.
SslCtx make_tls_context(TlsRole role, const Config::Tls &tls);

// The most recent OpenSSL error, for messages.
std::string openssl_error();

class TlsConnection {
public:
    using Clock = std::chrono::steady_clock;

    // Takes the connected socket; performs the handshake before `deadline`.
    // Throws Error (Failure::pairing_failed) when the handshake fails.
    TlsConnection(SSL_CTX *ctx, TlsRole role, UniqueFd fd, Clock::time_point deadline);

    // RFC 9266 tls-exporter: 32 bytes of "EXPORTER-Channel-Binding".
    Bytes channel_binding() const;

    // Reads exactly n bytes, or throws on EOF, error or deadline.
    Bytes read_exact(std::size_t n, Clock::time_point deadline);
    void write_all(std::span<const std::uint8_t> data, Clock::time_point deadline);
    void shutdown();
    int fd() const { return fd_.get(); }

private:
    void wait(bool for_write, Clock::time_point deadline);
    UniqueFd fd_;
    Ssl ssl_;
};

} // namespace puddle::pair
