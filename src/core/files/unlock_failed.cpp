#include "core/files/unlock_failed.hpp"

#include "core/files/json_reader.hpp"
#include "util/json.hpp"

namespace puddle {

std::string serialize_unlock_failure(const UnlockFailure &f) {
    return Json::object().set("time", f.time).set("reason", f.reason).dump() + "\n";
}

UnlockFailureView parse_unlock_failure(std::span<const std::uint8_t> bytes) {
    UnlockFailureView view;
    const files_detail::LooseReader r(bytes);
    r.string("reason", view.reason);
    r.integer("time", view.time);
    return view;
}

std::optional<UnlockFailureView> load_unlock_failure(const StateDir &dir) {
    if (!dir.has(kUnlockFailedFile)) return std::nullopt;
    return parse_unlock_failure(dir.read(kUnlockFailedFile, kMaxUnlockFailedBytes, FileTrust::private_file));
}

void save_unlock_failure(const StateDir &dir, const UnlockFailure &failure) {
    const std::string text = serialize_unlock_failure(failure);
    dir.write_atomic(kUnlockFailedFile, as_bytes(text), 0600);
}

void remove_unlock_failure(const StateDir &dir) {
    if (dir.has(kUnlockFailedFile)) dir.remove(kUnlockFailedFile);
}

} // namespace puddle
