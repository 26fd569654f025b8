// ssh-agent.sock: the OpenSSH agent protocol on a StreamDoor, serving the
// puddle key to ssh, ssh-add, ssh-keygen -Y and git. Signing goes through
// the same authorization (org.puddle.sign) and Service as the other doors.
#pragma once

#include "agent/stream_door.hpp"

namespace puddle::agent {

class SshDoor : public StreamDoor {
public:
    SshDoor(sd_event *loop, Service &service, Authorizer &authorizer, UniqueFd listen_fd,
            std::function<void()> activity)
        : StreamDoor(loop, service, authorizer, std::move(listen_fd), std::move(activity), "ssh-agent.sock") {}

protected:
    std::optional<Step> next_request(std::string_view input) override;
    std::string handle(const Request &request, Connection &conn, const Facts &facts) override;
    Facts facts_of(const Request &request, const Connection &conn) override;
    std::string failure_reply(const Error &e) override;
    std::string foreign_uid_reply(const std::string &why) override;

private:
    // As ssh-agent.c's process_request_identities and process_sign_request2.
    std::string handle_request_identities();
    std::string handle_sign(const ssh::SignRequest &r, const Facts &facts);
    // Why this door refuses the request before signing: another key, a login
    // for another session or host than the binding, a destination rule; ""
    // when it does not. The kind is set with the text.
    std::string sign_refusal(const ssh::SignRequest &r, const ssh::SignPurpose &what, const Connection &conn,
                             Failure &kind);
    // Verifies and records the connection's binding (ssh_policy.hpp):
    // SSH_AGENT_SUCCESS, or SSH_AGENT_EXTENSION_FAILURE when refused.
    static std::string handle_session_bind(const ssh::SessionBind &b, Connection &conn);
};

} // namespace puddle::agent
