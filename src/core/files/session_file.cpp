#include "core/files/session_file.hpp"

#include "util/json.hpp"

#include <string_view>

namespace puddle {

std::string serialize_session_file(const SessionFile &f) {
    return Json::object()
               .set("agent_pid", f.agent_pid)
               .set("watch_pid", f.watch_pid)
               .set("lock_deadline", f.lock_deadline)
               .set("idle_timeout_s", f.idle_timeout_s)
               .set("pubkey", f.pubkey)
               .dump() +
           "\n";
}

SessionFileView parse_session_file(std::span<const std::uint8_t> bytes) {
    SessionFileView view;
    auto doc = parse_json(std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()), nullptr);
    if (!doc) return view;
    if (const Json *v = doc->get("agent_pid"); v && v->as_int()) view.agent_pid = *v->as_int();
    if (const Json *v = doc->get("lock_deadline"); v && v->as_int()) view.lock_deadline = *v->as_int();
    if (const Json *v = doc->get("pubkey"); v && v->as_string()) view.pubkey = *v->as_string();
    return view;
}

std::optional<SessionFileView> load_session_file(const StateDir &dir) {
    if (!dir.has(kSessionFileName)) return std::nullopt;
    return parse_session_file(dir.read(kSessionFileName, kMaxSessionFileBytes, true));
}

void save_session_file(const StateDir &dir, const SessionFile &file) {
    const std::string text = serialize_session_file(file);
    dir.write_atomic(kSessionFileName, as_bytes(text), 0600);
}

void remove_session_file(const StateDir &dir) { dir.remove(kSessionFileName); }

} // namespace puddle
