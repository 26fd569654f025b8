// The ssh-agent.sock door (the OpenSSH agent protocol, draft-miller-ssh-agent
// as OpenSSH 9.2 speaks it), as pure functions: bytes in, one frame or one
// request out; replies built as ready-to-write bytes. No sockets here, so the
// fuzz target and unit tests call these directly.
//
// Wire basics (RFC 4251 §5): uint32 is 4 bytes big-endian; string is a uint32
// length then that many bytes. Every agent message is a uint32 length, then a
// body whose first byte is the message type.
//
// Decisions, with the OpenSSH 9.2 behaviour they follow or leave:
//
// * Too large: a body over kMaxMessageBytes (256 KiB, OpenSSH's AGENT_MAX_LEN)
//   is FrameResult::too_large as soon as the length prefix is read. The door
//   closes the connection without a reply, as ssh-agent's process_message()
//   does (it returns -1 and the socket is closed): the stream cannot be
//   resynchronised without reading the oversized body.
// * Zero length: a frame whose length is 0 is a complete frame with an empty
//   body; parse_request() calls it Malformed and the door replies
//   SSH_AGENT_FAILURE. (ssh-agent 9.2 drops the connection instead, because
//   reading the type byte fails; we know exactly where the frame ended, so a
//   failure reply is equally safe and tells the client what happened.)
// * Malformed bodies (a truncated string, a short uint32, trailing bytes) reply
//   SSH_AGENT_FAILURE and keep the connection, as ssh-agent does when its
//   sshbuf_get_* calls fail inside a handler. We are stricter than 9.2 about
//   trailing bytes: ssh-agent ignores what is left in a request after the
//   fields it reads; we refuse it. Real clients (ssh, ssh-add, ssh-keygen,
//   Go's x/crypto/ssh/agent) never send any, so nothing is lost.
// * Unsupported: add/remove identities (17, 25, 18, 19, 9), smartcards (20, 26,
//   21), lock/unlock (22, 23) and every unknown type are Unsupported and reply
//   SSH_AGENT_FAILURE, as ssh-agent's default: branch does ("Unknown message").
//   Their bodies are not parsed: the reply is the same either way.
// * Signature flags: SSH_AGENT_RSA_SHA2_256 / _512 (and the legacy 0x01) only
//   choose an RSA hash. For Ed25519, ssh-agent's agent_decode_alg() returns
//   NULL for every non-RSA key, so the flags are ignored; SignRequest carries
//   them verbatim and the door ignores them too (any value signs).
// * Extensions, as OpenSSH 10.3's process_extension() and RFC 9987 §5.8
//   (dispatch_extension() below): an extension the agent does not know gets
//   SSH_AGENT_FAILURE (5) — "not supported"; one it knows that fails (a
//   session-bind whose contents do not parse or whose host signature does not
//   verify, a query with contents) gets SSH_AGENT_EXTENSION_FAILURE (28), so
//   that a client can tell "failed" from "unknown" (OpenSSH commit 511f5bc,
//   "correctness wrt draft-ietf-sshm-ssh-agent"). Older clients (9.2's
//   authfd.c agent_failed() knows only 5, 30 and 102) read a 28 as an invalid
//   reply, which ssh treats as any failed session-bind: it logs it at debug
//   level and goes on. A message too short to carry a name, or a name with a
//   NUL, is Malformed and gets SSH_AGENT_FAILURE, as in OpenSSH.
//   query answers SSH_AGENT_EXTENSION_RESPONSE (29), string "query", then one
//   string per supported extension (kSupportedExtensions); OpenSSH 10.3's
//   ssh-add -Q takes nothing else (a plain SUCCESS is an invalid format).
//   session-bind@openssh.com is verified and recorded by the door
//   (ssh_policy.hpp, host_key.hpp), which answers SSH_AGENT_SUCCESS as
//   ssh-agent does, or SSH_AGENT_EXTENSION_FAILURE. Neither depends on the
//   session being locked (the door's handlers say why).
#pragma once

#include "core/encoding.hpp"
#include "core/identity.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace puddle::agent::ssh {

// Largest accepted body (excluding the 4-byte length), OpenSSH's AGENT_MAX_LEN.
inline constexpr std::size_t kMaxMessageBytes = 256 * 1024;
inline constexpr std::size_t kLengthPrefixBytes = 4;
// Comments are cut to this many bytes in identities answers and public key lines.
inline constexpr std::size_t kMaxCommentBytes = 1024;
inline constexpr std::string_view kEd25519KeyType = "ssh-ed25519";
inline constexpr std::string_view kSessionBindExtension = "session-bind@openssh.com";
inline constexpr std::string_view kQueryExtension = "query";
// What query lists, in this order: every extension this door answers.
inline constexpr std::array<std::string_view, 2> kSupportedExtensions = {kQueryExtension, kSessionBindExtension};

// Message numbers (OpenSSH authfd.h; draft-miller-ssh-agent §6.1).
namespace msg {
inline constexpr std::uint8_t failure = 5;                      // SSH_AGENT_FAILURE
inline constexpr std::uint8_t success = 6;                      // SSH_AGENT_SUCCESS
inline constexpr std::uint8_t remove_all_rsa_identities = 9;    // SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES
inline constexpr std::uint8_t request_identities = 11;          // SSH2_AGENTC_REQUEST_IDENTITIES
inline constexpr std::uint8_t identities_answer = 12;           // SSH2_AGENT_IDENTITIES_ANSWER
inline constexpr std::uint8_t sign_request = 13;                // SSH2_AGENTC_SIGN_REQUEST
inline constexpr std::uint8_t sign_response = 14;               // SSH2_AGENT_SIGN_RESPONSE
inline constexpr std::uint8_t add_identity = 17;                // SSH2_AGENTC_ADD_IDENTITY
inline constexpr std::uint8_t remove_identity = 18;             // SSH2_AGENTC_REMOVE_IDENTITY
inline constexpr std::uint8_t remove_all_identities = 19;       // SSH2_AGENTC_REMOVE_ALL_IDENTITIES
inline constexpr std::uint8_t add_smartcard_key = 20;           // SSH_AGENTC_ADD_SMARTCARD_KEY
inline constexpr std::uint8_t remove_smartcard_key = 21;        // SSH_AGENTC_REMOVE_SMARTCARD_KEY
inline constexpr std::uint8_t lock = 22;                        // SSH_AGENTC_LOCK
inline constexpr std::uint8_t unlock = 23;                      // SSH_AGENTC_UNLOCK
inline constexpr std::uint8_t add_id_constrained = 25;          // SSH2_AGENTC_ADD_ID_CONSTRAINED
inline constexpr std::uint8_t add_smartcard_key_constrained = 26; // SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED
inline constexpr std::uint8_t extension = 27;                   // SSH_AGENTC_EXTENSION
inline constexpr std::uint8_t extension_failure = 28;           // SSH_AGENT_EXTENSION_FAILURE (RFC 9987)
inline constexpr std::uint8_t extension_response = 29;          // SSH_AGENT_EXTENSION_RESPONSE (RFC 9987)
} // namespace msg

// Sign request flags (draft-miller-ssh-agent §4.5.1). RSA only; ignored for Ed25519.
inline constexpr std::uint32_t kFlagRsaSha2_256 = 0x02;
inline constexpr std::uint32_t kFlagRsaSha2_512 = 0x04;

// --- framing ------------------------------------------------------------------

struct FrameResult {
    enum class Status { need_more, frame, too_large };
    Status status = Status::need_more;
    // Bytes to drop from the front of the buffer: 4 + body size for a frame,
    // 0 otherwise.
    std::size_t consumed = 0;
    // For a frame: the body, a view into the buffer passed in.
    std::span<const std::uint8_t> body;
    // The length prefix as read (0 while fewer than 4 bytes are buffered), so
    // need_more can size the next read and too_large can be logged.
    std::uint32_t declared_length = 0;
};

// Looks at the front of `buffer` (bytes read so far, possibly several frames).
FrameResult parse_frame(std::span<const std::uint8_t> buffer);

// Prepends the 4-byte big-endian length to a message body.
Bytes frame(std::span<const std::uint8_t> body);

// --- requests -----------------------------------------------------------------

struct RequestIdentities {};
struct SignRequest {
    Bytes key_blob;  // compare with key_blob_matches()
    Bytes data;
    std::uint32_t flags = 0; // ignored for Ed25519
};
struct Extension {
    std::string name;  // no NUL bytes (OpenSSH reads it as a C string)
    Bytes contents;    // the rest of the message, extension-defined
};
struct Unsupported {
    std::uint8_t type; // see message_type_name()
};
struct Malformed {
    std::string reason; // a fixed text, never an echo of the request
};

using Request = std::variant<RequestIdentities, SignRequest, Extension, Unsupported, Malformed>;

// `body` is one frame's body, as returned by parse_frame().
Request parse_request(std::span<const std::uint8_t> body);

// OpenSSH's name for a message number ("SSH2_AGENTC_ADD_IDENTITY"), for logs;
// nullptr for a number OpenSSH does not define.
const char *message_type_name(std::uint8_t type);

// session-bind@openssh.com contents (OpenSSH PROTOCOL.agent §1):
//   string hostkey, string session_id, string signature, bool is_forwarding
struct SessionBind {
    Bytes hostkey_blob;    // the server's host key, any key type
    Bytes session_id;
    Bytes signature_blob;  // the host key's signature over session_id
    bool is_forwarding;    // any nonzero byte is true (RFC 4251 §5, as OpenSSH)
};
std::variant<SessionBind, Malformed> parse_session_bind(std::span<const std::uint8_t> contents);

// What the door does with an SSH_AGENTC_EXTENSION: a session-bind to verify
// and record (it needs the connection's bindings), or a reply ready to send
// (query's list, SSH_AGENT_EXTENSION_FAILURE, SSH_AGENT_FAILURE for a name
// not in kSupportedExtensions). query takes no contents: any is a failure,
// as every request with trailing bytes here (see Malformed bodies above).
struct ExtensionReply {
    Bytes framed;
};
using ExtensionStep = std::variant<SessionBind, ExtensionReply>;
ExtensionStep dispatch_extension(const Extension &request);

// --- what a signature is for ---------------------------------------------------

// A login (RFC 4252 §7): the data is the userauth request the client will
// send, prefixed with the session id. "publickey-hostbound-v00@openssh.com"
// (OpenSSH >= 8.9, PROTOCOL §2.5) also names the server's host key.
struct LoginUse {
    Bytes session_id;
    std::string user;
    std::string service;       // "ssh-connection"
    std::optional<Bytes> hostkey_blob; // hostbound requests only
};
// An SSHSIG (OpenSSH PROTOCOL.sshsig §3): `ssh-keygen -Y sign`, git's ssh signing.
struct SshSigUse {
    std::string sig_namespace; // "git", "file", ...
    std::string hash_algorithm;
};
// Anything else: other protocols' data signed with the ssh key.
struct OtherUse {};
using SignPurpose = std::variant<LoginUse, SshSigUse, OtherUse>;

// Pure; anything that is not exactly one of the two layouts is OtherUse.
// Names are one line of printable ASCII of at most kMaxNameBytes (then
// "..."), other bytes as \xNN (util/text one_line_label), so a
// hostile request cannot put a line break into the record or a prompt.
inline constexpr std::size_t kMaxNameBytes = 256;
SignPurpose classify_sign_data(std::span<const std::uint8_t> data);

// "SHA256:<base64 without padding>" of a public key blob, as ssh-keygen -l prints it.
std::string key_fingerprint(std::span<const std::uint8_t> key_blob);

// --- keys and signatures ------------------------------------------------------

// string "ssh-ed25519", string key(32): the public key blob (RFC 8709 §4). Unframed.
Bytes ed25519_key_blob(const PublicKey &key);
// string "ssh-ed25519", string signature(64) (RFC 8709 §6). Unframed.
Bytes ed25519_signature_blob(const Signature &signature);

// Strict inverses: exactly the layout above with nothing after it; nullopt otherwise.
std::optional<PublicKey> parse_ed25519_key_blob(std::span<const std::uint8_t> blob);
std::optional<Signature> parse_ed25519_signature_blob(std::span<const std::uint8_t> blob);

// True when `blob` is exactly ed25519_key_blob(key).
bool key_blob_matches(std::span<const std::uint8_t> blob, const PublicKey &key);

// "ssh-ed25519 AAAA… comment" as in a .pub file and `ssh-keygen -y` (no
// trailing newline; no trailing space when the comment is empty). The comment
// is made safe as for identities answers.
std::string openssh_public_key_line(const PublicKey &key, std::string_view comment);

// The comment as sent: control bytes (NUL, CR, LF, TAB…) become '?', and it is
// cut to kMaxCommentBytes without splitting a UTF-8 sequence. OpenSSH clients
// read the comment as a C string, so a NUL would make ssh-add -L fail outright.
std::string safe_comment(std::string_view comment);

// --- replies (framed: length prefix included, ready to write) -------------------

// type 12, nkeys = 1, string key_blob, string comment
Bytes framed_identities_answer(const PublicKey &key, std::string_view comment);
// type 12, nkeys = 0: no identity yet, or the session is locked (ssh-agent
// answers a locked agent's identity request the same way).
Bytes framed_identities_answer_empty();
// type 14, string ed25519_signature_blob(signature)
Bytes framed_sign_response(const Signature &signature);
Bytes framed_failure(); // type 5
Bytes framed_success(); // type 6
Bytes framed_extension_failure(); // type 28
// type 29, string "query", then string name for each of kSupportedExtensions
Bytes framed_query_response();

} // namespace puddle::agent::ssh
