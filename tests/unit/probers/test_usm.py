"""usm.py against published vectors and against pysnmp's own USM as a reference.

pysnmp is used here only as an independent implementation: a message our codec encodes
must authenticate and decrypt with pysnmp's HMAC and AES services and parse with its ASN.1
message types.
"""

from __future__ import annotations

import hashlib

import pytest
from pyasn1.codec.ber import decoder
from pyasn1.type import univ
from pysnmp.proto.api import v2c
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message
from pysnmp.proto.secmod.rfc3414 import localkey
from pysnmp.proto.secmod.rfc3414.auth.hmacsha import HmacSha
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters
from pysnmp.proto.secmod.rfc3826.priv.aes import Aes
from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

from vcmon.probers import snmp, usm

# RFC 3414 A.3.2: password "maplesyrup", engine ID 00..02
RFC_ENGINE = bytes.fromhex("000000000000000000000002")
RFC_KU_SHA = "9fb5cc0381497b3793528939ff788d5d79145211"
RFC_KUL_SHA = "6695febc9288e36282235fc7151f128497b38f3f"
# pysnmp's AES module still imports CFB from its old place
OLD_CFB = "ignore:CFB has been moved:cryptography.utils.CryptographyDeprecationWarning"


def test_sha1_password_to_key_and_localisation_match_rfc3414_a32() -> None:
    ku = usm.password_to_key(b"maplesyrup", "sha1")
    assert ku.hex() == RFC_KU_SHA
    assert usm.localize_key(ku, RFC_ENGINE, "sha1").hex() == RFC_KUL_SHA


def test_user_localises_with_the_rfc_keys_and_caches_per_engine() -> None:
    user = usm.UsmUser.create("u", "sha", "maplesyrup", "aes", "maplesyrup")
    auth, priv = user.keys(RFC_ENGINE)
    assert auth.hex() == RFC_KUL_SHA and priv.hex() == RFC_KUL_SHA[:32]  # AES-128: 16 bytes
    assert user.keys(RFC_ENGINE) is user.keys(RFC_ENGINE)
    assert user.keys(b"\x80\x00other")[0] != auth


@pytest.mark.parametrize("protocol", ["sha224", "sha256", "sha384", "sha512"])
def test_sha2_keys_match_pysnmps_rfc7860_implementation(protocol: str) -> None:
    hash_name, _ = usm.AUTH_PROTOCOLS[protocol]
    factory = getattr(hashlib, hash_name)
    ours = usm.localize_key(usm.password_to_key(b"a longer pass phrase", hash_name),
                            b"\x80\x00\x1f\x88\x04engine", hash_name)  # fmt: skip
    ku = localkey.hash_passphrase(b"a longer pass phrase", factory)
    theirs = localkey.localize_key(ku, univ.OctetString(b"\x80\x00\x1f\x88\x04engine"), factory)
    assert ours == bytes(theirs)


def test_password_shorter_than_a_hash_block_repeats_to_one_mebibyte() -> None:
    # RFC 3414 A.2.2: the ring buffer wraps mid-password; a one-byte password is the edge
    ku = localkey.hash_passphrase(b"x", hashlib.sha1)
    assert usm.password_to_key(b"x", "sha1") == bytes(ku)
    with pytest.raises(ValueError):
        usm.password_to_key(b"", "sha1")


@pytest.mark.filterwarnings(OLD_CFB)
def test_aes_cfb_interoperates_with_pysnmps_rfc3826_both_ways() -> None:
    key, salt, plain = bytes(range(16)), b"\x01\x02\x03\x04\x05\x06\x07\x08", bytes(range(77))
    box = usm.aes_cfb(key, 7, 123_456, salt, plain, encrypt=True)
    assert len(box) == len(plain) and box != plain  # CFB: no padding
    theirs = Aes().decrypt_data(univ.OctetString(key), (7, 123_456, univ.OctetString(salt)),
                                univ.OctetString(box))  # fmt: skip
    assert theirs == plain
    their_box, their_salt = Aes().encrypt_data(univ.OctetString(key), (7, 123_456, None), plain)
    assert usm.aes_cfb(key, 7, 123_456, bytes(their_salt), bytes(their_box), encrypt=False) == plain


def test_salt_is_a_64_bit_counter_that_wraps() -> None:
    user = usm.UsmUser.create("u", "sha", "maplesyrup", "aes", "maplesyrup")
    user._salt = 2**64 - 1
    assert user.next_salt() == bytes(8) and user.next_salt() == bytes(7) + b"\x01"


def test_engine_clock_rejects_replays_and_moves_only_forward() -> None:
    state = usm.EngineState()
    state.learn(b"e", 5, 1000, now=0.0)
    assert not state.in_window(4, 10**6, now=0.0)  # older boots: a replay
    assert not state.in_window(usm.MAX_BOOTS, 0, now=0.0)  # boots latched at the maximum
    assert state.in_window(6, 0, now=0.0)  # a reboot
    assert state.in_window(5, 1000 - usm.TIME_WINDOW_S + 20, now=20.0)
    assert not state.in_window(5, 1000 - usm.TIME_WINDOW_S + 19, now=20.0)


@pytest.mark.filterwarnings(OLD_CFB)
@pytest.mark.parametrize("protocol,service", [
    ("sha", HmacSha()),
    ("sha256", hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA256_SERVICE_ID)),
])  # fmt: skip
def test_getbulk_we_encode_authenticates_decrypts_and_parses_with_pysnmp(
    protocol: str, service: object
) -> None:
    user = usm.UsmUser.create("vcmon", protocol, "auth-password", "aes", "priv-password")
    agent = usm.EngineState()
    agent.learn(b"\x80\x00\x1f\x88\x80agent-id", 3, 5000)
    oids = [(*snmp.SYS_UPTIME, 0), snmp.IF_HC_IN_OCTETS, snmp.IF_NAME]
    pdu = snmp._encode_pdu(snmp._GETBULK, 4242, 1, 10, oids)
    message = snmp._encode_v3(user, agent, 4242, pdu)

    whole, rest = decoder.decode(message, asn1Spec=SNMPv3Message())
    assert rest == b"" and int(whole["msgVersion"]) == 3
    assert int(whole["msgGlobalData"]["msgID"]) == 4242
    assert bytes(whole["msgGlobalData"]["msgFlags"]) == b"\x07"  # auth, priv, reportable
    params, _ = decoder.decode(
        bytes(whole["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters()
    )
    assert bytes(params["msgAuthoritativeEngineId"]) == agent.engine_id
    assert bytes(params["msgUserName"]) == b"vcmon"
    boots, engine_time = (
        int(params["msgAuthoritativeEngineBoots"]),
        int(params["msgAuthoritativeEngineTime"]),
    )
    assert boots == 3 and 5000 <= engine_time <= 5001
    auth_key, priv_key = user.keys(agent.engine_id)
    service.authenticate_incoming_message(  # type: ignore[attr-defined]
        univ.OctetString(auth_key), params["msgAuthenticationParameters"], message
    )  # raises unless the digest is right
    encrypted = whole["msgData"]["encryptedPDU"]
    plain = Aes().decrypt_data(
        univ.OctetString(priv_key),
        (boots, engine_time, params["msgPrivacyParameters"]),
        encrypted,
    )
    scoped, _ = decoder.decode(plain, asn1Spec=ScopedPDU())
    assert bytes(scoped["contextEngineId"]) == agent.engine_id
    bulk = scoped["data"].getComponent()
    assert isinstance(bulk, v2c.GetBulkRequestPDU)
    assert int(v2c.apiBulkPDU.get_request_id(bulk)) == 4242
    assert int(v2c.apiBulkPDU.get_max_repetitions(bulk)) == 10
    assert [tuple(oid) for oid, _ in v2c.apiBulkPDU.get_varbinds(bulk)] == oids


@pytest.mark.filterwarnings(OLD_CFB)
def test_a_tampered_message_fails_pysnmps_digest_check() -> None:
    user = usm.UsmUser.create("vcmon", "sha", "auth-password", "aes", "priv-password")
    agent = usm.EngineState()
    agent.learn(b"\x80\x00\x1f\x88\x80agent-id", 1, 10)
    message = bytearray(snmp._encode_v3(user, agent, 7, snmp._encode_pdu(snmp._GET, 7, 0, 0, ())))
    message[-1] ^= 0x01
    whole, _ = decoder.decode(bytes(message), asn1Spec=SNMPv3Message())
    params, _ = decoder.decode(
        bytes(whole["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters()
    )
    with pytest.raises(Exception, match="Authenticator mismatched"):
        HmacSha().authenticate_incoming_message(
            univ.OctetString(user.keys(agent.engine_id)[0]),
            params["msgAuthenticationParameters"],
            bytes(message),
        )


def test_repr_of_a_user_shows_no_key_material() -> None:
    user = usm.UsmUser.create("vcmon", "sha", "maplesyrup", "aes", "maplesyrup")
    auth, priv = user.keys(RFC_ENGINE)
    text = repr(user) + str(user)
    for secret in (b"maplesyrup", auth, priv, bytes.fromhex(RFC_KU_SHA)):
        assert secret.hex() not in text and repr(secret) not in text
    assert "maplesyrup" not in text


def test_only_sha_family_and_aes128_take_the_fast_path() -> None:
    fast = [(a, p) for a in ("md5", "sha", "sha512", None) for p in ("des", "aes", "aes256", None)
            if usm.supports(a, p)]  # fmt: skip
    assert fast == [("sha", "aes"), ("sha", None), ("sha512", "aes"), ("sha512", None),
                    (None, "aes"), (None, None)]  # fmt: skip
