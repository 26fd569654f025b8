#include "pair/joiner.hpp"

#include "pair/channel.hpp"

#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

namespace puddle::pair {
namespace {

constexpr const char *kNewCodeHint = "get a NEW code on the other machine ('puddle pair' there): this one is used up";

UniqueFd connect_to(const JoinTarget &t, Channel::Clock::time_point deadline) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo *res = nullptr;
    const std::string where = t.host + ":" + std::to_string(t.port);
    if (int r = getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &res); r != 0)
        throw Error(Failure::failed, "cannot reach " + where, gai_strerror(r), "check the host name");
    std::string last = "no address";
    for (addrinfo *ai = res; ai; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!fd) continue;
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last = errno_text(errno);
            continue;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Channel::Clock::now()).count();
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, int(std::max<long long>(left, 0))) != 1) {
            last = "timed out";
            continue;
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            last = errno_text(err);
            continue;
        }
        freeaddrinfo(res);
        return fd;
    }
    freeaddrinfo(res);
    throw Error(Failure::failed, "cannot reach " + where, last,
                "is 'puddle pair' running on that machine, and the port reachable?");
}

[[noreturn]] void refused(const PeerRefused &e, const std::string &where) {
    switch (e.msg.known()) {
    case ErrorCode::no_pending:
        // Also what a code that expired or was used is answered (the holder
        // says the same to every HELLO with nothing to claim).
        throw Error(Failure::pairing_failed, "nothing to claim on " + where, e.msg.text,
                    "run 'puddle pair' on that machine for a new code, as the same user");
    case ErrorCode::expired:
        throw Error(Failure::pairing_failed, "the code has expired", e.msg.text, "run 'puddle pair' there again");
    case ErrorCode::busy:
        throw Error(Failure::pairing_failed, "another machine is claiming the code right now", e.msg.text,
                    "try again in a minute");
    case ErrorCode::auth_failed:
        throw Error(Failure::pairing_failed, "pairing failed",
                    "the code was wrong or someone intercepted the exchange", kNewCodeHint);
    default:
        throw Error(Failure::pairing_failed, "pairing refused by " + where, e.msg.code + ": " + e.msg.text);
    }
}

} // namespace

JoinTarget parse_join_target(const std::string &text, std::uint16_t default_port) {
    JoinTarget t;
    t.port = default_port;
    std::string host = text, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos) throw Error(Failure::invalid_argument, "--from " + text, "unclosed '[' in the address");
        host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') throw Error(Failure::invalid_argument, "--from " + text, "expected ':' after ']'");
            port = text.substr(close + 2);
        }
    } else if (auto c = text.find(':'); c != std::string::npos && text.find(':', c + 1) == std::string::npos) {
        host = text.substr(0, c);
        port = text.substr(c + 1);
    }
    if (host.empty()) throw Error(Failure::invalid_argument, "--from " + text, "no host given");
    if (!port.empty()) {
        char *end = nullptr;
        long p = std::strtol(port.c_str(), &end, 10);
        if (*end || p < 1 || p > 65535) throw Error(Failure::invalid_argument, "--from " + text, "port must be 1..65535");
        t.port = std::uint16_t(p);
    }
    t.host = host;
    return t;
}

void run_join(const JoinRequest &request, const Config::Tls &tls,
              const std::function<std::optional<EnvoyCert>(const PairPayload &, const HolderAd &)> &accept) {
    auto prs = prs_from_code(request.code);
    if (!prs) throw Error(Failure::invalid_argument, "join", "a pairing code is 8 digits, written NNNN-NNNN");
    const std::string where = request.target.host + ":" + std::to_string(request.target.port);
    auto ctx = make_tls_context(TlsRole::client, tls);
    auto deadline = Channel::Clock::now() + Channel::kMessageTimeout;
    TlsConnection conn(ctx.get(), TlsRole::client, connect_to(request.target, deadline), deadline);
    Channel ch(conn);
    try {
        Hello hello;
        hello.purpose = request.purpose;
        randombytes_buf(hello.nj.data(), hello.nj.size());
        hello.user = request.user;
        ch.send(hello);
        auto ack = ch.receive_as<HelloAck>(MsgType::hello_ack);

        Bytes ada = make_ada(kPairProtocolVersion, request.purpose, request.own_host);
        CpaceParty party(CpaceRole::initiator, prs->bytes(), make_ci(conn.channel_binding(), request.user),
                         make_sid(hello.nj, ack.nh), ada);
        ch.send(CpaceA{party.share(), ada});
        auto b = ch.receive_as<CpaceB>(MsgType::cpace_b);
        auto holder = parse_adb(b.adb);
        auto keys = holder ? party.finish(b.yb, b.adb) : std::nullopt;
        if (!holder || holder->version != kPairProtocolVersion || holder->purpose != request.purpose || !keys ||
            !keys->peer_tag_matches(b.tb)) {
            ch.send_error(ErrorCode::auth_failed, "key confirmation failed");
            throw Error(Failure::pairing_failed, "pairing failed",
                        "the code was wrong or someone intercepted the exchange", kNewCodeHint);
        }
        ch.send(Confirm{keys->ta});
        auto ad = ch.transcript_hash();
        auto sealed = ch.receive_as<PayloadMsg>(MsgType::payload);
        std::string error;
        auto payload = open_payload(keys->payload_key, sealed, ad, error);
        if (!payload) {
            ch.send_error(ErrorCode::bad_message, "the payload did not decrypt");
            throw Error(Failure::pairing_failed, "pairing failed", "the payload was damaged in transit: " + error,
                        kNewCodeHint);
        }
        std::optional<EnvoyCert> cert;
        try {
            cert = accept(*payload, *holder);
        } catch (...) {
            ch.send_error(ErrorCode::internal, "the joiner did not take the identity");
            throw;
        }
        MemberRecord me{request.own_host, std::int64_t(std::time(nullptr)), cert};
        ch.send(seal_ack(keys->payload_key, me, ch.transcript_hash()));
        conn.shutdown();
    } catch (const PeerRefused &e) {
        refused(e, where);
    } catch (const BadMessage &e) {
        ch.send_error(ErrorCode::bad_message, e.why());
        throw Error(Failure::pairing_failed, "pairing failed", "the other machine sent a malformed message: " + e.why(),
                    kNewCodeHint);
    }
}

} // namespace puddle::pair
