// What the ssh door knows of where a login goes, and the rules it keeps:
// session-bind@openssh.com bindings as OpenSSH's agent records them, the
// check that a login signature belongs to the bound session, and the
// optional destination rule of puddle.toml(5) [ssh] destinations. Pure.
#pragma once

#include "agent/ssh_protocol.hpp"

#include <string>
#include <vector>

namespace puddle::agent {

// A verified binding of one ssh-agent.sock connection: ssh binds it to each
// hop's host key in turn (PROTOCOL.agent §1).
struct Binding {
    Bytes hostkey_blob;
    std::string host_key; // "SHA256:…" fingerprint
    Bytes session_id;
    bool forwarded = false;
};

// At most this many bindings per connection, and session ids at most this
// long (OpenSSH's AGENT_MAX_SESSION_IDS and AGENT_MAX_SID_LEN).
inline constexpr std::size_t kMaxBindings = 16;
inline constexpr std::size_t kMaxSessionIdBytes = 128;

// Verifies the host key's signature over the session id and records the
// binding, with OpenSSH 9's rules: no binding after one made for
// authentication (not forwarding); the same session id and key again is
// accepted without a new record; the same session id with another key is
// refused. "" when accepted, else why not (fixed text).
std::string bind_session(std::vector<Binding> &bindings, const ssh::SessionBind &bind);

// On a bound connection, a login signature must be for the session bound
// last and, when it names a host key (hostbound), for that session's key.
// "" when it is (or the connection is not bound), else why not.
std::string login_matches_binding(const ssh::LoginUse &login, const std::vector<Binding> &bindings);

// [ssh] destinations: when the list is not empty, a login (never an sshsig
// or other data) is allowed only to a listed host key, proved by a
// binding. "" when allowed, else the refusal.
std::string destination_refusal(const ssh::SignPurpose &what, const std::vector<Binding> &bindings,
                                 const std::vector<std::string> &destinations);

} // namespace puddle::agent
