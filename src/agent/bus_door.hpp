// The D-Bus door: org.puddle.Agent1 at /org/puddle/Agent1 on the user bus.
#pragma once

#include "agent/api.hpp"
#include "agent/authorizer.hpp"
#include "agent/service.hpp"
#include "util/sd.hpp"

#include <functional>
#include <map>
#include <memory>

namespace puddle::agent {

class BusDoor {
public:
    // Connects to the user bus, exports the object and claims the name.
    // Throws Error when the bus cannot be reached.
    BusDoor(sd_event *loop, Service &service, Authorizer &authorizer, std::function<void()> activity);
    ~BusDoor();

    void emit_locked(LockReason reason);
    void emit_properties_changed();
    // Gives the name up, so that new callers activate a new instance
    // instead of queueing on one that is about to exit.
    void release_name();

private:
    static const sd_bus_vtable vtable[];
    static int method_sign(sd_bus_message *m, void *userdata, sd_bus_error *error);
    static int method_unlock(sd_bus_message *m, void *userdata, sd_bus_error *error);
    static int method_lock(sd_bus_message *m, void *userdata, sd_bus_error *error);
    static int method_rekey(sd_bus_message *m, void *userdata, sd_bus_error *error);
    static int method_set_name(sd_bus_message *m, void *userdata, sd_bus_error *error);
    static int on_name_reply(sd_bus_message *m, void *userdata, sd_bus_error *error);
    static int property_get(sd_bus *, const char *, const char *, const char *property, sd_bus_message *reply,
                            void *userdata, sd_bus_error *error);

    using MessageRef = std::shared_ptr<sd_bus_message>;

    // A bus connection's credentials are fixed when it connects, so they
    // are asked of the bus once per unique name, not once per call; the
    // process is pinned and described then (requester.hpp).
    struct Caller {
        Peer peer;
        std::shared_ptr<AuthzCache> cache = std::make_shared<AuthzCache>();
        std::string refusal; // why its calls are refused ("" when they are not)
    };
    // Reads the sender's credentials, opens a pidfd of its pid and reads
    // them again: the pid is the caller's only if both readings agree.
    static Caller query_caller(sd_bus_message *m);
    const Caller &caller_of(sd_bus_message *m);
    // As systemd's bus_verify_polkit_async: true when the call may go on;
    // false when it was refused (and answered) or when polkit or the user is
    // still deciding, in which case the answer is kept for this message and
    // the message is dispatched again, so each method reads top to bottom.
    // `facts`: the request's facts (a Sign's use), read at the first dispatch.
    bool authorized(sd_bus_message *m, Action action, std::shared_ptr<const Facts> *facts = nullptr);
    // A Sign call's facts, read from its data once (the message is rewound).
    std::shared_ptr<const Facts> facts_of(sd_bus_message *m, const Caller &caller);
    void redispatch(const MessageRef &ref, Action action, Verdict verdict, std::shared_ptr<const Facts> facts,
                    bool approved);
    static void reply_error(sd_bus_message *m, const std::exception &e);
    static void reply_failed(sd_bus_message *m, std::exception_ptr error);

    Service &service_;
    Authorizer &authorizer_;
    // Per unique bus name. Unique names are never reused and cached allows
    // expire within a second (see Authorizer), so a departed peer's entry is
    // inert; the map is bounded.
    std::map<std::string, Caller> callers_;
    std::function<void()> activity_;
    SdBus bus_;
    SdBusSlot slot_;
    SdBusSlot name_slot_; // the pending RequestName
    // Verdicts polkit gave while their call waited, until it is dispatched
    // again; at most one per check the Authorizer admitted, so bounded.
    // Last, so its message references go before the bus.
    struct Decided {
        MessageRef message;
        Action action;
        Verdict verdict;
        std::shared_ptr<const Facts> facts;
        bool approved = false; // the verdict is the approval step's (Service::approve), not polkit's
    };
    std::map<sd_bus_message *, Decided> decided_;
};

} // namespace puddle::agent
