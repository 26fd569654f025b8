"""An independent reader of the wrap formats, written from the documents
alone (SPEC §4 for v1, docs/formats.md for the envoy seal v2 and the envoy
secret) with python3-nacl (libsodium's Python binding, not puddle's code)."""
import os
import struct

import nacl.bindings
import nacl.encoding
import nacl.hash
import nacl.pwhash.argon2id
import nacl.signing


def envoy_secret(home: str) -> bytes:
    """The 32 bytes of $HOME/.local/state/puddle/envoy.secret."""
    with open(os.path.join(home, ".local", "state", "puddle", "envoy.secret"), "rb") as f:
        data = f.read()
    assert len(data) == 40 and data[:8] == b"PUDDLEE1", "not an envoy secret file"
    return data[8:]


def kdf_subkey(secret: bytes, subkey_id: int, context: bytes) -> bytes:
    """libsodium's crypto_kdf_derive_from_key, as its documentation defines it:
    BLAKE2b-256 keyed with the secret, salt = id (64-bit little endian) padded
    to 16 bytes, personal = the 8-byte context padded to 16 bytes."""
    return nacl.hash.blake2b(b"", digest_size=32, key=secret,
                             salt=struct.pack("<Q", subkey_id) + bytes(8),
                             person=context + bytes(8), encoder=nacl.encoding.RawEncoder)


def envoy_public_key(secret: bytes) -> bytes:
    pk, _sk = nacl.bindings.crypto_box_seed_keypair(kdf_subkey(secret, 2, b"puddlebx"))
    return pk


def open_seal(wrapped: bytes, pub_line: str, secret: bytes) -> bytes:
    """The v1 wrap inside a PUDDLEW2 file."""
    assert len(wrapped) == 174, len(wrapped)
    assert wrapped[:8] == b"PUDDLEW2" and wrapped[8] == 1 and wrapped[9:12] == bytes(3)
    assert wrapped[12:44] == envoy_public_key(secret), "sealed to another envoy"
    pub = bytes.fromhex(pub_line.strip()[len("ed25519:"):])
    return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
        wrapped[68:], wrapped[:44] + pub, wrapped[44:68], kdf_subkey(secret, 1, b"puddlew2"))


def unwrap(wrapped: bytes, salt: bytes, pub_line: str, passphrase: bytes, home: str = None) -> bytes:
    """The seed; a v2 file is opened first with the envoy secret under `home`."""
    if wrapped[:8] == b"PUDDLEW2":
        assert home, "a sealed wrap needs the envoy secret's home"
        wrapped = open_seal(wrapped, pub_line, envoy_secret(home))
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


def portable_identity(state_dir: str, home: str = None) -> dict:
    """What every member holds alike: salt, public key and the v1 wrap (taken
    out of its envoy seal with the secret under `home`, by default the state
    directory's parent, as for ~/.puddle). Two members of one puddle compare
    equal here while their identity.wrapped files differ."""
    def read(name):
        with open(os.path.join(state_dir, name), "rb") as f:
            return f.read()
    wrapped, pub = read("identity.wrapped"), read("identity.pub")
    if wrapped[:8] == b"PUDDLEW2":
        wrapped = open_seal(wrapped, pub.decode(), envoy_secret(home or os.path.dirname(os.path.abspath(state_dir))))
    return {"identity.wrapped": wrapped, "identity.salt": read("identity.salt"), "identity.pub": pub}
