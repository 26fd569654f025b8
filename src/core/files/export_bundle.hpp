// The export bundle (docs/formats.md, "Export bundle"): the identity as it
// travels by hand -- the v1 wrap (passphrase only), its salt, the public key
// and the rotation log -- for `puddle export` and `puddle import`, the
// air-gapped way to make or repair a member.
//
// {"v":1,"kind":"puddle-export","pub":"ed25519:…","salt":"<b64 16>",
//  "wrapped":"<b64 90, PUDDLEW1>","retired":[rotation records][,"members":<members.json>]} and "\n"
// "members" (issue 25): the exporter's members view with itself in it, as a
// holder hands it to a joiner, so the importer knows whom to seal its first
// machine report to. Bundles without it are still read.
#pragma once

#include "core/files/members.hpp"
#include "core/files/rotation_log.hpp"
#include "core/identity.hpp"
#include "core/wrap.hpp"

#include <span>
#include <string>

namespace puddle {

inline constexpr std::size_t kMaxExportBundleBytes = kMaxRotationLogBytes + kMaxMembersBytes + 4096;

struct ExportBundle {
    PublicKey pub;
    Salt salt{};
    WrappedBytes wrapped{};
    RotationLog retired;
    std::string members_json; // members.json text; "" for none
};

std::string serialize_export_bundle(const ExportBundle &bundle);
// Strict: throws Error(Failure::failed) naming `label` and the defect.
ExportBundle parse_export_bundle(std::span<const std::uint8_t> bytes, const std::string &label);

} // namespace puddle
