// RAII owners for sd-bus and sd-event objects.
#pragma once

#include <memory>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

namespace puddle {

struct SdEventDeleter { void operator()(sd_event *e) const { sd_event_unref(e); } };
struct SdEventSourceDeleter {
    void operator()(sd_event_source *s) const { sd_event_source_disable_unref(s); }
};
struct SdBusDeleter { void operator()(sd_bus *b) const { sd_bus_flush_close_unref(b); } };
struct SdBusSlotDeleter { void operator()(sd_bus_slot *s) const { sd_bus_slot_unref(s); } };
struct SdBusMessageDeleter { void operator()(sd_bus_message *m) const { sd_bus_message_unref(m); } };

using SdEvent = std::unique_ptr<sd_event, SdEventDeleter>;
using SdEventSource = std::unique_ptr<sd_event_source, SdEventSourceDeleter>;
using SdBus = std::unique_ptr<sd_bus, SdBusDeleter>;
using SdBusSlot = std::unique_ptr<sd_bus_slot, SdBusSlotDeleter>;
using SdBusMessage = std::unique_ptr<sd_bus_message, SdBusMessageDeleter>;

// Frees an sd_bus_error on scope exit.
struct BusError {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    ~BusError() { sd_bus_error_free(&e); }
    sd_bus_error *operator&() { return &e; }
};

} // namespace puddle
