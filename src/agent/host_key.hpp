// A server's host key signature, as session-bind@openssh.com carries it: the
// signature the host key made over the session id during key exchange
// (RFC 4253 §8), checked here so the agent knows which host a connection's
// logins are for. Pure (no I/O), for the door, the unit tests and the fuzz
// target.
//
// Host key types: ssh-ed25519 (RFC 8709), ecdsa-sha2-nistp256/384/521
// (RFC 5656; SHA-256/384/512), ssh-rsa keys with rsa-sha2-256/512 signatures
// (RFC 8332). Not: ssh-rsa SHA-1 signatures (OpenSSH 8.8 and later refuse
// them for host keys too), DSA, certificates, security-key host keys.
#pragma once

#include "core/encoding.hpp"

#include <span>
#include <string>

namespace puddle::agent::ssh {

// True only when `signature_blob` (string algorithm, string signature) is a
// valid signature of `data` under `key_blob`, of a type listed above. `why`
// gets a fixed text when false.
bool verify_host_signature(std::span<const std::uint8_t> key_blob, std::span<const std::uint8_t> signature_blob,
                           std::span<const std::uint8_t> data, std::string *why = nullptr);

} // namespace puddle::agent::ssh
