// The session state machine: locked ⇄ unlocked, the key in the kernel
// keyring, and every trigger that ends a session (explicit, idle timeout,
// watched process exit, kernel expiry, rekey).
#pragma once

#include "agent/keyring.hpp"
#include "agent/offload.hpp"
#include "agent/session_record.hpp"
#include "core/config.hpp"
#include "core/identity.hpp"
#include "core/statedir.hpp"
#include "util/fd.hpp"
#include "util/sd.hpp"

#include <exception>
#include <functional>
#include <optional>
#include <string>

namespace puddle::agent {

enum class LockReason {
    explicit_lock,
    idle_timeout,
    watched_process_exited,
    expired,
    rekeyed,
    session_locked, // logind: the login session was locked
    sleep,          // logind: the machine is about to sleep
    logged_out,     // logind: the user's last session ended
};
// As the Locked signal and the log spell it (SPEC §6, puddle-agent(1)).
constexpr const char *lock_reason_name(LockReason r) {
    switch (r) {
    case LockReason::explicit_lock: return "explicit";
    case LockReason::idle_timeout: return "idle-timeout";
    case LockReason::watched_process_exited: return "watched-process-exited";
    case LockReason::expired: return "expired";
    case LockReason::rekeyed: return "rekeyed";
    case LockReason::session_locked: return "session-locked";
    case LockReason::sleep: return "sleep";
    case LockReason::logged_out: return "logged-out";
    }
    return "explicit";
}

class Session {
public:
    struct Hooks {
        std::function<void(LockReason)> locked;  // after the session ended
        std::function<void()> changed;           // any property changed
    };

    Session(sd_event *loop, StateDir dir, const Config &config, Hooks hooks);
    ~Session();
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    // At start: removes what an earlier agent instance left (its stale
    // session.unlocked, a readable session key in @u from older versions).
    void clean_up_earlier_session();

    // Checks the arguments now (throws a told() Error, invalid_argument), then
    // unwraps with the passphrase on the worker thread and stores the key in
    // the keyring back on the loop. `done` runs on the loop with nullptr or
    // the told() Error (not_initialized, bad_passphrase, locked when an
    // explicit lock came in meanwhile, internal).
    using UnlockDone = std::function<void(std::exception_ptr)>;
    void unlock(SecretBuffer passphrase, std::uint64_t idle_usec, pid_t watch_pid, UnlockDone done);
    // An unlock is being derived: the agent must not exit on idle.
    bool busy() const noexcept { return offload_.pending() > 0; }
    void lock(LockReason reason);
    // Throws Error(Failure::locked) when locked (also when the kernel expired the key).
    Signature sign(std::span<const std::uint8_t> data);
    // Rotates the identity (SPEC §8): checks the passphrase against the
    // wrap, makes a new keypair, records old -> new signed by both (an
    // internal statement, never through Sign), re-wraps under new_passphrase
    // and moves the session to the new key. A locked session or a full
    // worker throws a told() Error at once; the derivations and the commit run
    // on the worker thread, and `done` runs on the loop with nullptr and the
    // new key, or the told() Error. Signing is refused (busy) meanwhile.
    // What a rotation sealed: the hosts its envelope is for, and the members
    // it could not be sealed to (no certified envoy key known here).
    struct Rekeyed {
        PublicKey pub;
        std::vector<std::string> sealed_to, unreachable;
    };
    using RekeyDone = std::function<void(std::exception_ptr, const Rekeyed &)>;
    void rekey(SecretBuffer passphrase, SecretBuffer new_passphrase, RekeyDone done);
    // Signs a friendly-name claim for the session's key (an internal
    // statement, SPEC §9) and writes name-claim.json. Returns its JSON text.
    std::string claim_name(const std::string &name);

    bool unlocked() const noexcept { return serial_.has_value(); }
    std::optional<PublicKey> public_key() const; // from identity.pub, nullopt when not initialized
    std::uint64_t idle_usec() const noexcept { return settings_.idle_usec ? settings_.idle_usec : default_idle_usec_; }
    std::uint64_t deadline_realtime_usec() const noexcept { return unlocked() ? deadline_realtime_ : 0; }
    pid_t watch_pid() const noexcept { return unlocked() ? settings_.watch_pid : 0; }
    const StateDir &state_dir() const noexcept { return dir_; }

private:
    std::string key_description(const PublicKey &pub) const;
    void start_session(key_serial_t serial, const SessionSettings &s, const PublicKey &pub);
    void renew();
    void record_unlock_failure(const std::string &why);
    void arm_idle_timer(std::uint64_t remaining_usec);
    void watch_process(const SessionSettings &s);
    void write_session_file();
    void schedule_session_file();
    // Ends the session with reason `rekeyed` when identity.pub no longer
    // names the session's key (a rotation received by 'puddle rekey --from').
    void check_identity_unchanged();
    void remember_identity_stamp();
    void finish_unlock(Keypair kp, const SessionSettings &s);
    // The record in the keyring, read into scratch_ (which the caller wipes);
    // throws KeyGone when the key is gone or holds no session record.
    SessionRecord read_session_record();
    void move_session_to(const Keypair &fresh, const PublicKey &old);

    static int on_idle_timer(sd_event_source *, std::uint64_t, void *userdata);
    static int on_watched_exit(sd_event_source *, int, std::uint32_t, void *userdata);
    static int on_watch_poll(sd_event_source *, std::uint64_t, void *userdata);
    static int on_expiry_probe(sd_event_source *, std::uint64_t, void *userdata);
    static int on_file_flush(sd_event_source *, std::uint64_t, void *userdata);

    sd_event *loop_;
    StateDir dir_;
    std::uint64_t default_idle_usec_;
    KdfParams kdf_;
    struct timespec pub_mtime_ {};
    std::uint64_t kernel_renewed_ = 0; // CLOCK_MONOTONIC µs of the last keyctl_set_timeout
    std::uint32_t watch_poll_seconds_;
    Hooks hooks_;

    std::optional<key_serial_t> serial_;
    PublicKey pub_;
    SessionSettings settings_;
    std::uint64_t deadline_realtime_ = 0;
    UniqueFd pidfd_;
    SdEventSource idle_timer_, watch_source_, expiry_probe_, file_flush_;
    bool file_dirty_ = false;
    bool rekeying_ = false;
    // Bumped by every explicit lock: an unlock that was being derived when
    // the user asked to lock must not unlock afterwards.
    std::uint64_t lock_epoch_ = 0;
    // Locked scratch space for the key during one signature; wiped after each
    // use. Allocated once: sodium_malloc costs several system calls.
    SecretBuffer scratch_{kSessionRecordBytes + 1};
    // Last member: destroyed first, so no continuation runs into a
    // half-destroyed session.
    Offload offload_;
};

} // namespace puddle::agent
