// agent.sock: the line protocol of SPEC §6.3 on a StreamDoor.
#pragma once

#include "agent/stream_door.hpp"

namespace puddle::agent {

class LineDoor : public StreamDoor {
public:
    LineDoor(sd_event *loop, Service &service, Authorizer &authorizer, UniqueFd listen_fd,
             std::function<void()> activity)
        : StreamDoor(loop, service, authorizer, std::move(listen_fd), std::move(activity), "agent.sock") {}

protected:
    std::optional<Step> next_request(std::string_view input) override;
    std::string handle(const Request &request, Connection &conn, const Facts &facts) override;
    Facts facts_of(const Request &request, const Connection &conn) override;
    std::string failure_reply(const Error &e) override;
    std::string foreign_uid_reply(const std::string &why) override;

private:
    // One per request of SPEC §6.3; each returns the OK line or throws a told() Error.
    std::string handle_sign(const SignRequest &r, const Facts &facts);
    std::string handle_status();
    std::string handle_pubkey();
    std::string handle_lock();
};

} // namespace puddle::agent
