// retired_puddles.json (SPEC §8): the signed rotations of this identity,
// oldest first. What the records mean (statements, signatures, forks) lives in
// core/rotation.hpp; this is only the file.
// parse_* is a pure function from the file's bytes to a typed value; it throws
// Error(Failure::failed, "cannot read <label>", <precise reason>, <hint>) on
// anything but a well-formed file. serialize_* writes the canonical text (one
// line of compact JSON and "\n") and refuses (std::invalid_argument) what the
// parser would refuse. load_* and save_* do the same on the state directory,
// so no caller spells the file name, its limit or its mode.
#pragma once

#include "util/json.hpp"
#include "core/identity.hpp"
#include "core/statedir.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace puddle {

inline constexpr const char *kRotationLogFile = "retired_puddles.json";
inline constexpr std::size_t kMaxRotationLogBytes = 1 << 20;

// [{"v":1,"old":"ed25519:…","new":"ed25519:…","at":<s>,"sig_old":"<b64>","sig_new":"<b64>"}, …]
// oldest first. Empty content (or only whitespace) and "[]" are the empty log.

inline constexpr std::size_t kMaxRotationRecords = 1024;

struct RotationRecord {
    PublicKey old_key;
    PublicKey new_key;  // differs from old_key
    std::int64_t at = 0; // Unix seconds, >= 0
    Signature sig_old{};
    Signature sig_new{};
    bool operator==(const RotationRecord &) const = default;
};

using RotationLog = std::vector<RotationRecord>;


// Why a record cannot be written ("" when it can): a negative time, or the
// same key on both sides.
std::string rotation_record_problem(const RotationRecord &record);

RotationLog parse_rotation_log(std::span<const std::uint8_t> bytes, const std::string &label);
// "[]\n" for the empty log.
std::string serialize_rotation_log(const RotationLog &log);
// The log as a JSON value inside another document (export bundle, envelope),
// and read back from one; `label` names the document and the field.
Json rotation_log_value(const RotationLog &log);
RotationLog parse_rotation_log_value(const Json &value, const std::string &label);

// nullopt when the file is absent.
std::optional<RotationLog> load_rotation_log(const StateDir &dir);
// The file's bytes as they are ("" when absent), for handing to a joiner.
std::string load_rotation_log_text(const StateDir &dir);
// No saver: the log changes only with the identity, in IdentityStore's
// journalled commit.

} // namespace puddle
