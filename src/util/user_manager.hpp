// Starting and stopping units of the calling user's systemd manager over
// the user bus (org.freedesktop.systemd1), as `systemctl --user` would.
#pragma once

#include <string>

namespace puddle {

// Each throws Error naming the unit and the manager's reason.
void start_user_unit(const std::string &unit);
void stop_user_unit(const std::string &unit);
// Reload unit files (after writing a drop-in).
void reload_user_manager();
// The runtime drop-in directory of a unit: $XDG_RUNTIME_DIR/systemd/user/UNIT.d
std::string runtime_dropin_dir(const std::string &unit);

} // namespace puddle
