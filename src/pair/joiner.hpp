// The joiner's side of a claim (PAIRING.md): connect, prove knowledge of
// the code, receive the payload, let the caller check and store it, and
// acknowledge.
#pragma once

#include "core/config.hpp"
#include "pair/cpace.hpp"
#include "pair/payload.hpp"

#include <functional>
#include <string>

namespace puddle::pair {

struct JoinTarget {
    std::string host;
    std::uint16_t port = 1531;
};

// "HOST", "HOST:PORT", "[V6]:PORT"; throws a usage Error otherwise.
JoinTarget parse_join_target(const std::string &text, std::uint16_t default_port);

struct JoinRequest {
    JoinTarget target;
    Purpose purpose = Purpose::pair;
    std::string code;      // as typed; checked by prs_from_code
    std::string user;      // the Unix user name to claim for
    std::string own_host;  // this machine's host name (ADa, ACK)
};

// Runs the exchange. `accept` gets the decrypted payload and the holder's
// identity (from ADb), and must verify and store it, or throw; the ACK is
// sent only after it returns, carrying the envoy certificate it returns. Errors: Failure::pairing_failed for a refused
// or failed exchange (messages say what to do), others as thrown by accept.
void run_join(const JoinRequest &request, const Config::Tls &tls,
              const std::function<std::optional<EnvoyCert>(const PairPayload &, const HolderAd &)> &accept);

} // namespace puddle::pair
