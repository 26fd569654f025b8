// Starting and stopping units of the calling user's systemd manager over
// the user bus (org.freedesktop.systemd1), as `systemctl --user` would.
#pragma once

#include "util/error.hpp"

#include <string>

namespace puddle {

// The error of `what` when the user bus cannot be opened (r: the negative
// errno of sd_bus_open_user), in words a user can act on: which piece is
// missing, and how to get a login session with a user manager.
Error no_user_bus_error(const std::string &what, int r);

// Each throws Error naming the unit and the manager's reason.
void start_user_unit(const std::string &unit);
void stop_user_unit(const std::string &unit);
// Reload unit files (after writing a drop-in).
void reload_user_manager();
// The runtime drop-in directory of a unit: $XDG_RUNTIME_DIR/systemd/user/UNIT.d
std::string runtime_dropin_dir(const std::string &unit);

} // namespace puddle
