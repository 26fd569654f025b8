#include "util/user_manager.hpp"

#include "util/error.hpp"
#include "util/sd.hpp"

#include <cstdlib>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace puddle {
namespace {

constexpr const char *kDest = "org.freedesktop.systemd1";
constexpr const char *kPath = "/org/freedesktop/systemd1";
constexpr const char *kIface = "org.freedesktop.systemd1.Manager";

SdBus user_bus(const std::string &what) {
    sd_bus *b = nullptr;
    int r = sd_bus_open_user(&b);
    if (r < 0) throw no_user_bus_error(what, r);
    return SdBus(b);
}

std::string login_name() {
    auto *pw = ::getpwuid(::getuid());
    return pw ? pw->pw_name : std::to_string(::getuid());
}

// One Manager method call; r < 0 and `err` filled on failure.
int call_on(sd_bus *bus, const char *method, const std::string &unit, BusError &err) {
    sd_bus_message *reply = nullptr;
    int r = method == std::string("Reload")
                ? sd_bus_call_method(bus, kDest, kPath, kIface, method, &err, &reply, "")
                : sd_bus_call_method(bus, kDest, kPath, kIface, method, &err, &reply, "ss", unit.c_str(), "replace");
    SdBusMessage owned(reply);
    return r;
}

[[noreturn]] void refused(const std::string &what, const std::string &unit, BusError &err, int r) {
    // The bus is there but no systemd --user owns its name: the bus daemon
    // then answers with its own words ("Process org.freedesktop.systemd1
    // exited with status 1"), which tell the user nothing.
    const std::string name = err.e.name ? err.e.name : "";
    if (name == SD_BUS_ERROR_SERVICE_UNKNOWN || name == SD_BUS_ERROR_NAME_HAS_NO_OWNER ||
        name.starts_with("org.freedesktop.DBus.Error.Spawn"))
        throw Error(Failure::failed, what, "no systemd user manager runs for you on this bus (" +
                                             std::string(err.e.message ? err.e.message : name) + ")",
                    "log in through a session that starts 'systemd --user' (a PAM login with pam_systemd), "
                    "or as root: loginctl enable-linger " + login_name() + "; then try again");
    throw Error(Failure::failed, what, err.e.message ? err.e.message : errno_text(-r),
                "check 'systemctl --user status " + unit + "'");
}

void call(const std::string &what, const char *method, const std::string &unit) {
    auto bus = user_bus(what);
    BusError err;
    int r = call_on(bus.get(), method, unit, err);
    if (r < 0) refused(what, unit, err, r);
}

} // namespace

Error no_user_bus_error(const std::string &what, int r) {
    // sd_bus_open_user finds the bus through XDG_RUNTIME_DIR (or
    // DBUS_SESSION_BUS_ADDRESS); su, sudo, cron and an ssh login without
    // pam_systemd leave them unset, and the error ("No medium found") says
    // nothing of that.
    const char *runtime = std::getenv("XDG_RUNTIME_DIR");
    std::string why;
    struct stat manager {};
    if (runtime && *runtime && ::stat((std::string(runtime) + "/systemd/private").c_str(), &manager) == 0 &&
        S_ISSOCK(manager.st_mode))
        // The user manager runs but has no bus: dbus-user-session was
        // installed (as puddle's dependency) after this login started it.
        return Error(Failure::failed, what,
                     "no user session bus at " + std::string(runtime) + "/bus (" + errno_text(-r) +
                         "): your user manager runs, but without a D-Bus user bus (dbus-user-session installed "
                         "since this login began?)",
                     "systemctl --user start dbus.socket; or log out and in again");
    if (!runtime || !*runtime)
        why = "no user session bus: XDG_RUNTIME_DIR is not set, so this shell is not in a login session with a "
              "user manager (su, sudo and some ssh or cron setups start none)";
    else
        why = "no user session bus at " + std::string(runtime) + "/bus (" + errno_text(-r) +
              "): your user manager (systemd --user) is not running for this login";
    return Error(Failure::failed, what, why,
                 "log in as " + login_name() + " directly (console, ssh with pam_systemd, or 'machinectl shell " +
                     login_name() + "@') and run it there; 'loginctl enable-linger " + login_name() +
                     "' keeps a user manager running without a login");
}

void start_user_unit(const std::string &unit) { call("cannot start " + unit, "StartUnit", unit); }
void stop_user_unit(const std::string &unit) { call("cannot stop " + unit, "StopUnit", unit); }

void reload_user_manager() { call("cannot reload the user manager", "Reload", ""); }

std::string runtime_dropin_dir(const std::string &unit) {
    const char *rt = std::getenv("XDG_RUNTIME_DIR");
    if (!rt || !*rt)
        throw Error(Failure::failed, "cannot configure " + unit, "XDG_RUNTIME_DIR is not set",
                    "run puddle inside your login session");
    return std::string(rt) + "/systemd/user/" + unit + ".d";
}

} // namespace puddle
