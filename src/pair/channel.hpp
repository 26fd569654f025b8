// Pairing messages over TLS: framing, deadlines (10 s per message, 60 s
// per connection) and the transcript that PAYLOAD and ACK are bound to.
#pragma once

#include "pair/messages.hpp"
#include "pair/tls.hpp"
#include "util/error.hpp"

namespace puddle::pair {

// The peer sent something we cannot accept: answer ERROR bad-message.
class BadMessage : public Error {
public:
    explicit BadMessage(const std::string &why) : Error(Failure::pairing_failed, "pairing failed", why) {}
};

// The peer sent an ERROR message.
class PeerRefused : public Error {
public:
    explicit PeerRefused(ErrorMsg m)
        : Error(Failure::pairing_failed, "pairing refused by the other machine", m.code + ": " + m.text),
          msg(std::move(m)) {}
    ErrorMsg msg;
};

class Channel {
public:
    using Clock = TlsConnection::Clock;
    static constexpr auto kMessageTimeout = std::chrono::seconds(10);
    static constexpr auto kConnectionTimeout = std::chrono::seconds(60);

    explicit Channel(TlsConnection &tls) : tls_(tls), end_(Clock::now() + kConnectionTimeout) {}

    void send(const Message &m);
    // The next message, which must be of type `expected` (an ERROR from the
    // peer throws PeerRefused; anything else throws BadMessage).
    Message receive(MsgType expected);
    // The same with a shorter deadline than kMessageTimeout for this message.
    Message receive(MsgType expected, Clock::duration timeout);
    // Best effort: tell the peer why we stop.
    void send_error(ErrorCode code, const std::string &text) noexcept;
    TranscriptHash transcript_hash() const { return transcript_.hash(); }

    template <class T> T receive_as(MsgType expected) { return std::get<T>(receive(expected)); }
    template <class T> T receive_as(MsgType expected, Clock::duration timeout) {
        return std::get<T>(receive(expected, timeout));
    }

private:
    Clock::time_point message_deadline() const;
    Message receive_until(MsgType expected, Clock::time_point deadline);
    TlsConnection &tls_;
    Clock::time_point end_;
    Transcript transcript_;
};

} // namespace puddle::pair
