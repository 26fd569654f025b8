// The D-Bus door: org.puddle.Agent1 at /org/puddle/Agent1 on the user bus.
#pragma once

#include "agent/service.hpp"
#include "util/sd.hpp"

#include <functional>

namespace puddle::agent {

inline constexpr const char *kBusName = "org.puddle.Agent1";
inline constexpr const char *kObjectPath = "/org/puddle/Agent1";
inline constexpr const char *kInterface = "org.puddle.Agent1";

class BusDoor {
public:
    // Connects to the user bus, exports the object and claims the name.
    // Throws Error when the bus cannot be reached.
    BusDoor(sd_event *loop, Service &service, std::function<void()> activity);
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
    static int property_get(sd_bus *, const char *, const char *, const char *property, sd_bus_message *reply,
                            void *userdata, sd_bus_error *error);

    Peer peer_of(sd_bus_message *m);
    static int fail(sd_bus_error *error, const std::exception &e);

    Service &service_;
    std::function<void()> activity_;
    SdBus bus_;
    SdBusSlot slot_;
};

} // namespace puddle::agent
