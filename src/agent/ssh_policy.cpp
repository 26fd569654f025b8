#include "agent/ssh_policy.hpp"

#include "agent/host_key.hpp"

#include <algorithm>

namespace puddle::agent {

std::string bind_session(std::vector<Binding> &bindings, const ssh::SessionBind &bind) {
    if (bind.session_id.empty() || bind.session_id.size() > kMaxSessionIdBytes)
        return "session-bind: session id of a refused length";
    std::string why;
    if (!ssh::verify_host_signature(bind.hostkey_blob, bind.signature_blob, bind.session_id, &why))
        return "session-bind: " + why;
    for (const auto &b : bindings) {
        if (!b.forwarded) return "session-bind: the connection was already bound for authentication";
        const bool same_sid = b.session_id == bind.session_id;
        if (same_sid && b.hostkey_blob == bind.hostkey_blob) return {}; // recorded already
        if (same_sid) return "session-bind: session id already bound to another host key";
    }
    if (bindings.size() >= kMaxBindings) return "session-bind: too many bindings on one connection";
    bindings.push_back(Binding{bind.hostkey_blob, ssh::key_fingerprint(bind.hostkey_blob), bind.session_id,
                               bind.is_forwarding});
    return {};
}

std::string login_matches_binding(const ssh::LoginUse &login, const std::vector<Binding> &bindings) {
    if (bindings.empty()) return {};
    const Binding &last = bindings.back();
    if (login.session_id != last.session_id)
        return "the login is for another ssh session than the one this connection is bound to";
    if (login.hostkey_blob && *login.hostkey_blob != last.hostkey_blob)
        return "the login names another host key than the one this connection is bound to";
    return {};
}

std::string destination_refusal(const ssh::SignPurpose &what, const std::vector<Binding> &bindings,
                                const std::vector<std::string> &destinations) {
    if (destinations.empty() || !std::holds_alternative<ssh::LoginUse>(what)) return {};
    if (bindings.empty())
        return "an ssh login whose destination is not known (the client sent no session-bind) is refused: "
               "[ssh] destinations is set";
    const std::string &host = bindings.back().host_key;
    if (std::find(destinations.begin(), destinations.end(), host) == destinations.end())
        return "an ssh login to host key " + host + " is refused: it is not in [ssh] destinations";
    return {};
}

} // namespace puddle::agent
