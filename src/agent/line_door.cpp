#include "agent/line_door.hpp"

#include "agent/line_protocol.hpp"
#include "util/json.hpp"

namespace puddle::agent {
std::optional<Step> LineDoor::next_request(std::string_view input) {
    auto nl = input.find('\n');
    if (nl == std::string_view::npos) {
        if (input.size() <= kMaxLineBytes) return std::nullopt;
        // This line can never end within bounds.
        Step s;
        s.consumed = input.size();
        s.reply = format_err(ErrCode::too_large, "line exceeds " + std::to_string(kMaxLineBytes) + " bytes");
        s.close = true;
        return s;
    }
    Step s;
    s.consumed = nl + 1;
    auto request = parse_line(input.substr(0, nl));
    if (auto *err = std::get_if<LineError>(&request)) {
        s.reply = format_err(err->code, err->text);
        s.close = err->code == ErrCode::too_large;
        return s;
    }
    if (auto *sign = std::get_if<SignRequest>(&request)) {
        s.action = Action::sign;
        s.act = [this, data = std::move(sign->data)] { return format_ok(to_base64(service_.sign(data))); };
    } else if (std::holds_alternative<StatusRequest>(request)) {
        s.action = Action::status;
        s.act = [this] {
            auto st = service_.status();
            auto j = Json::object()
                         .set("unlocked", st.unlocked)
                         .set("pubkey", st.pubkey)
                         .set("lock_deadline", st.lock_deadline_usec / 1000000)
                         .set("idle_timeout_s", st.idle_timeout_usec / 1000000)
                         .set("watch_pid", long(st.watch_pid));
            return format_ok(j.dump());
        };
    } else if (std::holds_alternative<PubkeyRequest>(request)) {
        s.action = Action::status;
        s.act = [this] { return format_ok(service_.pubkey()); };
    } else {
        s.action = Action::lock;
        s.act = [this] {
            service_.lock();
            return format_ok();
        };
    }
    return s;
}

std::string LineDoor::failure_reply(const AgentError &e) {
    return format_err(spelling(e.failure()).line_code, e.what());
}

std::string LineDoor::foreign_uid_reply(const std::string &why) { return format_err(ErrCode::denied, why); }

} // namespace puddle::agent
