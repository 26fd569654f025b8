// Values from files and peers, rendered for messages.
#pragma once

#include <string>
#include <string_view>

namespace puddle {

// Quoted, printable ASCII only (other bytes as \xNN), at most 40 characters
// then "...": a hostile value can neither flood nor drive a terminal.
std::string quote_for_message(std::string_view s);

} // namespace puddle
