#include "agent/bus_door.hpp"

#include "agent/requester.hpp"

#include "core/passphrase.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/proc.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace puddle::agent {
namespace {

// The passphrase arrives as a file descriptor (a pipe or a memfd), never
// in a message. The caller must have written it completely: the agent
// does not wait for a slow writer, so a client cannot stall the loop.
SecretBuffer read_passphrase_from_passed_fd(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw told(Failure::invalid_argument, "the passphrase descriptor is unusable");
    // Our own open file description (reopened through /proc, not dup'ed),
    // so that O_NONBLOCK and the read offset do not touch the caller's.
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    UniqueFd own;
    if (S_ISREG(st.st_mode)) {
        // A memfd or file: read from the start, whatever its offset is.
        own.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!own) throw told(Failure::invalid_argument, "cannot reopen the passphrase memfd");
    } else if (S_ISFIFO(st.st_mode)) {
        own.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
        if (!own) throw told(Failure::invalid_argument, "cannot reopen the passphrase pipe");
    } else {
        throw told(Failure::invalid_argument, "the passphrase must come through a pipe or a memfd");
    }
    try {
        return read_passphrase_fd(own.get(), "the passed descriptor");
    } catch (const Error &e) {
        throw told(Failure::invalid_argument,
                   e.why() == errno_text(EAGAIN)
                       ? "the passphrase pipe holds no complete line; write it and a newline before calling"
                       : e.what());
    }
}

} // namespace

const sd_bus_vtable BusDoor::vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_NAMES(member::kSign, "ay", SD_BUS_PARAM(data), "ay", SD_BUS_PARAM(signature), method_sign,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES(member::kUnlock, "htu", SD_BUS_PARAM(passphrase_fd) SD_BUS_PARAM(idle_timeout_usec)
                             SD_BUS_PARAM(watch_pid), "", , method_unlock, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD(member::kLock, "", "", method_lock, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES(member::kRekey, "hh", SD_BUS_PARAM(passphrase_fd) SD_BUS_PARAM(new_passphrase_fd), "sasas",
                             SD_BUS_PARAM(public_key) SD_BUS_PARAM(sealed_to) SD_BUS_PARAM(unreachable), method_rekey,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES(member::kSetName, "s", SD_BUS_PARAM(name), "s", SD_BUS_PARAM(claim), method_set_name,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY(property::kUnlocked, "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY(property::kPublicKey, "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY(property::kIdleTimeoutUSec, "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    // Moves with every signature; signalling each move would cost more than
    // the signature. Clients read it when they need it.
    SD_BUS_PROPERTY(property::kLockDeadlineUSec, "t", property_get, 0, 0),
    SD_BUS_PROPERTY(property::kWatchPID, "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    // Assessed from the files when read (SPEC §11); not signalled.
    SD_BUS_PROPERTY(property::kHealth, "s", property_get, 0, 0),
    SD_BUS_PROPERTY(property::kHealthReasons, "as", property_get, 0, 0),
    // Move with every signature, like LockDeadlineUSec: not signalled.
    SD_BUS_PROPERTY(property::kUseCounts, "(tt)", property_get, 0, 0),
    SD_BUS_PROPERTY(property::kLastUse, "(tssss)", property_get, 0, 0),
    SD_BUS_PROPERTY(property::kRecordNotWritten, "t", property_get, 0, 0),
    SD_BUS_SIGNAL_WITH_NAMES(member::kLocked, "s", SD_BUS_PARAM(reason), 0),
    SD_BUS_VTABLE_END,
};

BusDoor::BusDoor(sd_event *loop, Service &service, Authorizer &authorizer, std::function<void()> activity)
    : service_(service), authorizer_(authorizer), activity_(std::move(activity)) {
    sd_bus *bus = nullptr;
    int r = sd_bus_open_user(&bus);
    if (r < 0) throw_errno("cannot connect to the user bus", -r);
    bus_.reset(bus);
    sd_bus_slot *slot = nullptr;
    r = sd_bus_add_object_vtable(bus, &slot, kObjectPath, kInterface, vtable, this);
    if (r < 0) throw_errno("cannot export " + std::string(kObjectPath), -r);
    slot_.reset(slot);
    r = sd_bus_attach_event(bus, loop, SD_EVENT_PRIORITY_NORMAL);
    if (r < 0) throw_errno("cannot attach the bus to the event loop", -r);
    // Asynchronously: waiting here for the bus handshake and the name would
    // delay the first answer on the sockets, which need neither.
    r = sd_bus_request_name_async(bus, &slot, kBusName, 0, on_name_reply, this);
    if (r < 0) throw_errno("cannot claim " + std::string(kBusName) + " on the user bus", -r);
    name_slot_.reset(slot);
}

int BusDoor::on_name_reply(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusDoor *>(userdata);
    self->name_slot_.reset();
    std::string why;
    std::uint32_t result = 0;
    if (const sd_bus_error *e = sd_bus_message_get_error(m))
        why = e->message ? e->message : e->name;
    else if (sd_bus_message_read(m, "u", &result) < 0)
        why = "unreadable reply";
    else if (result == 2 || result == 3) // DBUS_REQUEST_NAME_REPLY_IN_QUEUE, _EXISTS
        why = "another process owns it";
    if (!why.empty())
        log_error("cannot claim " + std::string(kBusName) + " on the user bus (" + why +
                  "); D-Bus callers will not reach this agent, the sockets still serve");
    return 0;
}

BusDoor::~BusDoor() = default;

void BusDoor::release_name() {
    sd_bus_release_name(bus_.get(), kBusName);
    sd_bus_flush(bus_.get());
}

namespace {

struct BusCreds {
    pid_t pid = 0;
    uid_t uid = uid_t(-1);
    bool read = false;
};

BusCreds sender_creds(sd_bus_message *m) {
    BusCreds c;
    sd_bus_creds *creds = nullptr;
    if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds) >= 0) {
        c.read = sd_bus_creds_get_euid(creds, &c.uid) >= 0 && sd_bus_creds_get_pid(creds, &c.pid) >= 0;
        sd_bus_creds_unref(creds);
    }
    return c;
}

// The pidfd the bus took of the caller when it connected (ProcessFD of
// GetConnectionCredentials: dbus-daemon 1.15.2 and later, dbus-broker), or
// -1 where the bus has none.
int bus_process_fd(sd_bus_message *m) {
    const char *sender = sd_bus_message_get_sender(m);
    if (!sender) return -1;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = nullptr;
    int r = sd_bus_call_method(sd_bus_message_get_bus(m), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetConnectionCredentials", &error, &reply, "s", sender);
    sd_bus_error_free(&error);
    if (r < 0) return -1;
    SdBusMessage owned(reply);
    int fd = -1;
    if (sd_bus_message_enter_container(reply, 'a', "{sv}") < 0) return -1;
    while (fd < 0 && sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
        const char *key = nullptr;
        if (sd_bus_message_read(reply, "s", &key) < 0) return -1;
        if (std::string_view(key) == "ProcessFD") {
            int passed = -1;
            if (sd_bus_message_read(reply, "v", "h", &passed) < 0) return -1;
            fd = ::fcntl(passed, F_DUPFD_CLOEXEC, 3); // the message owns `passed`
        } else if (sd_bus_message_skip(reply, "v") < 0) {
            return -1;
        }
        if (sd_bus_message_exit_container(reply) < 0) break;
    }
    return fd;
}

} // namespace

BusDoor::Caller BusDoor::query_caller(sd_bus_message *m) {
    Caller caller;
    // The bus's own pidfd of the caller where it has one (ProcessFD). Else
    // (dbus-daemon 1.14) the process is pinned from first sight on: the
    // pidfd is opened before make_peer reads the start time, so both name
    // one process; then the bus is asked again: if the caller left and its
    // pid went to another process between the first reading and the pidfd,
    // the name is gone or its pid no longer the same, and the call is
    // refused (a check that cannot get an answer denies).
    const BusCreds first = sender_creds(m);
    int pidfd = bus_process_fd(m);
    if (pidfd >= 0 && !pidfd_matches(pidfd, first.pid)) {
        ::close(pidfd);
        caller.peer = make_peer(0, first.uid);
        caller.refusal = "the bus's pidfd of the caller names another process than its credentials";
        return caller;
    }
    bool no_pidfds = false;
    if (pidfd < 0 && first.read && first.pid > 0) {
        pidfd = int(::syscall(SYS_pidfd_open, first.pid, 0));
        no_pidfds = pidfd < 0 && errno == ENOSYS;
    }
    caller.peer = make_peer(first.read ? first.pid : 0, first.uid, pidfd);
    const BusCreds again = sender_creds(m);
    // Where pidfds do not exist at all (ENOSYS: a kernel before 5.3, or a
    // program run under valgrind), the pid is pinned by its start time read
    // between the two credential readings, and read once more after them.
    const bool pinned = pidfd >= 0 || (no_pidfds && caller.peer.start_time != 0 &&
                                       process_start_time(first.pid) == caller.peer.start_time);
    if (!first.read || !pinned || !again.read || again.pid != first.pid || again.uid != first.uid) {
        caller.refusal = "the caller's process cannot be pinned (it left, or its credentials changed)";
        return caller;
    }
    describe_peer(caller.peer);
    return caller;
}

const BusDoor::Caller &BusDoor::caller_of(sd_bus_message *m) {
    const char *sender = sd_bus_message_get_sender(m);
    std::string key = sender ? sender : "";
    auto it = callers_.find(key);
    if (it != callers_.end() && !key.empty()) return it->second;
    if (callers_.size() >= 256) callers_.clear(); // costs each caller one credentials query and one polkit call
    return callers_.insert_or_assign(key, query_caller(m)).first->second;
}

void BusDoor::reply_error(sd_bus_message *m, const std::exception &e) {
    if (auto *told_error = dynamic_cast<const Error *>(&e); told_error && told_error->is_told()) {
        sd_bus_reply_method_errorf(m, spelling(told_error->kind()).bus_error, "%s", told_error->what());
        return;
    }
    log_error(std::string("request failed: ") + e.what());
    sd_bus_reply_method_errorf(m, SD_BUS_ERROR_FAILED, "internal error; see the agent's log");
}

bool BusDoor::authorized(sd_bus_message *m, Action action, std::shared_ptr<const Facts> *facts_out) {
    std::optional<Verdict> verdict;
    std::shared_ptr<const Facts> facts;
    bool approved = false;
    MessageRef ref(sd_bus_message_ref(m), sd_bus_message_unref);
    if (auto it = decided_.find(m); it != decided_.end()) {
        // The second dispatch: polkit (or the user) has answered for this
        // very message. Read it from the start again, whatever the first
        // dispatch did.
        sd_bus_message_rewind(m, true);
        const bool same_action = it->second.action == action;
        verdict = std::move(it->second.verdict);
        facts = std::move(it->second.facts);
        approved = it->second.approved;
        decided_.erase(it);
        if (!same_action) verdict = Verdict{false, "authorization was asked for another action"};
    } else {
        if (activity_) activity_();
        const Caller &caller = caller_of(m);
        if (action == Action::sign) facts = facts_of(m, caller);
        // The caller pinned at its first call must still be the program it
        // was then: a process that exec'd another program since is refused.
        std::string why = caller.refusal.empty() ? requester_changed(caller.peer, std::nullopt) : caller.refusal;
        if (!why.empty()) {
            log_warning(std::string("refused a call from ") + (sd_bus_message_get_sender(m) ? sd_bus_message_get_sender(m) : "?") +
                        ": " + why);
            verdict = Verdict{false, "refused: " + why};
            approved = true; // nobody is asked
        } else {
            verdict = authorizer_.check(caller.peer, action, caller.cache, [this, ref, action, facts](Verdict v) {
                redispatch(ref, action, std::move(v), facts, false);
            });
            if (!verdict) return false; // the call waits; it comes back through redispatch
        }
    }
    if (verdict->allowed && !approved && facts && facts->use && !facts->refusal && service_.approval_asks()) {
        // polkit allowed; unlock_on_request and the user's own answer come
        // next (Service::approve, the same step as the sockets'), and the
        // call is dispatched again with the answer.
        auto now = service_.approve(*facts->use, [this, ref, action, facts](Verdict v) {
            redispatch(ref, action, std::move(v), facts, true);
        });
        if (!now) return false;
        verdict = std::move(*now);
    }
    std::optional<Error> refusal = facts ? facts->refusal : std::nullopt;
    if (!verdict->allowed) refusal = denial(*verdict);
    if (refusal) {
        if (facts && facts->use) service_.record_refusal(*facts->use, *refusal);
        reply_error(m, *refusal);
        return false;
    }
    if (facts_out) *facts_out = std::move(facts);
    return true;
}

std::shared_ptr<const Facts> BusDoor::facts_of(sd_bus_message *m, const Caller &caller) {
    auto facts = std::make_shared<Facts>();
    const void *data = nullptr;
    size_t size = 0;
    if (sd_bus_message_read_array(m, 'y', &data, &size) < 0) size = 0;
    const auto bytes = std::span(static_cast<const std::uint8_t *>(data), size);
    // Read as the ssh door reads it (usage.hpp classify_for_door).
    SignFacts what = classify_for_door(Door::bus, bytes);
    facts->use = make_use(Door::bus, requester_of(caller.peer), bytes, std::move(what.purpose));
    if (!what.refusal.empty()) facts->refusal = told(Failure::denied, what.refusal);
    sd_bus_message_rewind(m, true);
    return facts;
}

void BusDoor::redispatch(const MessageRef &ref, Action action, Verdict verdict, std::shared_ptr<const Facts> facts,
                         bool approved) {
    // The reference keeps the message, and so its address, ours: no other
    // message can find this verdict.
    decided_.insert_or_assign(ref.get(), Decided{ref, action, std::move(verdict), std::move(facts), approved});
    int r = sd_bus_enqueue_for_read(bus_.get(), ref.get());
    if (r < 0) {
        decided_.erase(ref.get());
        log_error("cannot dispatch an authorized call again: " + errno_text(-r));
        reply_error(ref.get(), told(Failure::internal, "internal error; see the agent's log"));
    }
}

void BusDoor::reply_failed(sd_bus_message *m, std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception &e) {
        reply_error(m, e);
    }
}

// Each method below asks first and acts only when allowed: while polkit
// decides it returns at once and sd-bus runs it again with the answer.

int BusDoor::method_sign(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusDoor *>(userdata);
    std::shared_ptr<const Facts> facts;
    if (!self->authorized(m, Action::sign, &facts)) return 1;
    try {
        const void *data = nullptr;
        size_t size = 0;
        int r = sd_bus_message_read_array(m, 'y', &data, &size);
        if (r < 0) return r;
        const auto bytes = std::span(static_cast<const std::uint8_t *>(data), size);
        auto sig = self->service_.sign(bytes, *facts->use);
        sd_bus_message *reply = nullptr;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0) throw_errno("cannot build the reply", -r);
        SdBusMessage owned(reply);
        r = sd_bus_message_append_array(reply, 'y', sig.data(), sig.size());
        if (r < 0) throw_errno("cannot build the reply", -r);
        sd_bus_send(nullptr, reply, nullptr);
    } catch (const std::exception &e) {
        reply_error(m, e);
    }
    return 1;
}

int BusDoor::method_unlock(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusDoor *>(userdata);
    if (!self->authorized(m, Action::unlock)) return 1;
    try {
        int fd = -1;
        std::uint64_t idle = 0;
        std::uint32_t watch = 0;
        int r = sd_bus_message_read(m, "htu", &fd, &idle, &watch);
        if (r < 0) return r;
        auto pass = read_passphrase_from_passed_fd(fd);
        if (watch > std::uint32_t(INT32_MAX)) throw told(Failure::invalid_argument, "watch PID out of range");
        // Argon2id runs on the worker thread; the reply follows from there.
        MessageRef ref(sd_bus_message_ref(m), sd_bus_message_unref);
        self->service_.unlock(std::move(pass), idle, pid_t(watch), [ref](std::exception_ptr error) {
            if (error) reply_failed(ref.get(), error);
            else sd_bus_reply_method_return(ref.get(), "");
        });
    } catch (const std::exception &e) {
        reply_error(m, e);
    }
    return 1;
}

int BusDoor::method_rekey(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusDoor *>(userdata);
    if (!self->authorized(m, Action::manage)) return 1;
    try {
        int fd = -1, new_fd = -1;
        int r = sd_bus_message_read(m, "hh", &fd, &new_fd);
        if (r < 0) return r;
        auto pass = read_passphrase_from_passed_fd(fd);
        auto new_pass = read_passphrase_from_passed_fd(new_fd);
        // Both Argon2id derivations run on the worker; the reply follows.
        MessageRef ref(sd_bus_message_ref(m), sd_bus_message_unref);
        self->service_.rekey(std::move(pass), std::move(new_pass), [ref](std::exception_ptr error, const Session::Rekeyed &done) {
            if (error) return reply_failed(ref.get(), error);
            sd_bus_message *reply = nullptr;
            int r = sd_bus_message_new_method_return(ref.get(), &reply);
            MessageRef owned(reply, sd_bus_message_unref);
            if (r >= 0) r = sd_bus_message_append(reply, "s", done.pub.str().c_str());
            for (const auto *list : {&done.sealed_to, &done.unreachable}) {
                if (r >= 0) r = sd_bus_message_open_container(reply, 'a', "s");
                for (const auto &host : *list)
                    if (r >= 0) r = sd_bus_message_append(reply, "s", host.c_str());
                if (r >= 0) r = sd_bus_message_close_container(reply);
            }
            if (r >= 0) r = sd_bus_send(nullptr, reply, nullptr);
            if (r < 0) log_warning("cannot send the reply to Rekey: " + errno_text(-r));
        });
    } catch (const std::exception &e) {
        reply_error(m, e);
    }
    return 1;
}

int BusDoor::method_set_name(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusDoor *>(userdata);
    if (!self->authorized(m, Action::manage)) return 1;
    try {
        const char *name = nullptr;
        int r = sd_bus_message_read(m, "s", &name);
        if (r < 0) return r;
        auto claim = self->service_.claim_name(name);
        sd_bus_reply_method_return(m, "s", claim.c_str());
    } catch (const std::exception &e) {
        reply_error(m, e);
    }
    return 1;
}

int BusDoor::method_lock(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusDoor *>(userdata);
    if (!self->authorized(m, Action::lock)) return 1;
    try {
        self->service_.lock();
        sd_bus_reply_method_return(m, "");
    } catch (const std::exception &e) {
        reply_error(m, e);
    }
    return 1;
}

int BusDoor::property_get(sd_bus *, const char *, const char *, const char *property, sd_bus_message *reply,
                          void *userdata, sd_bus_error *) {
    // Properties are not authorized by polkit: like STATUS, reading them
    // renews nothing (Service::status).
    const StatusSnapshot st = static_cast<BusDoor *>(userdata)->service_.status();
    std::string_view p = property;
    if (p == property::kUnlocked) return sd_bus_message_append(reply, "b", int(st.unlocked));
    if (p == property::kPublicKey) return sd_bus_message_append(reply, "s", st.pubkey.c_str());
    if (p == property::kIdleTimeoutUSec) return sd_bus_message_append(reply, "t", st.idle_timeout_usec);
    if (p == property::kLockDeadlineUSec) return sd_bus_message_append(reply, "t", st.lock_deadline_usec);
    if (p == property::kWatchPID) return sd_bus_message_append(reply, "u", std::uint32_t(st.watch_pid));
    if (p == property::kUseCounts) return sd_bus_message_append(reply, "(tt)", st.uses.signed_, st.uses.refused);
    if (p == property::kLastUse) {
        const LastUse none{};
        const LastUse &u = st.last_use ? *st.last_use : none;
        return sd_bus_message_append(reply, "(tssss)", u.time_usec, u.program.c_str(), u.unit.c_str(),
                                     u.purpose.c_str(), u.outcome.c_str());
    }
    if (p == property::kRecordNotWritten)
        return sd_bus_message_append(reply, "t", static_cast<BusDoor *>(userdata)->service_.record_not_written());
    if (p == property::kHealth || p == property::kHealthReasons) {
        auto h = static_cast<BusDoor *>(userdata)->service_.health();
        if (p == property::kHealth) return sd_bus_message_append(reply, "s", health_state_name(h.state));
        int rr = sd_bus_message_open_container(reply, 'a', "s");
        for (const auto &f : h.findings)
            if (rr >= 0) rr = sd_bus_message_append(reply, "s", f.reason.c_str());
        return rr < 0 ? rr : sd_bus_message_close_container(reply);
    }
    return -ENOENT;
}

void BusDoor::emit_locked(LockReason reason) {
    sd_bus_emit_signal(bus_.get(), kObjectPath, kInterface, member::kLocked, "s", lock_reason_name(reason));
}

void BusDoor::emit_properties_changed() {
    sd_bus_emit_properties_changed(bus_.get(), kObjectPath, kInterface, property::kUnlocked, property::kPublicKey,
                                   property::kIdleTimeoutUSec, property::kWatchPID, nullptr);
}

} // namespace puddle::agent
