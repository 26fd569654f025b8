"""An independent reader of the wrap format v1, written from SPEC §4 alone
with python3-nacl (libsodium's Python binding, not puddle's code)."""
import struct

import nacl.bindings
import nacl.pwhash.argon2id
import nacl.signing


def unwrap(wrapped: bytes, salt: bytes, pub_line: str, passphrase: bytes) -> bytes:
    assert len(wrapped) == 90, len(wrapped)
    assert wrapped[:8] == b"PUDDLEW1"
    assert wrapped[8] == 1 and wrapped[17] == 0
    ops, mem_kib = struct.unpack(">II", wrapped[9:17])
    nonce, ct = wrapped[18:42], wrapped[42:]
    assert pub_line.startswith("ed25519:") and pub_line.endswith("\n")
    pub = bytes.fromhex(pub_line[8:-1])
    key = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem_kib * 1024)
    seed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, wrapped[:18] + pub, nonce, key)
    derived = bytes(nacl.signing.SigningKey(seed).verify_key)
    assert derived == pub, "seed does not derive identity.pub"
    return seed
