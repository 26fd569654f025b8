"""The agent protocol's extensions (RFC 9987 §5.8, OpenSSH PROTOCOL.agent §1)
spoken by hand, as OpenSSH 10's ssh and ssh-add -Q do, on one connection to
the ssh-agent door, run as the test user. Written from the documents, not
from puddle's code; the host key is this script's own Ed25519 key (PyNaCl, or
python3-cryptography where PyNaCl is missing).

Sends, in order: query; an unknown extension; a session-bind whose signature
is not the host key's over the session id; a valid session-bind for a
forwarded agent; the same binding again; a binding of a second session for
authentication; a binding of a third session after that. Prints one JSON
object: {"query": {"type": N, "echo": "...", "names": [...]}, "unknown": N,
"bad_signature": N, "bind": N, "bind_again": N, "bind_auth": N,
"bind_after_auth": N}, each N the reply's message type.

  ssh_extension_probe.py SOCKET"""
import json
import os
import socket
import struct
import sys

from ssh_probe import request, string  # the framing: one copy, beside this file

EXTENSION = 27  # SSH_AGENTC_EXTENSION


def strings(b):
    """A run of RFC 4251 strings filling b exactly."""
    out, i = [], 0
    while i < len(b):
        (n,) = struct.unpack_from(">I", b, i)
        assert i + 4 + n <= len(b), "short string in reply"
        out.append(b[i + 4:i + 4 + n].decode())
        i += 4 + n
    return out


def host_key(seed):
    """(public key, sign function) of the Ed25519 key with this seed."""
    try:
        import nacl.signing
        k = nacl.signing.SigningKey(seed)
        return bytes(k.verify_key), lambda m: k.sign(m).signature
    except ImportError:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        k = Ed25519PrivateKey.from_private_bytes(seed)
        return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), k.sign


def session_bind(key_blob, session_id, sig_blob, forwarding):
    return (bytes([EXTENSION]) + string(b"session-bind@openssh.com") + string(key_blob) + string(session_id) +
            string(sig_blob) + bytes([forwarding]))


def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    out = {}

    reply = request(s, bytes([EXTENSION]) + string(b"query"))
    names = strings(reply[1:]) if reply[0] == 29 else []
    out["query"] = {"type": reply[0], "echo": names[0] if names else None, "names": names[1:]}
    out["unknown"] = request(s, bytes([EXTENSION]) + string(b"no-such-extension@example.com") + string(b"x"))[0]

    pub, sign = host_key(bytes(range(32)))
    key_blob = string(b"ssh-ed25519") + string(pub)

    def bind(session_id, forwarding, signature=None):
        sig = string(b"ssh-ed25519") + string(signature or sign(session_id))
        return request(s, session_bind(key_blob, session_id, sig, forwarding))[0]

    first, second, third = os.urandom(32), os.urandom(32), os.urandom(32)
    out["bad_signature"] = bind(first, 1, signature=sign(first[::-1]))
    out["bind"] = bind(first, 1)
    out["bind_again"] = bind(first, 1)
    out["bind_auth"] = bind(second, 0)
    out["bind_after_auth"] = bind(third, 0)
    print(json.dumps(out))


main()
