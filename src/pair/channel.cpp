#include "pair/channel.hpp"

#include <algorithm>

namespace puddle::pair {

Channel::Clock::time_point Channel::message_deadline() const {
    return std::min(end_, Clock::now() + kMessageTimeout);
}

void Channel::send(const Message &m) {
    Bytes frame = encode(m);
    tls_.write_all(frame, message_deadline());
    transcript_.add(frame);
}

Message Channel::receive(MsgType expected) { return receive_until(expected, message_deadline()); }

Message Channel::receive(MsgType expected, Clock::duration timeout) {
    return receive_until(expected, std::min(message_deadline(), Clock::now() + timeout));
}

Message Channel::receive_until(MsgType expected, Clock::time_point deadline) {
    Bytes buf = tls_.read_exact(kFrameHeaderBytes, deadline);
    // The length is checked against the type's limit from the header alone,
    // before any body is read.
    std::size_t consumed = 0;
    Message m;
    std::string error;
    auto status = parse_frame(buf, consumed, m, error);
    if (status == FrameStatus::need_more) {
        std::size_t need = frame_size_hint(buf);
        Bytes rest = tls_.read_exact(need - buf.size(), deadline);
        buf.insert(buf.end(), rest.begin(), rest.end());
        status = parse_frame(buf, consumed, m, error);
    }
    if (status != FrameStatus::ok || consumed != buf.size()) throw BadMessage(error.empty() ? "malformed message" : error);
    transcript_.add(buf);
    if (auto *e = std::get_if<ErrorMsg>(&m)) throw PeerRefused(*e);
    if (type_of(m) != expected)
        throw BadMessage(std::string("expected ") + std::string(message_type_name(std::uint8_t(expected))) + ", got " +
                         std::string(message_type_name(std::uint8_t(type_of(m)))));
    return m;
}

void Channel::send_error(ErrorCode code, const std::string &text) noexcept {
    try {
        Bytes frame = encode(make_error(code, text));
        tls_.write_all(frame, std::min(end_, Clock::now() + std::chrono::seconds(2)));
    } catch (...) {
    }
}

} // namespace puddle::pair
