// The envoy secret sealed in a TPM 2.0 (docs/formats.md, "Envoy secret in a
// TPM"): where a TPM answers, the 32 bytes never touch the disk in the clear;
// the file holds only the sealed object, which loads only under the storage
// key of the TPM that sealed it (so a disk image taken elsewhere, or another
// TPM, cannot unseal it).
//
// The sealed object is a keyed-hash data object (fixedTPM, fixedParent,
// userWithAuth, empty auth) under the TPM's standard ECC P-256 storage
// primary key, made again from its template on every use (no persistent
// handle is taken from the TPM). File: "PUDDLET1" ‖ u32 ‖ TPM2B_PUBLIC ‖ u32
// ‖ TPM2B_PRIVATE (big-endian lengths, tpm2-tss marshalling).
#pragma once

#include "core/encoding.hpp"
#include "core/secret.hpp"

#include <span>
#include <string>

namespace puddle {

inline constexpr const char *kEnvoyTpmFile = "envoy.tpm";

// Which TPM to use: tpm2-tss's TCTI configuration ("" = its default:
// /dev/tpmrm0, then the others it knows; "swtpm:host=127.0.0.1,port=2321"
// for a software TPM).
struct TpmChoice {
    enum class Mode { automatic, off, required } mode = Mode::automatic;
    std::string tcti;
};
// Set once by each program after reading its configuration; the default is
// automatic with tpm2-tss's default TCTI.
void set_tpm_choice(TpmChoice choice);
const TpmChoice &tpm_choice();

// Whether this puddle was built with tpm2-tss.
bool tpm_built() noexcept;

// Seals `secret`; the bytes of envoy.tpm. Throws Error(Failure::failed)
// saying which TPM call failed and why (no TPM, no access, ...).
Bytes tpm_seal(std::span<const std::uint8_t> secret);
// Unseals envoy.tpm's bytes. Throws Error(Failure::bad_passphrase) naming
// `label` when the TPM cannot load or unseal it (another TPM, a cleared
// TPM, a damaged file), Error(Failure::failed) when no TPM answers.
SecretBuffer tpm_unseal(std::span<const std::uint8_t> file, const std::string &label);

} // namespace puddle
