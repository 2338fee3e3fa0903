"""The v3 reply check in snmp.py: what is accepted, and what is dropped as unauthenticated.

Replies are built with the engine's own encoder, as an agent holding the same keys would
(pysnmp's view of that encoder is in test_usm.py; net-snmp's in the integration tests).
"""

from __future__ import annotations

import pytest

from vcmon.probers import snmp, usm

ENGINE = b"\x80\x00\x1f\x88\x80agent-id"
UPTIME = (*snmp.SYS_UPTIME, 0)
WRONG_DIGEST_REPORT = (1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0)


def user(auth_password: str = "auth-password") -> usm.UsmUser:
    return usm.UsmUser.create("vcmon", "sha", auth_password, "aes", "priv-password")


def agent(boots: int = 2, engine_time: int = 9000) -> usm.EngineState:
    state = usm.EngineState()
    state.learn(ENGINE, boots, engine_time)
    return state


def pdu(tag: int, request_id: int, oid: tuple[int, ...] = UPTIME, ticks: int = 4321) -> bytes:
    value = snmp._tlv(0x43 if tag == snmp._RESPONSE else 0x41, ticks.to_bytes(2, "big"))
    varbind = snmp._tlv(snmp._SEQUENCE, snmp._ber_oid(oid) + value)
    header = snmp._ber_int(request_id) + snmp._ber_int(0) + snmp._ber_int(0)
    return snmp._tlv(tag, header + snmp._tlv(snmp._SEQUENCE, varbind))


def reply(sender: usm.UsmUser | None, clock: usm.EngineState, request_id: int = 11,
          tag: int = snmp._RESPONSE) -> bytes:  # fmt: skip
    return snmp._encode_v3(sender, clock, request_id, pdu(tag, request_id))


def test_authentic_encrypted_response_gives_its_varbinds_and_the_agents_clock() -> None:
    got = snmp._decode_v3(reply(user(), agent()), user(), agent(), 11)
    assert got.report is None and got.authenticated
    assert got.varbinds == [(UPTIME, 4321)]
    assert (got.engine_id, got.boots) == (ENGINE, 2) and 9000 <= got.engine_time <= 9001


def test_any_flipped_byte_of_the_encrypted_part_fails_the_digest() -> None:
    message = bytearray(reply(user(), agent()))
    message[-5] ^= 0x40
    with pytest.raises(snmp._UnauthenticatedError, match="wrong digest"):
        snmp._decode_v3(bytes(message), user(), agent(), 11)


def test_response_signed_with_another_key_is_unauthenticated() -> None:
    with pytest.raises(snmp._UnauthenticatedError):
        snmp._decode_v3(reply(user("another-password"), agent()), user(), agent(), 11)


def test_response_from_another_engine_id_is_unauthenticated() -> None:
    other = usm.EngineState()
    other.learn(b"\x80\x00other-engine", 2, 9000)
    with pytest.raises(snmp._UnauthenticatedError, match="another user or engine"):
        snmp._decode_v3(reply(user(), other), user(), agent(), 11)


def test_response_with_a_clock_older_than_the_window_is_a_replay() -> None:
    old = agent(engine_time=9000 - usm.TIME_WINDOW_S - 10)
    with pytest.raises(snmp._UnauthenticatedError, match="replay"):
        snmp._decode_v3(reply(user(), old), user(), agent(), 11)
    earlier_boot = agent(boots=1)
    with pytest.raises(snmp._UnauthenticatedError, match="replay"):
        snmp._decode_v3(reply(user(), earlier_boot), user(), agent(), 11)


def test_unauthenticated_response_for_an_authpriv_user_is_dropped() -> None:
    plain = usm.UsmUser.create("vcmon", None, "", None, "")  # noAuthNoPriv sender
    with pytest.raises(snmp._UnauthenticatedError, match="security level"):
        snmp._decode_v3(reply(plain, agent()), user(), agent(), 11)


def test_response_to_another_request_id_is_not_taken() -> None:
    with pytest.raises(snmp._MalformedError, match="other request"):
        snmp._decode_v3(reply(user(), agent(), request_id=12), user(), agent(), 11)


def test_unauthenticated_wrong_digest_report_is_read_as_such() -> None:
    # an agent cannot sign 'your digest is wrong': RFC 3412 accepts it matched by msgID
    report = snmp._encode_v3(None, agent(), 11, pdu(snmp._REPORT, 11, WRONG_DIGEST_REPORT))
    got = snmp._decode_v3(report, user(), agent(), 11)
    assert (got.report, got.authenticated) == ("wrong_digest", False)
    assert got.report in usm.AUTH_REPORTS


def test_truncated_messages_are_malformed_not_crashes() -> None:
    message = reply(user(), agent())
    for cut in range(0, len(message), 7):
        with pytest.raises(snmp._MalformedError):
            snmp._decode_v3(message[:cut], user(), agent(), 11)


def test_peek_finds_the_v3_msgid_and_the_v2c_request_id() -> None:
    assert snmp._peek_id(reply(user(), agent(), request_id=77)) == 77
    request_id, message = snmp._encode_getbulk(b"c", 0, 1, [UPTIME])
    assert snmp._peek_id(message) == request_id
    assert snmp._peek_id(b"\x30\x03\x02\x01") is None
