// The statements the agent makes in the identity's own name, never through
// Sign: a rotation (rekey, run on the worker thread) and a name claim.
#include "agent/session.hpp"
#include "agent/session_detail.hpp"

#include "core/membership.hpp"
#include "core/files/name_claim.hpp"
#include "core/identity_store.hpp"
#include "core/rotation.hpp"
#include "core/wrap.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

#include <ctime>
#include <memory>

namespace puddle::agent {

using namespace session_detail;

void Session::rekey(SecretBuffer passphrase, SecretBuffer new_passphrase, RekeyDone done) {
    if (!serial_) throw told(Failure::locked, "rekey needs an unlocked session; run 'puddle unlock'");
    check_identity_unchanged();
    if (rekeying_) throw told(Failure::busy, "a rotation is already in progress");
    if (offload_.pending() >= kMaxPendingUnlocks)
        throw told(Failure::busy, std::to_string(kMaxPendingUnlocks) +
                                      " passphrase checks are already running; try again when they are done");
    struct Work {
        SecretBuffer passphrase, new_passphrase;
        std::optional<Keypair> fresh;
        std::vector<std::string> sealed_to, unreachable;
        std::exception_ptr error;
    };
    auto work = std::make_shared<Work>();
    work->passphrase = std::move(passphrase);
    work->new_passphrase = std::move(new_passphrase);
    const PublicKey expected = pub_;
    const KdfParams kdf = kdf_;
    rekeying_ = true;
    log_info("rotating the identity (in the background; other requests go on)");
    offload_.submit([this, work, expected, kdf, done = std::move(done)]() -> Offload::Continuation {
        // Worker thread: the state lock, two Argon2id derivations and the
        // commit; no session state.
        try {
            auto st = open_state(dir_);
            auto id = st.store.load();
            auto old = unwrap_seed(id.wrapped, work->passphrase.bytes(), id.salt, id.pub);
            if (!(old.public_key() == expected))
                throw told(Failure::invalid_argument, "the session holds another key than identity.pub");
            const std::int64_t now = std::int64_t(::time(nullptr));
            // The new generation for every member whose envoy key is known
            // here, as `evict` makes it with nobody left out; and members
            // learn this machine's envoy key under the new key.
            auto sealed = rotate_and_seal(st.store, old, work->new_passphrase.bytes(), kdf, now, {});
            if (!sealed.seal_error.empty())
                log_warning("the rotation is done, but its envelope or machine certificate is not: " + sealed.seal_error);
            if (sealed.envelope)
                for (const auto &r : sealed.envelope->recipients) work->sealed_to.push_back(r.host);
            work->unreachable = std::move(sealed.unreachable);
            work->fresh.emplace(std::move(sealed.fresh));
        } catch (const Error &e) {
            work->error = std::make_exception_ptr(identity_failure(e)); // a told() error as it is
        } catch (const std::exception &e) {
            work->error = std::make_exception_ptr(told(Failure::internal, e.what()));
        }
        work->passphrase = SecretBuffer();
        work->new_passphrase = SecretBuffer();
        if (work->error) work->fresh.reset();
        return [this, work, expected, done] {
            // Loop thread.
            rekeying_ = false;
            if (work->error) {
                done(work->error, Rekeyed{});
                return;
            }
            const PublicKey fresh_pub = work->fresh->public_key();
            std::exception_ptr error;
            try {
                move_session_to(*work->fresh, expected);
            } catch (...) {
                error = std::current_exception();
            }
            work->fresh.reset();
            log_info("rotated the identity to " + fresh_pub.str());
            done(error, Rekeyed{fresh_pub, std::move(work->sealed_to), std::move(work->unreachable)});
        };
    });
}

void Session::move_session_to(const Keypair &fresh, const PublicKey &old) {
    // The session may have ended while the worker rotated: then there is
    // nothing to move (the rotation on disk stands).
    if (!serial_ || !(pub_ == old)) return;
    auto record = encode_session_record(fresh.secret_key().bytes(), settings_);
    const std::uint64_t now = now_usec(CLOCK_REALTIME);
    const std::uint64_t remaining = deadline_realtime_ > now ? deadline_realtime_ - now : kUsec;
    key_serial_t serial;
    try {
        serial = keyring_store(key_description(fresh.public_key()), record.bytes(), kernel_timeout_seconds(remaining));
    } catch (const Error &e) {
        lock(LockReason::rekeyed);
        throw told(Failure::internal, std::string("rotated, but the session could not follow: ") + e.what());
    }
    keyring_remove(*serial_);
    serial_ = serial;
    pub_ = fresh.public_key();
    remember_identity_stamp();
    write_session_file();
    if (hooks_.changed) hooks_.changed();
}

std::string Session::claim_name(const std::string &name) {
    if (!serial_) throw told(Failure::locked, "setting a name needs an unlocked session; run 'puddle unlock'");
    check_identity_unchanged();
    std::string why;
    if (!valid_name(name, &why)) throw told(Failure::invalid_argument, "invalid name: " + why);
    std::optional<Keypair> kp;
    try {
        const WipeOnExit wipe(scratch_);
        kp.emplace(Keypair::from_seed(read_session_record().seed()));
    } catch (const KeyGone &) {
        lock(LockReason::expired);
        throw told(Failure::locked, "the session key expired; run 'puddle unlock'");
    }
    auto claim = make_name_claim(*kp, name, std::int64_t(::time(nullptr)));
    std::string text = serialize_name_claim(claim);
    try {
        // Never wait for the lock on the loop: a puddle command may hold it
        // across a passphrase prompt.
        auto guard = StateLock::try_take(dir_);
        if (!guard)
            throw told(Failure::busy, "another puddle command is changing " + dir_.path() + "; try again");
        save_name_claim(dir_, claim);
    } catch (const Error &e) {
        if (e.is_told()) throw; // busy, as it is
        throw told(Failure::internal, e.what());
    }
    log_info("claimed the name \"" + name + "\" for " + pub_.str());
    renew();
    return text;
}

} // namespace puddle::agent
