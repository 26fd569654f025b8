#include "agent/line_door.hpp"

#include "agent/line_protocol.hpp"
#include "agent/requester.hpp"
#include "util/json.hpp"

#include <type_traits>

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
    std::visit(
        [&s](auto &&r) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, LineError>) s.request = std::move(r);
        },
        std::move(request));
    return s;
}

std::string LineDoor::handle(const Request &request, Connection &, const Facts &facts) {
    return std::visit(Overloaded{
                          [this, &facts](const SignRequest &r) { return handle_sign(r, facts); },
                          [this](const StatusRequest &) { return handle_status(); },
                          [this](const PubkeyRequest &) { return handle_pubkey(); },
                          [this](const LockRequest &) { return handle_lock(); },
                          // The SSH door's requests never reach this door.
                          [](const auto &) -> std::string {
                              throw told(Failure::internal, "not a line request");
                          },
                      },
                      request);
}

Facts LineDoor::facts_of(const Request &request, const Connection &conn) {
    Facts facts;
    const auto *sign = std::get_if<SignRequest>(&request);
    if (!sign) return facts;
    // Read as the ssh door reads it: a "challenge" may be an ssh login or a
    // git signature (usage.hpp classify_for_door).
    SignFacts what = classify_for_door(Door::socket, sign->data);
    facts.use = make_use(Door::socket, requester_of(conn.peer), sign->data, std::move(what.purpose));
    if (!what.refusal.empty()) facts.refusal = told(Failure::denied, what.refusal);
    return facts;
}

std::string LineDoor::handle_sign(const SignRequest &r, const Facts &facts) {
    return format_ok(to_base64(service_.sign(r.data, *facts.use)));
}

std::string LineDoor::handle_status() {
    auto st = service_.status();
    auto j = Json::object()
                 .set("unlocked", st.unlocked)
                 .set("pubkey", st.pubkey)
                 .set("lock_deadline", st.lock_deadline_usec / 1000000)
                 .set("idle_timeout_s", st.idle_timeout_usec / 1000000)
                 .set("watch_pid", long(st.watch_pid))
                 .set("signed", st.uses.signed_)
                 .set("refused", st.uses.refused);
    if (st.last_use)
        j.set("last_use", Json::object()
                              .set("time", st.last_use->time_usec / 1000000)
                              .set("program", st.last_use->program)
                              .set("unit", st.last_use->unit)
                              .set("purpose", st.last_use->purpose)
                              .set("outcome", st.last_use->outcome));
    return format_ok(j.dump());
}

std::string LineDoor::handle_pubkey() { return format_ok(service_.pubkey()); }

std::string LineDoor::handle_lock() {
    service_.lock();
    return format_ok();
}

std::string LineDoor::failure_reply(const Error &e) {
    return format_err(spelling(e.kind()).line_code, e.what());
}

std::string LineDoor::foreign_uid_reply(const std::string &why) { return format_err(ErrCode::denied, why); }

} // namespace puddle::agent
