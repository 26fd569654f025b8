// What `puddle setup git` hands to git, rendered from the identity alone
// (pure): the OpenSSH public key line of user.signingkey, and the
// allowed-signers file (ssh-keygen(1), ALLOWED SIGNERS) built from the
// rotation log, so that `git verify-commit` accepts a commit signed by a
// retired key when it is dated before that key's retirement and refuses one
// dated after. The commit date is the signer's claim: see puddle(1).
#pragma once

#include "core/files/rotation_log.hpp"
#include "core/identity.hpp"

#include <cstdint>
#include <string>

namespace puddle {

// "ssh-ed25519 <base64 of the key blob>" (RFC 8709), without a comment.
std::string ssh_key_text(const PublicKey &key);
// The time as ssh-keygen's allowed-signers options take it, in UTC:
// YYYYMMDDHHMMSSZ.
std::string allowed_signers_time(std::int64_t unix_seconds);

// One line per key of the chain that leads to `current` in `log`
// (core/rotation's chain_to: records that verify, no fork): each retired key
// with valid-after the time it became current (none for the first) and
// valid-before the time it was retired; `current` with valid-after the time
// it became current. Every line is for the "git" namespace only and names
// `principal` (a pattern-free e-mail address or name; checked by the caller
// with allowed_signers_principal_problem). Keys on another branch of a fork
// are left out: they are not this identity's history.
std::string render_allowed_signers(const RotationLog &log, const PublicKey &current, const std::string &principal);
// Why `principal` cannot stand in an allowed-signers line ("" when it can):
// empty, whitespace, a quote, a comma or a pattern character (*?!).
std::string allowed_signers_principal_problem(const std::string &principal);

} // namespace puddle
