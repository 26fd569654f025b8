#include "agent/session.hpp"
#include "agent/session_detail.hpp"

#include "agent/api.hpp"
#include "core/membership.hpp"
#include "core/identity_store.hpp"
#include "core/files/session_file.hpp"
#include "core/files/unlock_failed.hpp"
#include "core/wrap.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/proc.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sodium.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

namespace puddle::agent {

using namespace session_detail;

Session::Session(sd_event *loop, StateDir dir, const Config &config, Hooks hooks)
    : loop_(loop), dir_(std::move(dir)),
      default_idle_usec_(std::uint64_t(config.agent.idle_timeout_minutes) * 60 * kUsec), kdf_(config.kdf),
      watch_poll_seconds_(config.agent.watchdog_poll_seconds), hooks_(std::move(hooks)), offload_(loop) {}

Session::~Session() {
    // The session ends with the agent (the kernel drops the process keyring
    // at exit anyway); removing the key first shortens the key's life in
    // kernel memory, and removing session.unlocked keeps status truthful.
    if (!serial_) return;
    keyring_remove(*serial_);
    serial_.reset();
    try {
        remove_session_file(dir_);
    } catch (const Error &e) {
        log_warning(e.what());
    }
    log_info("locked (agent-exit)");
}

std::optional<PublicKey> Session::public_key() const {
    if (serial_) return pub_; // identity.pub changes are caught by check_identity_unchanged()
    try {
        return IdentityStore(dir_).load_public_key();
    } catch (const Error &) {
        return std::nullopt;
    }
}

std::string Session::key_description(const PublicKey &pub) const {
    return "puddle:session:" + to_hex(pub.bytes);
}

void Session::clean_up_earlier_session() {
    // The session never outlives the agent that unlocked it (the key is in
    // that agent's process keyring), so whatever an earlier agent left is
    // stale: its session.unlocked, and -- from agents before this custody --
    // a session key in the user keyring that every process of the user can
    // read. Neither is picked up.
    if (auto pub = public_key()) {
        if (int n = keyring_remove_legacy(key_description(*pub)))
            log_warning("removed " + std::to_string(n) +
                        " session key left in the user keyring by an older agent (readable by every process of the "
                        "user); unlock again");
    }
    if (dir_.has(kSessionFileName)) {
        log_info("the session of an earlier agent ended with it; removing the stale " + dir_.file(kSessionFileName));
        try { remove_session_file(dir_); } catch (const Error &e) { log_warning(e.what()); }
    }
}

void Session::unlock(SecretBuffer passphrase, std::uint64_t idle_usec, pid_t watch_pid, UnlockDone done) {
    if (idle_usec == 0) idle_usec = default_idle_usec_;
    if (idle_usec < kMinIdleUsec || idle_usec > kMaxIdleUsec)
        throw told(Failure::invalid_argument, "idle timeout must be between 1 second and 366 days");
    SessionSettings s;
    s.idle_usec = idle_usec;
    if (watch_pid < 0) throw told(Failure::invalid_argument, "watch PID must not be negative");
    if (watch_pid > 0) {
        s.watch_pid = watch_pid;
        s.watch_start_time = process_start_time(watch_pid);
        if (!s.watch_start_time)
            throw told(Failure::invalid_argument,
                       "process " + std::to_string(watch_pid) + " to watch does not exist");
    }

    if (offload_.pending() >= kMaxPendingUnlocks)
        throw told(Failure::busy, std::to_string(kMaxPendingUnlocks) +
                                      " unlock requests are already being checked; try again when they are done");

    // Move-only state crosses to the worker and back in shared boxes
    // (std::function needs copyable captures).
    struct Work {
        SecretBuffer passphrase;
        std::optional<Keypair> kp;
        std::exception_ptr error;
    };
    auto work = std::make_shared<Work>();
    work->passphrase = std::move(passphrase);
    const std::uint64_t epoch = lock_epoch_;
    log_info("checking the passphrase of an unlock request (in the background; other requests go on)");
    offload_.submit([this, work, s, epoch, done = std::move(done)]() -> Offload::Continuation {
        // Worker thread: files and Argon2id only, no session state.
        try {
            auto st = open_state(dir_);
            auto id = st.store.load();
            work->kp.emplace(unwrap_seed(id.wrapped, work->passphrase.bytes(), id.salt, id.pub));
            // An identity sealed by an upgrade (no key at hand then) gets
            // this machine's envoy certificate now; members learn it when
            // they next pair. Not worth failing an unlock over.
            try {
                (void)certify_this_envoy(st.store, *work->kp, std::int64_t(::time(nullptr)));
            } catch (const Error &e) {
                log_warning("could not certify this machine's keys: " + e.why());
            }
        } catch (const Error &e) {
            work->error = std::make_exception_ptr(identity_failure(e));
        } catch (const std::exception &e) {
            work->error = std::make_exception_ptr(told(Failure::internal, e.what()));
        }
        work->passphrase = SecretBuffer();
        return [this, work, s, epoch, done] {
            // Loop thread.
            std::exception_ptr error = work->error;
            if (!error && epoch != lock_epoch_)
                error = std::make_exception_ptr(
                    told(Failure::locked, "the session was locked while the passphrase was being checked"));
            if (!error) {
                try {
                    finish_unlock(std::move(*work->kp), s);
                } catch (...) {
                    error = std::current_exception();
                }
            }
            work->kp.reset();
            done(error);
        };
    });
}

void Session::finish_unlock(Keypair kp, const SessionSettings &s) {
    if (serial_) keyring_remove(*serial_);
    serial_.reset();
    auto record = encode_session_record(kp.secret_key().bytes(), s);
    key_serial_t serial;
    try {
        serial = keyring_store(key_description(kp.public_key()), record.bytes(), kernel_timeout_seconds(s.idle_usec));
    } catch (const Error &e) {
        record_unlock_failure(e.what());
        throw told(Failure::internal, e.what());
    }
    // The serial is no secret (without possession it opens nothing); it
    // lets an administrator check that nobody else can read the key.
    log_info("unlocked " + kp.public_key().str() + " (idle timeout " + std::to_string(s.idle_usec / kUsec) + " s" +
             (s.watch_pid ? ", watching PID " + std::to_string(s.watch_pid) : std::string()) + "; key " +
             std::to_string(serial) + " in the agent's process keyring)");
    start_session(serial, s, kp.public_key());
}

void Session::record_unlock_failure(const std::string &why) {
    // The user sees the error once, at 'puddle unlock'; status keeps saying
    // it (health degraded) until an unlock succeeds.
    try {
        save_unlock_failure(dir_, UnlockFailure{std::int64_t(::time(nullptr)), why});
    } catch (const Error &e) {
        log_warning(e.what());
    }
}

void Session::start_session(key_serial_t serial, const SessionSettings &s, const PublicKey &pub) {
    serial_ = serial;
    pub_ = pub;
    settings_ = s;
    remember_identity_stamp();
    try { remove_unlock_failure(dir_); } catch (const Error &e) { log_warning(e.what()); }
    deadline_realtime_ = now_usec(CLOCK_REALTIME) + s.idle_usec;
    arm_idle_timer(s.idle_usec);
    watch_process(s);
    if (!unlocked()) return; // the watched process was already gone
    if (!expiry_probe_) {
        sd_event_source *src = nullptr;
        if (sd_event_add_time_relative(loop_, &src, CLOCK_MONOTONIC, kExpiryProbeUsec, kUsec / 10,
                                       on_expiry_probe, this) >= 0)
            expiry_probe_.reset(src);
    } else {
        sd_event_source_set_time_relative(expiry_probe_.get(), kExpiryProbeUsec);
        sd_event_source_set_enabled(expiry_probe_.get(), SD_EVENT_ONESHOT);
    }
    write_session_file();
    if (hooks_.changed) hooks_.changed();
}

void Session::arm_idle_timer(std::uint64_t remaining_usec) {
    if (!idle_timer_) {
        sd_event_source *src = nullptr;
        int r = sd_event_add_time_relative(loop_, &src, CLOCK_MONOTONIC, remaining_usec, 10000, on_idle_timer, this);
        if (r < 0) throw told(Failure::internal, "cannot arm the idle timer: " + errno_text(-r));
        idle_timer_.reset(src);
        return;
    }
    sd_event_source_set_time_relative(idle_timer_.get(), remaining_usec);
    sd_event_source_set_enabled(idle_timer_.get(), SD_EVENT_ONESHOT);
}

void Session::watch_process(const SessionSettings &s) {
    watch_source_.reset();
    pidfd_.reset();
    if (s.watch_pid == 0) return;
    if (process_start_time(s.watch_pid) != s.watch_start_time) {
        lock(LockReason::watched_process_exited);
        return;
    }
    int fd = int(::syscall(SYS_pidfd_open, s.watch_pid, 0));
    sd_event_source *src = nullptr;
    if (fd >= 0) {
        pidfd_.reset(fd);
        if (sd_event_add_io(loop_, &src, fd, EPOLLIN, on_watched_exit, this) >= 0) {
            watch_source_.reset(src);
            return;
        }
    }
    // No pidfds on this kernel: poll, as seldom as configured.
    log_warning("pidfd unavailable (" + errno_text(errno) + "); polling PID " + std::to_string(s.watch_pid) +
                " every " + std::to_string(watch_poll_seconds_) + " s");
    if (sd_event_add_time_relative(loop_, &src, CLOCK_MONOTONIC, std::uint64_t(watch_poll_seconds_) * kUsec,
                                   kUsec / 10, on_watch_poll, this) >= 0) {
        sd_event_source_set_enabled(src, SD_EVENT_ON);
        watch_source_.reset(src);
    }
}

void Session::lock(LockReason reason) {
    // A lock the user asked for, or that follows the login session, also
    // wins over an unlock still deriving its key.
    if (reason == LockReason::explicit_lock || reason == LockReason::session_locked || reason == LockReason::sleep ||
        reason == LockReason::logged_out)
        ++lock_epoch_;
    if (!serial_) return;
    keyring_remove(*serial_);
    serial_.reset();
    kernel_renewed_ = 0;
    settings_ = {};
    deadline_realtime_ = 0;
    idle_timer_.reset();
    watch_source_.reset();
    expiry_probe_.reset();
    file_flush_.reset();
    file_dirty_ = false;
    pidfd_.reset();
    try {
        remove_session_file(dir_);
    } catch (const Error &e) {
        log_warning(e.what());
    }
    log_info(std::string("locked (") + lock_reason_name(reason) + ")");
    if (hooks_.locked) hooks_.locked(reason);
    if (hooks_.changed) hooks_.changed();
}

void Session::remember_identity_stamp() {
    struct stat st {};
    if (::stat(dir_.file(kPubFile).c_str(), &st) == 0) pub_mtime_ = st.st_mtim;
}

void Session::check_identity_unchanged() {
    struct stat st {};
    if (::stat(dir_.file(kPubFile).c_str(), &st) == 0 && st.st_mtim.tv_sec == pub_mtime_.tv_sec &&
        st.st_mtim.tv_nsec == pub_mtime_.tv_nsec)
        return; // one stat per request; the file is read only when it changed
    auto pub = public_key();
    if (pub && *pub == pub_) {
        pub_mtime_ = st.st_mtim;
        return;
    }
    lock(LockReason::rekeyed);
    throw told(Failure::locked, "the identity was rotated; run 'puddle unlock' again");
}

Signature Session::sign(std::span<const std::uint8_t> data) {
    if (!serial_) throw told(Failure::locked, "the session is locked; run 'puddle unlock'");
    // The key is being retired: no signature with it once its successor may
    // be on disk (a fraction of a second).
    if (rekeying_) throw told(Failure::busy, "the identity is being rotated; try again in a moment");
    check_identity_unchanged();
    try {
        Signature sig;
        {
            const WipeOnExit wipe(scratch_);
            sig = sign_with_secret_key(read_session_record().secret_key, data);
        }
        renew();
        return sig;
    } catch (const KeyGone &) {
        lock(LockReason::expired);
        throw told(Failure::locked, "the session key expired; run 'puddle unlock'");
    }
}

SessionRecord Session::read_session_record() {
    keyring_read_into(*serial_, scratch_, kSessionRecordBytes);
    auto record = decode_session_record(std::span<const std::uint8_t>(scratch_.data(), kSessionRecordBytes));
    // Only this agent can write the key (see keyring.hpp): a payload that is
    // not its record is not its session any more.
    if (!record) throw KeyGone();
    return *record;
}

void Session::renew() {
    // The kernel counts whole seconds: renewing it more than once a second
    // buys nothing, and the extra second keeps it from ending a session
    // before our own idle timer does.
    const std::uint64_t mono = now_usec(CLOCK_MONOTONIC);
    if (mono >= kernel_renewed_ + kUsec) {
        keyring_set_timeout(*serial_, kernel_timeout_seconds(settings_.idle_usec) + 1);
        kernel_renewed_ = mono;
    }
    deadline_realtime_ = now_usec(CLOCK_REALTIME) + settings_.idle_usec;
    arm_idle_timer(settings_.idle_usec);
    schedule_session_file();
}

void Session::schedule_session_file() {
    // The deadline moves on every request; rewriting (and fsyncing) the file
    // each time would put disk latency on the signing path. Once a second
    // is enough for readers of session.unlocked.
    file_dirty_ = true;
    if (file_flush_) return;
    sd_event_source *src = nullptr;
    if (sd_event_add_time_relative(loop_, &src, CLOCK_MONOTONIC, kFileFlushUsec, kUsec / 10, on_file_flush, this) >= 0)
        file_flush_.reset(src);
}

void Session::write_session_file() {
    file_dirty_ = false;
    const SessionFile file{std::int64_t(::getpid()), std::int64_t(settings_.watch_pid),
                           std::int64_t(deadline_realtime_ / kUsec), std::int64_t(settings_.idle_usec / kUsec),
                           pub_.str()};
    try {
        save_session_file(dir_, file);
    } catch (const Error &e) {
        log_warning(e.what());
    }
}

int Session::on_idle_timer(sd_event_source *, std::uint64_t, void *userdata) {
    static_cast<Session *>(userdata)->lock(LockReason::idle_timeout);
    return 0;
}

int Session::on_watched_exit(sd_event_source *, int, std::uint32_t, void *userdata) {
    static_cast<Session *>(userdata)->lock(LockReason::watched_process_exited);
    return 0;
}

int Session::on_watch_poll(sd_event_source *s, std::uint64_t, void *userdata) {
    auto *self = static_cast<Session *>(userdata);
    if (process_start_time(self->settings_.watch_pid) != self->settings_.watch_start_time) {
        self->lock(LockReason::watched_process_exited);
        return 0;
    }
    sd_event_source_set_time_relative(s, std::uint64_t(self->watch_poll_seconds_) * kUsec);
    return 0;
}

int Session::on_expiry_probe(sd_event_source *s, std::uint64_t, void *userdata) {
    auto *self = static_cast<Session *>(userdata);
    if (!self->serial_) return 0;
    if (!keyring_alive(*self->serial_)) {
        self->lock(LockReason::expired);
        return 0;
    }
    sd_event_source_set_time_relative(s, kExpiryProbeUsec);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
}

int Session::on_file_flush(sd_event_source *, std::uint64_t, void *userdata) {
    auto *self = static_cast<Session *>(userdata);
    self->file_flush_.reset();
    if (self->serial_ && self->file_dirty_) self->write_session_file();
    return 0;
}

} // namespace puddle::agent
