"""SNMPv3 User-based Security Model for the engine's own codec: keys, HMAC, AES-CFB, clocks.

Pure functions and two small objects, no I/O and no BER (the message layout lives with the
codec in snmp.py). Covers RFC 3414 (password-to-key, key localisation, HMAC-SHA-96, the
timeliness window), RFC 7860 (HMAC-SHA-2) and RFC 3826 (AES-128-CFB). `supports()` is the
one place that says which credentials take this path; the rest stay on pysnmp.

Keys never appear in a repr: `UsmUser` shows its name and protocols only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

__all__ = [
    "AUTH_PROTOCOLS",
    "PRIV_PROTOCOLS",
    "EngineState",
    "UsmUser",
    "aes_cfb",
    "localize_key",
    "password_to_key",
    "supports",
]

AUTH_PROTOCOLS: dict[str, tuple[str, int]] = {
    "sha": ("sha1", 12),
    "sha1": ("sha1", 12),
    "sha224": ("sha224", 16),
    "sha256": ("sha256", 24),
    "sha384": ("sha384", 32),
    "sha512": ("sha512", 48),
}
"""auth_protocol -> (hashlib name, truncated HMAC length in bytes): RFC 3414 and RFC 7860."""
PRIV_PROTOCOLS = frozenset(("aes", "aes128"))
"""AES-128-CFB (RFC 3826). AES-192/256 have two incompatible key extensions: pysnmp's path."""
AES_KEY_BYTES = 16
SALT_BYTES = 8
TIME_WINDOW_S = 150
"""RFC 3414 3.2.7: a message more than 150 s older than the agent's clock is a replay."""
MAX_BOOTS = 2**31 - 1

REPORT_OIDS: dict[tuple[int, ...], str] = {
    (1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0): "unsupported_sec_level",
    (1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0): "not_in_time_window",
    (1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0): "unknown_user_name",
    (1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0): "unknown_engine_id",
    (1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0): "wrong_digest",
    (1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0): "decryption_error",
}
"""usmStats* counters an agent reports (RFC 3414 5), by what they mean to the requester."""
AUTH_REPORTS = frozenset(
    ("unsupported_sec_level", "unknown_user_name", "wrong_digest", "decryption_error")
)


def supports(auth_protocol: str | None, priv_protocol: str | None) -> bool:
    """Whether a v3 credential takes the engine's own USM path (else pysnmp's).

    >>> supports("sha", "aes"), supports("SHA256", None), supports(None, None)
    (True, True, True)
    >>> supports("md5", "aes"), supports("sha", "des"), supports("sha", "aes256")
    (False, False, False)
    """
    auth_ok = auth_protocol is None or auth_protocol.lower() in AUTH_PROTOCOLS
    priv_ok = priv_protocol is None or priv_protocol.lower() in PRIV_PROTOCOLS
    return auth_ok and priv_ok


def password_to_key(password: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: hash 1 MiB of the password repeated; the engine-independent key Ku.

    >>> password_to_key(b"maplesyrup", "sha1").hex()
    '9fb5cc0381497b3793528939ff788d5d79145211'
    """
    if not password:
        raise ValueError("empty SNMPv3 password")
    repeated = password * (1_048_576 // len(password) + 1)
    return hashlib.new(hash_name, repeated[:1_048_576]).digest()


def localize_key(master: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: Kul = H(Ku || engineID || Ku), the key one agent shares with us.

    >>> ku = bytes.fromhex("9fb5cc0381497b3793528939ff788d5d79145211")
    >>> localize_key(ku, bytes.fromhex("000000000000000000000002"), "sha1").hex()
    '6695febc9288e36282235fc7151f128497b38f3f'
    """
    return hashlib.new(hash_name, master + engine_id + master).digest()


def aes_cfb(key: bytes, boots: int, engine_time: int, salt: bytes, data: bytes, *,
            encrypt: bool) -> bytes:  # fmt: skip
    """RFC 3826 AES-128-CFB with the 16-byte localised privacy key (`UsmUser.keys`); the IV
    is engineBoots || engineTime || salt (64 bits each half).

    >>> key, salt = bytes(range(16)), bytes(8)
    >>> box = aes_cfb(key, 3, 42, salt, b"scoped PDU", encrypt=True)
    >>> aes_cfb(key, 3, 42, salt, box, encrypt=False)
    b'scoped PDU'
    """
    iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
    cipher = Cipher(algorithms.AES(key), CFB(iv))
    box = cipher.encryptor() if encrypt else cipher.decryptor()
    return box.update(data) + box.finalize()


@dataclass(eq=False, slots=True)
class UsmUser:
    """One v3 credential: master keys computed once, localised keys cached per engine ID."""

    name: bytes
    hash_name: str | None
    """hashlib name of the auth protocol; None for noAuthNoPriv."""
    digest_bytes: int
    privacy: bool
    _auth_master: bytes = field(repr=False)
    _priv_master: bytes = field(repr=False)
    _local: dict[bytes, tuple[bytes, bytes]] = field(default_factory=dict, repr=False)
    _salt: int = field(default_factory=lambda: secrets.randbits(64), repr=False)

    @classmethod
    def create(cls, name: str, auth_protocol: str | None, auth_password: str,
               priv_protocol: str | None, priv_password: str) -> UsmUser:  # fmt: skip
        """The 1 MiB password hashes run here, once per credential.

        >>> user = UsmUser.create("u", "sha", "maplesyrup", "aes", "maplesyrup")
        >>> user, user.flags
        (UsmUser(name=b'u', hash_name='sha1', digest_bytes=12, privacy=True), 3)
        """
        if auth_protocol is None:
            return cls(name.encode(), None, 0, False, b"", b"")
        hash_name, digest_bytes = AUTH_PROTOCOLS[auth_protocol.lower()]
        auth_master = password_to_key(auth_password.encode(), hash_name)
        # RFC 3826 3.1.2.1: the privacy key is made with the auth protocol's hash
        priv_master = b""
        if priv_protocol is not None:
            priv_master = password_to_key(priv_password.encode(), hash_name)
        return cls(name.encode(), hash_name, digest_bytes, priv_protocol is not None,
                   auth_master, priv_master)  # fmt: skip

    @property
    def flags(self) -> int:
        """msgFlags bits for this user's level: auth 1, priv 2 (reportable added by caller)."""
        return (1 if self.hash_name else 0) | (2 if self.privacy else 0)

    def keys(self, engine_id: bytes) -> tuple[bytes, bytes]:
        """(auth key, priv key) localised to one agent's engine ID; cached."""
        keys = self._local.get(engine_id)
        if keys is None:
            assert self.hash_name is not None
            auth = localize_key(self._auth_master, engine_id, self.hash_name)
            priv = b""
            if self.privacy:
                priv = localize_key(self._priv_master, engine_id, self.hash_name)[:AES_KEY_BYTES]
            keys = self._local[engine_id] = (auth, priv)
        return keys

    def sign(self, key: bytes, message: bytes) -> bytes:
        """The truncated HMAC of a whole message (its auth parameters zeroed)."""
        assert self.hash_name is not None
        return hmac.digest(key, message, self.hash_name)[: self.digest_bytes]

    def verify(self, key: bytes, message: bytes, digest: bytes) -> bool:
        """Constant-time check of a received digest against the message with it zeroed."""
        return len(digest) == self.digest_bytes and hmac.compare_digest(
            self.sign(key, message), digest
        )

    def next_salt(self) -> bytes:
        """RFC 3826 3.1.2.1: a 64-bit counter started at a random value."""
        self._salt = (self._salt + 1) & 0xFFFF_FFFF_FFFF_FFFF
        return self._salt.to_bytes(SALT_BYTES, "big")


@dataclass(slots=True)
class EngineState:
    """What we know of one agent's SNMP engine: its ID and clock (RFC 3414 2.3, 3.2.7).

    >>> state = EngineState()
    >>> state.learn(b"\\x80\\x00", 4, 1000, now=50.0)
    >>> state.clock(now=60.0), state.in_window(4, 900, now=60.0), state.in_window(4, 859, now=60.0)
    ((4, 1010), True, False)
    """

    engine_id: bytes = b""
    boots: int = 0
    engine_time: int = 0
    synced_at: float = 0.0
    """time.monotonic() when engine_time was learnt."""

    def learn(self, engine_id: bytes, boots: int, engine_time: int, now: float | None = None
              ) -> None:  # fmt: skip
        """Take the agent's ID and clock as given (discovery, or an authentic reply)."""
        self.engine_id = engine_id
        self.boots, self.engine_time = boots, engine_time
        self.synced_at = time.monotonic() if now is None else now

    def clock(self, now: float | None = None) -> tuple[int, int]:
        """(boots, time) the agent's clock should read now."""
        now = time.monotonic() if now is None else now
        return self.boots, self.engine_time + int(now - self.synced_at)

    def in_window(self, boots: int, engine_time: int, now: float | None = None) -> bool:
        """RFC 3414 3.2.7 b: an authentic reply not older than the window (else a replay)."""
        if boots >= MAX_BOOTS or boots < self.boots:
            return False
        return boots > self.boots or engine_time >= self.clock(now)[1] - TIME_WINDOW_S

    def advance(self, boots: int, engine_time: int) -> None:
        """RFC 3414 3.2.7 a: move forward to a newer clock seen in an authentic reply."""
        if boots > self.boots or (boots == self.boots and engine_time > self.clock()[1]):
            self.learn(self.engine_id, boots, engine_time)
