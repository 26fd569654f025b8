#include "pair/holder.hpp"

#include "core/identity_store.hpp"
#include "core/files/pair_result.hpp"
#include "core/membership.hpp"
#include "pair/payload.hpp"
#include "util/log.hpp"

#include <ctime>
#include <sodium.h>
#include <unistd.h>

namespace puddle::pair {
namespace {

std::int64_t now_seconds() { return std::int64_t(std::time(nullptr)); }

} // namespace

Holder::Holder(StateDir dir, std::string user, std::string host, std::string pending_file, PairPending pending,
               std::string claims_json)
    : dir_(std::move(dir)), user_(std::move(user)), host_(std::move(host)), pending_file_(std::move(pending_file)),
      pending_(std::move(pending)), purpose_(pending_.purpose == kPurposeRekey ? Purpose::rekey : Purpose::pair),
      claims_json_(std::move(claims_json)) {}

std::string Holder::joiner_host() const {
    std::lock_guard lock(mu_);
    return joiner_host_;
}

bool Holder::take_claim() {
    std::lock_guard lock(mu_);
    if (claim_taken_ || burned_) return false;
    claim_taken_ = true;
    return true;
}

bool Holder::is_burned() const {
    std::lock_guard lock(mu_);
    return burned_;
}

bool Holder::stalled_too_often(const std::string &network) const {
    std::lock_guard lock(mu_);
    const auto it = stalls_.find(network);
    return it != stalls_.end() && it->second >= kMaxStallsPerNetwork;
}

void Holder::note_held(const std::string &peer, const std::string &network) {
    {
        std::lock_guard lock(mu_);
        ++stalls_[network];
    }
    // For `pair --wait`, which says so while it waits (a held code is
    // someone else trying, or a joiner that stalled).
    const PairResult held{pending_.purpose, pending_.created, "held", "", peer, now_seconds()};
    try {
        StateLock guard(dir_);
        save_pair_result(dir_, held);
    } catch (const Error &e) {
        log_warning(e.what());
    }
}

void Holder::release_claim() {
    std::lock_guard lock(mu_);
    claim_taken_ = false;
}

void Holder::burn() {
    {
        std::lock_guard lock(mu_);
        burned_ = true;
    }
    StateLock guard(dir_);
    dir_.remove(pending_file_);
}

ClaimOutcome Holder::serve(TlsConnection &tls, const std::string &peer, const std::string &network) {
    Channel ch(tls);
    Hello hello;
    try {
        hello = ch.receive_as<Hello>(MsgType::hello);
    } catch (const BadMessage &e) {
        ch.send_error(ErrorCode::bad_message, e.why());
        return ClaimOutcome::untouched;
    }
    if (hello.version != kPairProtocolVersion) {
        ch.send_error(ErrorCode::bad_message, "unsupported protocol version " + std::to_string(hello.version));
        return ClaimOutcome::untouched;
    }
    // One answer, byte for byte, whether the user does not exist, exists
    // without a code, asks for the other purpose, or had a code that expired
    // or was used: a scanner learns nothing about who pairs when.
    if (hello.user != user_ || hello.purpose != purpose_ || now_seconds() >= pending_.expires || is_burned()) {
        ch.send_error(ErrorCode::no_pending, kNoPendingText);
        return ClaimOutcome::untouched;
    }
    if (stalled_too_often(network)) {
        ch.send_error(ErrorCode::busy, "claims from your network stalled too often on this code; claim it from "
                                       "another network, or get a new code");
        return ClaimOutcome::untouched;
    }
    if (!take_claim()) {
        ch.send_error(ErrorCode::busy, "another claim is in progress; try again shortly");
        return ClaimOutcome::untouched;
    }
    SessionNonce nh;
    randombytes_buf(nh.data(), nh.size());
    CpaceA a;
    const auto held_since = Channel::Clock::now();
    try {
        ch.send(HelloAck{nh});
        // The joiner sends CPACE_A as soon as HELLO_ACK arrives (it asked the
        // passphrase before connecting): a client that goes quiet here only
        // holds the claim, and everyone else is answered "busy" meanwhile.
        a = ch.receive_as<CpaceA>(MsgType::cpace_a, kClaimHoldTimeout);
    } catch (const BadMessage &e) {
        release_claim();
        ch.send_error(ErrorCode::bad_message, e.why());
        return ClaimOutcome::untouched;
    } catch (const Error &e) {
        release_claim();
        // Closed or refused at once: nothing held. (The read gives up at its
        // deadline give or take the millisecond it rounds to, hence the slack.)
        if (Channel::Clock::now() + std::chrono::milliseconds(50) < held_since + kClaimHoldTimeout) throw;
        note_held(peer, network);
        log_warning("pairing claim from " + peer + " held the code " + std::to_string(kClaimHoldTimeout.count()) +
                    " s after HELLO without CPACE_A; dropped, the code is still good");
        return ClaimOutcome::untouched;
    } catch (...) {
        release_claim();
        throw;
    }

    // From here on the code is spent, whatever happens (one guess per code).
    burn();
    log_info("claim from " + peer + " received; the code is now used up");
    bool payload_sent = false;
    try {
        auto ja = parse_ada(a.ada);
        if (!ja || ja->version != kPairProtocolVersion || ja->purpose != purpose_)
            throw BadMessage("malformed ADa");
        auto id = IdentityStore(dir_).load();
        auto prs = prs_from_code(pending_.code);
        Bytes cb = tls.channel_binding();
        Bytes sid = make_sid(hello.nj, nh);
        Bytes adb = make_adb(kPairProtocolVersion, purpose_, host_, id.pub.str());
        CpaceParty party(CpaceRole::responder, prs->bytes(), make_ci(cb, user_), sid, adb);
        auto keys = party.finish(a.ya, a.ada);
        if (!keys) {
            log_warning("pairing claim from " + peer + " failed: invalid CPace share; the code is burned");
            ch.send_error(ErrorCode::auth_failed, "key confirmation failed");
            return ClaimOutcome::burned;
        }
        ch.send(CpaceB{party.share(), adb, keys->tb});
        auto confirm = ch.receive_as<Confirm>(MsgType::confirm);
        if (!keys->peer_tag_matches(confirm.ta)) {
            log_warning("pairing claim from " + peer +
                        " failed key confirmation (wrong code, or someone in between); the code is burned");
            ch.send_error(ErrorCode::auth_failed, "key confirmation failed");
            return ClaimOutcome::burned;
        }
        auto payload = build_payload();
        ch.send(seal_payload(keys->payload_key, payload, ch.transcript_hash()));
        payload_sent = true;
        auto ad = ch.transcript_hash();
        auto ack_msg = ch.receive_as<AckMsg>(MsgType::ack);
        std::string error;
        auto ack = open_ack(keys->payload_key, ack_msg, ad, error);
        if (!ack || !valid_host(ack->host))
            return unacknowledged(peer, "unreadable acknowledgement (" + (error.empty() ? "invalid host name" : error) + ")");
        record_member(ack->host, ack->at, ack->envoy);
        {
            std::lock_guard lock(mu_);
            joiner_host_ = ack->host;
        }
        log_info("machine " + ack->host + " (" + peer + ") joined");
        return ClaimOutcome::claimed;
    } catch (const BadMessage &e) {
        ch.send_error(ErrorCode::bad_message, e.why());
        if (payload_sent) return unacknowledged(peer, e.why());
        log_warning("pairing claim from " + peer + " failed: " + e.why());
        return ClaimOutcome::burned;
    } catch (const PeerRefused &e) {
        // The joiner refuses after the payload only before writing anything
        // (a wrong passphrase, another puddle): a plain failure.
        if (e.msg.known() == ErrorCode::auth_failed)
            log_warning("pairing claim from " + peer +
                        " failed key confirmation (the joiner found the code wrong, or someone in between); "
                        "the code is burned");
        else
            log_warning("pairing claim from " + peer + " stopped by the joiner: " + e.why());
        return ClaimOutcome::burned;
    } catch (const Error &e) {
        if (payload_sent) return unacknowledged(peer, e.what()); // e.g. the joiner vanished
        ch.send_error(ErrorCode::internal, "the holder could not complete the claim");
        log_warning("pairing claim from " + peer + " failed: " + e.what());
        return ClaimOutcome::burned;
    }
}

ClaimOutcome Holder::unacknowledged(const std::string &peer, const std::string &why) {
    log_warning("pairing claim from " + peer + ": the payload was sent but not acknowledged (" + why +
                "); the joiner may have joined without being recorded in members.json here");
    return ClaimOutcome::unacknowledged;
}

PairPayload Holder::build_payload() {
    StateLock guard(dir_);
    IdentityStore store(dir_);
    auto id = store.load();
    PairPayload p;
    p.wrapped = id.wrapped.raw;
    p.salt = id.salt;
    p.pub = id.pub.str() + "\n";
    p.members_json = members_for_joiner(dir_, id, host_, now_seconds());
    p.retired_json = load_rotation_log_text(dir_);
    p.claims_json = claims_json_;
    return p;
}

void Holder::record_member(const std::string &host, std::int64_t at, const std::optional<EnvoyCert> &cert) {
    StateLock guard(dir_);
    record_admitted(dir_, IdentityStore(dir_).load(), host, at, cert);
}

} // namespace puddle::pair
