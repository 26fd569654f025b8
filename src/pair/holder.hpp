// The holder's side of one claim (PAIRING.md): the pair listener runs one
// of these per connection. The code is burned on receipt of CPACE_A,
// before any computation; nothing before that costs the code.
#pragma once

#include "core/files/members.hpp"
#include "core/files/pending.hpp"
#include "core/statedir.hpp"
#include "pair/channel.hpp"
#include "pair/cpace.hpp"
#include "pair/payload.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace puddle::pair {

enum class ClaimOutcome {
    untouched, // dropped before the PAKE: the code is still good
    burned,    // CPACE_A arrived but the claim did not complete
    claimed,   // the joiner confirmed and acknowledged the payload
    // The payload went out but no valid ACK came back: the joiner may have
    // written the identity (it commits before it acknowledges) without this
    // envoy recording it in members.json. The code is spent.
    unacknowledged,
};

class Holder {
public:
    // How long a claim may hold the code between HELLO_ACK and CPACE_A. The
    // joiner sends CPACE_A at once; anything slower is holding the listener
    // (others hear "busy"), so it is dropped well before the 10 s a message
    // may otherwise take.
    static constexpr auto kClaimHoldTimeout = std::chrono::seconds(3);
    // The one answer to every HELLO that has nothing to claim (PAIRING.md's
    // no-pending, expired and used-up cases alike; docs/formats.md).
    // A network whose claims stalled this often gets no more HELLO_ACK for
    // this code: with the rate limit alone, one address could hold the code
    // again and again (20 connections a minute, 3 s each) and keep everyone
    // else hearing "busy".
    static constexpr int kMaxStallsPerNetwork = 2;
    static constexpr const char *kNoPendingText =
        "nothing to claim here for that user and purpose (no code, or it expired or was used)";

    // `pending_file` is pair.pending or rekey.pending; `pending` its content.
    // `claims_json`: the claims this envoy knows (a JSON array), handed on.
    Holder(StateDir dir, std::string user, std::string host, std::string pending_file, PairPending pending,
           std::string claims_json);

    // `peer` (address:port) is for the log; `network` (pair/admission.hpp's
    // Source::network) is where stalled claims are counted.
    ClaimOutcome serve(TlsConnection &tls, const std::string &peer, const std::string &network);

    const PairPending &pending() const { return pending_; }
    Purpose purpose() const { return purpose_; }
    std::string joiner_host() const;

private:
    // The one claim in progress; false when another connection holds it.
    bool take_claim();
    void release_claim();
    bool is_burned() const;
    bool stalled_too_often(const std::string &network) const;
    void note_held(const std::string &peer, const std::string &network);
    void burn();
    ClaimOutcome unacknowledged(const std::string &peer, const std::string &why);
    PairPayload build_payload();
    void record_member(const std::string &host, std::int64_t at, const std::optional<EnvoyCert> &cert);

    StateDir dir_;
    std::string user_, host_, pending_file_;
    PairPending pending_;
    Purpose purpose_;
    mutable std::mutex mu_;
    bool claim_taken_ = false;
    bool burned_ = false;
    std::string joiner_host_;
    std::map<std::string, int> stalls_; // per network
    std::string claims_json_;
};

// The host name this envoy goes by (core/files/members.hpp).
using puddle::local_host_name;

} // namespace puddle::pair
