#include "agent/ssh_door.hpp"

#include "agent/requester.hpp"
#include "agent/ssh_protocol.hpp"
#include "util/log.hpp"

namespace puddle::agent {
namespace {

std::string as_string(const Bytes &b) { return std::string(b.begin(), b.end()); }

} // namespace

std::optional<Step> SshDoor::next_request(std::string_view input) {
    auto bytes = std::span(reinterpret_cast<const std::uint8_t *>(input.data()), input.size());
    auto frame = ssh::parse_frame(bytes);
    if (frame.status == ssh::FrameResult::Status::need_more) return std::nullopt;
    Step s;
    if (frame.status == ssh::FrameResult::Status::too_large) {
        // As OpenSSH's agent does: drop the connection without a reply.
        s.consumed = input.size();
        s.close = true;
        return s;
    }
    s.consumed = frame.consumed;
    auto request = ssh::parse_request(frame.body);
    if (auto *list = std::get_if<ssh::RequestIdentities>(&request)) {
        s.request = *list;
    } else if (auto *sign = std::get_if<ssh::SignRequest>(&request)) {
        s.request = std::move(*sign);
    } else if (auto *ext = std::get_if<ssh::Extension>(&request)) {
        // query and failures are answered here, whether the session is
        // locked or not: the answers are constants and reveal nothing.
        auto next = ssh::dispatch_extension(*ext);
        if (auto *b = std::get_if<ssh::SessionBind>(&next)) s.request = std::move(*b);
        else s.reply = as_string(std::get<ssh::ExtensionReply>(next).framed);
    } else {
        // Adding, removing, agent locking and malformed messages:
        // SSH_AGENT_FAILURE, and the connection stays usable, as with
        // OpenSSH's agent.
        s.reply = as_string(ssh::framed_failure());
    }
    return s;
}

std::string SshDoor::handle(const Request &request, Connection &conn, const Facts &facts) {
    return std::visit(Overloaded{
                          [this](const ssh::RequestIdentities &) { return handle_request_identities(); },
                          [this, &facts](const ssh::SignRequest &r) { return handle_sign(r, facts); },
                          [&conn](const ssh::SessionBind &b) { return handle_session_bind(b, conn); },
                          // The line door's requests never reach this door.
                          [](const auto &) -> std::string {
                              throw told(Failure::internal, "not an SSH agent request");
                          },
                      },
                      request);
}

std::string SshDoor::handle_request_identities() {
    auto st = service_.status();
    if (st.pubkey.empty()) return as_string(ssh::framed_identities_answer_empty());
    auto key = parse_public_key(st.pubkey);
    // The key is listed while locked too (a public key is no secret): ssh and
    // ssh-keygen only ask to sign with a key the agent lists. With
    // unlock_on_request their request is what prompts the unlock; without
    // it the comment says why the signature will be refused, and ssh prints
    // it ("signing failed for ED25519 "... (locked: run 'puddle unlock')"
    // from agent"), where an empty list would leave "agent has no identities".
    std::string comment = service_.key_comment(*key);
    if (!st.unlocked && !service_.config().agent.unlock_on_request) comment += " (locked: run 'puddle unlock')";
    return as_string(ssh::framed_identities_answer(*key, comment));
}

Facts SshDoor::facts_of(const Request &request, const Connection &conn) {
    Facts facts;
    const auto *sign = std::get_if<ssh::SignRequest>(&request);
    if (!sign) return facts;
    // The last binding names the host this connection now talks to; an
    // earlier one marked forwarding means the request came over a forward.
    std::optional<std::string> host;
    bool forwarded = false;
    for (const auto &b : conn.bindings) {
        host = b.host_key;
        forwarded = forwarded || b.forwarded;
    }
    // Read once: what the data is for decides the record, the questions and
    // the refusals.
    SignFacts what = classify_for_door(Door::ssh, sign->data, host, forwarded);
    facts.use = make_use(Door::ssh, requester_of(conn.peer), sign->data, std::move(what.purpose));
    Failure kind;
    if (auto why = sign_refusal(*sign, what.what, conn, kind); !why.empty()) facts.refusal = told(kind, why);
    return facts;
}

std::string SshDoor::handle_session_bind(const ssh::SessionBind &b, Connection &conn) {
    // Not refused while locked: checking the host's signature needs no
    // private key, and ssh binds each new connection (and each forwarded
    // one) before it asks for a signature — with the screen locked, the
    // agent is locked whenever that happens. A refused binding would leave
    // the connection unbound, so the record would name no destination and
    // [ssh] destinations would refuse the login that unlock_on_request
    // could otherwise have served. OpenSSH's agent takes it while locked too.
    if (auto why = bind_session(conn.bindings, b); !why.empty()) {
        log_info("refused a " + std::string(ssh::kSessionBindExtension) + " from pid " +
                 std::to_string(conn.peer.pid) + ": " + why);
        // A known extension that failed: SSH_AGENT_EXTENSION_FAILURE, not
        // the generic failure_reply() (RFC 9987; ssh_protocol.hpp).
        return as_string(ssh::framed_extension_failure());
    }
    return as_string(ssh::framed_success());
}

std::string SshDoor::sign_refusal(const ssh::SignRequest &r, const ssh::SignPurpose &what, const Connection &conn,
                                  Failure &kind) {
    kind = Failure::invalid_argument;
    const auto key = service_.public_key();
    // Only the puddle key is here; any other key is not ours to use.
    if (!key || !ssh::key_blob_matches(r.key_blob, *key)) return "not the puddle key";
    if (const auto *login = std::get_if<ssh::LoginUse>(&what))
        if (auto why = login_matches_binding(*login, conn.bindings); !why.empty()) return why;
    kind = Failure::denied;
    return destination_refusal(what, conn.bindings, service_.config().ssh.destinations);
}

std::string SshDoor::handle_sign(const ssh::SignRequest &r, const Facts &facts) {
    // The key may have changed (rekey) while the request waited for polkit
    // or the user: the signature must still be by the key asked for.
    const auto key = service_.public_key();
    if (!key || !ssh::key_blob_matches(r.key_blob, *key)) {
        const Error e = told(Failure::invalid_argument, "not the puddle key");
        service_.record_refusal(*facts.use, e);
        throw e;
    }
    return as_string(ssh::framed_sign_response(service_.sign(r.data, *facts.use)));
}

std::string SshDoor::failure_reply(const Error &) { return as_string(ssh::framed_failure()); }

std::string SshDoor::foreign_uid_reply(const std::string &) { return as_string(ssh::framed_failure()); }

} // namespace puddle::agent
