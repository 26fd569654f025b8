#include "core/files/unlock_failed.hpp"

#include "util/json.hpp"

#include <string_view>

namespace puddle {

std::string serialize_unlock_failure(const UnlockFailure &f) {
    return Json::object().set("time", f.time).set("reason", f.reason).dump() + "\n";
}

UnlockFailureView parse_unlock_failure(std::span<const std::uint8_t> bytes) {
    UnlockFailureView view;
    auto doc = parse_json(std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()), nullptr);
    if (!doc) return view;
    if (const Json *r = doc->get("reason"); r && r->as_string()) view.reason = *r->as_string();
    if (const Json *t = doc->get("time"); t && t->as_int()) view.time = *t->as_int();
    return view;
}

std::optional<UnlockFailureView> load_unlock_failure(const StateDir &dir) {
    if (!dir.has(kUnlockFailedFile)) return std::nullopt;
    return parse_unlock_failure(dir.read(kUnlockFailedFile, kMaxUnlockFailedBytes, true));
}

void save_unlock_failure(const StateDir &dir, const UnlockFailure &failure) {
    const std::string text = serialize_unlock_failure(failure);
    dir.write_atomic(kUnlockFailedFile, as_bytes(text), 0600);
}

void remove_unlock_failure(const StateDir &dir) {
    if (dir.has(kUnlockFailedFile)) dir.remove(kUnlockFailedFile);
}

} // namespace puddle
