#include "core/files/session_file.hpp"

#include "core/files/json_reader.hpp"
#include "util/json.hpp"

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
    const files_detail::LooseReader r(bytes);
    r.integer("agent_pid", view.agent_pid);
    r.integer("lock_deadline", view.lock_deadline);
    r.string("pubkey", view.pubkey);
    return view;
}

std::optional<SessionFileView> load_session_file(const StateDir &dir) {
    if (!dir.has(kSessionFileName)) return std::nullopt;
    return parse_session_file(dir.read(kSessionFileName, kMaxSessionFileBytes, FileTrust::private_file));
}

void save_session_file(const StateDir &dir, const SessionFile &file) {
    const std::string text = serialize_session_file(file);
    dir.write_atomic(kSessionFileName, as_bytes(text), 0600);
}

void remove_session_file(const StateDir &dir) { dir.remove(kSessionFileName); }

} // namespace puddle
