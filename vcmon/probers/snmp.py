"""SNMP engine: one object, one event loop, polls IF-MIB on every device (v2c and v3).

The only module that imports pysnmp; no pysnmp type leaves it. Each poll is GETBULK of
exactly the IF-MIB columns needed (numeric OIDs: Debian ships no MIB files) plus sysUpTime
and ifNumber, with max-repetitions sized to the device's table as learned on its last poll;
columns that do not fit continue from their last row.

Where the time went, and what this module does instead (bench/RESULTS.md, "SNMP engine"):
- `pysnmp.hlapi.v3arch.asyncio.bulk_cmd` registers every target in the engine's
  SNMP-TARGET-MIB tables (LCD); each registration invalidates the target lookup cache and
  every request looks its target up again through MIB instrumentation: the 103-124 s first
  sweep of 2,000 agents in LAB-NOTES. Here credentials are registered once per *credential*
  and v3 requests go straight to the shared pysnmp engine's message dispatcher with the
  address, so a new target costs nothing.
- pyasn1's generic BER decoder then cost ~15 ms of CPU per IF-MIB reply (80-90% of the
  engine), ~6x snmp_exporter, and ~25 ms per v3 exchange. So GETBULK is encoded and its
  reply decoded by the small codec at the end of this module, on one asyncio UDP socket
  (`_UdpClient`): v2c as is, v3 through usm.py (RFC 3414 USM with HMAC-SHA/SHA-2 and
  AES-128). Only v3 credentials that `usm.supports()` rejects (MD5, DES, AES-192/256)
  still go through pysnmp's engine.

A target failure is a result (`SnmpResult.failure`), never an exception; malformed replies,
replies from another host than asked and late replies are dropped and counted
(`stats()["ignored_datagrams"]`). The engine raises only `ProbeSetupError` (unknown auth
protocol, incomplete auth, two keys for one v3 user, use outside `async with`). Secrets are
resolved at use time and never logged or repr'd; pysnmp's own debug output (`pysnmp.debug`)
dumps raw packets and its community tables, so vcmon never enables it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import itertools
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pysnmp import debug as pysnmp_debug
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config as pconfig
from pysnmp.entity.engine import SnmpEngine as _PysnmpEngine
from pysnmp.error import PySnmpError
from pysnmp.proto import errind, rfc1902, rfc1905
from pysnmp.proto.api import v2c
from pysnmp.proto.error import StatusInformation

from vcmon.errors import ProbeSetupError
from vcmon.model import (
    Auth,
    Device,
    FailureReason,
    InterfaceMatch,
    Module,
    SecretError,
    SnmpVersion,
)
from vcmon.probers import usm
from vcmon.probers.counters import InterfaceSample, LinkRates, RateTracker, SnmpResult

__all__ = [
    "InterfaceSample",
    "LinkRates",
    "RateTracker",
    "SnmpEngine",
    "SnmpResult",
]

log = logging.getLogger(__name__)

Oid = tuple[int, ...]

SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3)
IF_NUMBER: Oid = (1, 3, 6, 1, 2, 1, 2, 1)
_IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
_IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_DESCR: Oid = (*_IF, 2)
IF_OPER_STATUS: Oid = (*_IF, 8)
IF_IN_OCTETS: Oid = (*_IF, 10)
IF_IN_ERRORS: Oid = (*_IF, 14)
IF_OUT_OCTETS: Oid = (*_IF, 16)
IF_OUT_DISCARDS: Oid = (*_IF, 19)
IF_NAME: Oid = (*_IFX, 1)
IF_HC_IN_OCTETS: Oid = (*_IFX, 6)
IF_HC_OUT_OCTETS: Oid = (*_IFX, 10)
IF_HIGH_SPEED: Oid = (*_IFX, 15)
IF_ALIAS: Oid = (*_IFX, 18)
IF_COUNTER_DISCONTINUITY_TIME: Oid = (*_IFX, 19)

MATCH_COLUMN = {
    InterfaceMatch.IFNAME: IF_NAME,
    InterfaceMatch.IFALIAS: IF_ALIAS,
    InterfaceMatch.IFDESCR: IF_DESCR,
}
_COMMON_COLUMNS = (IF_HIGH_SPEED, IF_OPER_STATUS, IF_IN_ERRORS, IF_OUT_DISCARDS,
                   IF_COUNTER_DISCONTINUITY_TIME)  # fmt: skip
_OPER_UP = 1
DEFAULT_MAX_REPETITIONS = 16
"""For a device's first poll, before its ifNumber is known."""
MAX_REQUESTS_PER_WALK = 100
"""Bounds a walk: 100 x 600 varbinds is far beyond any router's IF-MIB."""
MAX_VARBINDS_PER_REQUEST = 600
"""Keeps a response under a typical 64 KiB UDP message; the agent trims further if it must."""

_AUTH_PROTOCOLS = {
    "md5": pconfig.USM_AUTH_HMAC96_MD5,
    "sha": pconfig.USM_AUTH_HMAC96_SHA,
    "sha1": pconfig.USM_AUTH_HMAC96_SHA,
    "sha224": pconfig.USM_AUTH_HMAC128_SHA224,
    "sha256": pconfig.USM_AUTH_HMAC192_SHA256,
    "sha384": pconfig.USM_AUTH_HMAC256_SHA384,
    "sha512": pconfig.USM_AUTH_HMAC384_SHA512,
}
_PRIV_PROTOCOLS = {
    "des": pconfig.USM_PRIV_CBC56_DES,
    "aes": pconfig.USM_PRIV_CFB128_AES,
    "aes128": pconfig.USM_PRIV_CFB128_AES,
    "aes192": pconfig.USM_PRIV_CFB192_AES,
    "aes256": pconfig.USM_PRIV_CFB256_AES,
}
_AUTH_ERRORS = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.DecryptionError,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.UnknownCommunityName,
)
_DISCOVERY = (errind.UnknownEngineID, errind.NotInTimeWindow)
_MAX_DISCOVERY_STEPS = 4
_SECURITY_LEVEL = {"noAuthNoPriv": 1, "authNoPriv": 2, "authPriv": 3}


class _PollFailedError(Exception):
    """Internal: a poll ends with this reason (never escapes the engine)."""

    def __init__(self, reason: FailureReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Security:
    """How pysnmp addresses a registered credential; holds names, never secrets."""

    mp_model: int
    security_model: int
    security_name: bytes
    """bytes: pysnmp's tables key on OctetString, which hashes like bytes, not like str."""
    security_level: int
    community: bytes = field(default=b"", repr=False, compare=False)
    """v2c only: sent by the engine's own codec (see _UdpClient); never in repr."""
    usm: usm.UsmUser | None = field(default=None, repr=False, compare=False)
    """v3 on the engine's own codec (usm.supports()); None: pysnmp's engine does it."""


class SnmpEngine:
    """One UDP socket (v2c, v3) and one pysnmp engine (other v3) for every device; an async
    context manager.

    `concurrency` bounds requests in flight on the socket (also what keeps its receive
    buffer from overflowing when thousands of agents answer at once); `v3_concurrency`
    bounds those through pysnmp lower, because pysnmp spends ~25 ms of CPU on each v3
    exchange and a backlog of replies waiting for the CPU longer than the timeout would
    all time out.
    """

    def __init__(self, *, concurrency: int = 200, v3_concurrency: int = 32) -> None:
        self._concurrency = concurrency
        self._engine: Any = None
        self._pysnmp_transport: Any = None
        self._client: _UdpClient | None = None
        self._semaphore = asyncio.Semaphore(concurrency)
        self._v3_semaphore = asyncio.Semaphore(min(concurrency, v3_concurrency))
        self._agents: dict[tuple[str, int], usm.EngineState] = {}
        """v3 agent address -> its engine ID and clock, learnt by discovery."""
        self._registered: dict[str, tuple[str, str, _Security]] = {}
        """key -> (auth name, digest of its secrets, how to address it); digest: rotation."""
        self._rows: dict[str, int] = {}
        """device -> ifNumber seen last time: the next poll's max-repetitions."""
        self._no_hc: set[str] = set()
        """Devices without ifHC*Octets: polled for Counter32 ifIn/OutOctets instead."""
        self._failures: Counter[FailureReason] = Counter()
        self._requests = 0
        self._responses = 0
        self._polls = 0

    def __repr__(self) -> str:
        return f"SnmpEngine(concurrency={self._concurrency}, credentials={len(self._registered)})"

    async def __aenter__(self) -> SnmpEngine:
        engine = _PysnmpEngine()
        transport = udp.UdpAsyncioTransport().open_client_mode()
        pconfig.add_transport(engine, udp.DOMAIN_NAME, transport)
        self._engine = engine
        self._pysnmp_transport = transport
        loop = asyncio.get_running_loop()
        _, self._client = await loop.create_datagram_endpoint(_UdpClient, sock=_udp_socket())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._engine is not None:
            # stop receiving, then let replies already queued run while the transport is
            # still registered: pysnmp raises on each one after close_dispatcher()
            asyncio_transport = getattr(self._pysnmp_transport, "transport", None)
            if asyncio_transport is not None:
                asyncio_transport.close()
            await asyncio.sleep(0)
            self._engine.close_dispatcher()
            self._engine = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def stats(self) -> dict[str, int]:
        """Engine counters: requests, responses, polls, `failures_<reason>` per reason,
        `ignored_datagrams` (malformed, unexpected or from the wrong host) and
        `unauthenticated_datagrams` (v3 replies with a wrong digest, level or clock)."""
        out = {"requests": self._requests, "responses": self._responses, "polls": self._polls}
        if self._client is not None:
            out["ignored_datagrams"] = self._client.ignored
            out["unauthenticated_datagrams"] = self._client.unauthenticated
        for reason in FailureReason:
            out[f"failures_{reason.value}"] = self._failures[reason]
        return out

    async def poll_many(
        self, targets: Iterable[tuple[Device, Auth, Module]], port: int = 161
    ) -> list[SnmpResult]:
        """Poll every (device, auth, module) concurrently; results in the same order."""
        tasks = [self.poll(device, auth, module, port) for device, auth, module in targets]
        return list(await asyncio.gather(*tasks))

    async def poll(self, device: Device, auth: Auth, module: Module, port: int = 161) -> SnmpResult:
        """Poll one device's IF-MIB; a failure is a result with a reason, never an exception."""
        if self._engine is None:
            raise ProbeSetupError("SnmpEngine.poll() used outside 'async with SnmpEngine()'")
        self._polls += 1
        started = time.monotonic()
        requests_before = self._requests
        try:
            if not _is_ipv4(device.address):
                # a name would need a DNS lookup, which blocks the loop (and IPv6: not yet)
                log.warning("snmp %s: address is not an IPv4 address", device.name)
                raise _PollFailedError(FailureReason.ERROR)
            security = self._security(auth)
            target = _Target(device.name, (device.address, port), security, module)
            uptime, samples, missing = await self._poll_ifmib(device, target)
        except ProbeSetupError:
            raise
        except Exception as exc:
            reason = exc.reason if isinstance(exc, _PollFailedError) else FailureReason.ERROR
            if reason is FailureReason.ERROR:
                # the type only: a third-party message could quote what it was given
                log.warning("snmp %s: unexpected %s", device.name, type(exc).__name__)
            self._failures[reason] += 1
            log.debug("snmp %s: %s", device.name, reason.value)
            return SnmpResult(
                device=device.name,
                measured_at=time.time(),
                monotonic_s=time.monotonic(),
                duration_s=time.monotonic() - started,
                sys_uptime_s=None,
                failure=reason,
                requests=self._requests - requests_before,
            )
        failure = None
        if missing:
            self._failures[FailureReason.NO_SUCH_INTERFACE] += len(missing)
            log.debug("snmp %s: no interface for links %s", device.name, ", ".join(missing))
            if not samples:
                failure = FailureReason.NO_SUCH_INTERFACE
        now = time.monotonic()
        return SnmpResult(
            device=device.name,
            measured_at=time.time(),
            monotonic_s=now,
            duration_s=now - started,
            sys_uptime_s=uptime,
            samples=tuple(samples),
            missing=tuple(missing),
            failure=failure,
            requests=self._requests - requests_before,
        )

    # --- credentials --------------------------------------------------------------------

    def _security(self, auth: Auth) -> _Security:
        """Register the auth's credential with pysnmp once (again if its secret changed).

        v2c communities and fast-path v3 users (`usm.supports`) stay here: the engine's own
        codec uses them (see `_UdpClient`). Other v3 users are registered with pysnmp under
        `v3:<user name>`, because pysnmp's USM clones a user's row per agent engine ID by
        user name: one engine holds one key set per such user name, and two auths giving
        one user different keys are a setup error.
        """
        try:
            secrets = _resolve(auth)
        except SecretError:
            # the message names the reference, but keep even that out of results
            raise _PollFailedError(FailureReason.SECRET_MISSING) from None
        digest = hashlib.sha256("\0".join(secrets).encode()).hexdigest()
        v2 = auth.version is SnmpVersion.V2C
        fast = not v2 and usm.supports(auth.auth_protocol, auth.priv_protocol)
        key = f"v2c:{auth.name}" if v2 else f"usm:{auth.name}" if fast else f"v3:{auth.username}"
        known = self._registered.get(key)
        if known is not None and known[1] == digest:
            return known[2]
        if known is not None and known[0] != auth.name:
            raise ProbeSetupError(
                f"auths {known[0]!r} and {auth.name!r} give v3 user {auth.username!r}"
                " different keys; one SNMP engine holds one key set per user name"
            )
        if v2:
            name = f"vcmon-{auth.name}".encode()
            security = _Security(1, 2, name, _SECURITY_LEVEL["noAuthNoPriv"], secrets[0].encode())
        elif fast:
            security = _usm_security(auth, secrets)
        else:
            security = self._add_usm_user(auth, secrets, replace=known is not None)
        self._registered[key] = (auth.name, digest, security)
        return security

    def _add_usm_user(self, auth: Auth, secrets: list[str], *, replace: bool) -> _Security:
        assert auth.username is not None  # checked by _resolve
        auth_proto = _protocol(auth.auth_protocol, _AUTH_PROTOCOLS, auth, "auth_protocol")
        priv_proto = _protocol(auth.priv_protocol, _PRIV_PROTOCOLS, auth, "priv_protocol")
        args: dict[str, Any] = {}
        level = "noAuthNoPriv"
        if auth_proto is not None:
            args.update(authProtocol=auth_proto, authKey=secrets[0])
            level = "authNoPriv"
        if priv_proto is not None:
            args.update(privProtocol=priv_proto, privKey=secrets[1])
            level = "authPriv"
        with _pysnmp_debug_off():  # its addV3User debug line prints the keys in clear
            if replace:
                pconfig.delete_v3_user(self._engine, auth.username)
            pconfig.add_v3_user(self._engine, auth.username, **args)
        return _Security(3, 3, auth.username.encode(), _SECURITY_LEVEL[level])

    # --- one poll -----------------------------------------------------------------------

    async def _poll_ifmib(
        self, device: Device, target: _Target
    ) -> tuple[float, list[InterfaceSample], list[str]]:
        hc = device.name not in self._no_hc
        octets = (IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS) if hc else (IF_IN_OCTETS, IF_OUT_OCTETS)
        match_cols = sorted({MATCH_COLUMN[i.match] for i in device.interfaces})
        columns = [*octets, *_COMMON_COLUMNS, *match_cols]
        reps = target.module.max_repetitions or self._rows.get(device.name)
        scalars, table = await self._walk(target, columns, reps or DEFAULT_MAX_REPETITIONS)
        uptime = scalars.get(SYS_UPTIME)
        if_number = scalars.get(IF_NUMBER)
        if not isinstance(uptime, int) or not isinstance(if_number, int):
            raise _PollFailedError(FailureReason.BAD_RESPONSE)
        self._rows[device.name] = max(1, if_number)
        if hc and if_number and not table[IF_HC_IN_OCTETS] and not table[IF_HC_OUT_OCTETS]:
            # an agent without ifXTable counters: Counter32 from now on, wraps handled later
            self._no_hc.add(device.name)
            hc = False
            _, fallback = await self._walk(target, [IF_IN_OCTETS, IF_OUT_OCTETS], if_number)
            table[IF_HC_IN_OCTETS] = fallback[IF_IN_OCTETS]
            table[IF_HC_OUT_OCTETS] = fallback[IF_OUT_OCTETS]
        in_col, out_col = (IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS) if hc else octets
        samples: list[InterfaceSample] = []
        missing: list[str] = []
        for iface in device.interfaces:
            names = table[MATCH_COLUMN[iface.match]]
            index = next((i for i, v in names.items() if v == iface.value), None)
            if index is None:
                missing.append(iface.link)
                continue
            speed = _int(table[IF_HIGH_SPEED].get(index))
            oper = _int(table[IF_OPER_STATUS].get(index))
            discontinuity = _int(table[IF_COUNTER_DISCONTINUITY_TIME].get(index))
            samples.append(
                InterfaceSample(
                    link=iface.link,
                    if_index=index,
                    in_octets=_int(table[in_col].get(index)),
                    out_octets=_int(table[out_col].get(index)),
                    hc=hc,
                    speed_bps=speed * 1e6 if speed else None,
                    oper_up=None if oper is None else oper == _OPER_UP,
                    in_errors=_int(table[IF_IN_ERRORS].get(index)),
                    out_discards=_int(table[IF_OUT_DISCARDS].get(index)),
                    discontinuity_s=None if discontinuity is None else discontinuity / 100,
                )
            )
        return uptime / 100, samples, missing

    async def _walk(
        self, target: _Target, columns: Sequence[Oid], reps: int
    ) -> tuple[dict[Oid, int | str | None], dict[Oid, dict[int, int | str | None]]]:
        """GETBULK the columns (and the scalars, on the first request) to their ends.

        A column is done when the agent steps past it or it has ifNumber rows; the rest
        continue from their last row. An agent whose OIDs do not increase is a bad response.
        """
        table: dict[Oid, dict[int, int | str | None]] = {c: {} for c in columns}
        pending: dict[Oid, Oid] = {c: c for c in columns}
        scalars: dict[Oid, int | str | None] = {}
        if_number: int | None = None
        first = True
        for _ in range(MAX_REQUESTS_PER_WALK):
            if not pending:
                return scalars, table
            starts = list(pending.items())
            non_repeaters = [SYS_UPTIME, IF_NUMBER] if first else []
            per_request = max(1, MAX_VARBINDS_PER_REQUEST // len(starts))
            max_reps = min(max(reps, 1), per_request)
            varbinds = await self._request(
                target, non_repeaters, [start for _, start in starts], max_reps
            )
            if first:
                for scalar, (oid, value) in zip(non_repeaters, varbinds, strict=False):
                    if oid == (*scalar, 0):
                        scalars[scalar] = value
                varbinds = varbinds[len(non_repeaters) :]
                maybe_number = scalars.get(IF_NUMBER)
                if_number = maybe_number if isinstance(maybe_number, int) else None
                first = False
            if not varbinds:
                raise _PollFailedError(FailureReason.BAD_RESPONSE)
            finished: set[Oid] = set()
            for i, (oid, value) in enumerate(varbinds):
                column = starts[i % len(starts)][0]
                if column in finished:
                    continue
                if value is _END:
                    finished.add(column)
                elif oid <= pending[column]:
                    # GETNEXT must move forward (RFC 3416 4.2.2); else we would loop forever
                    raise _PollFailedError(FailureReason.BAD_RESPONSE)
                elif len(oid) == len(column) + 1 and oid[:-1] == column:
                    table[column][oid[-1]] = value
                    pending[column] = oid
                else:
                    finished.add(column)
            for column in list(pending):
                full = if_number is not None and len(table[column]) >= if_number
                if column in finished or full:
                    del pending[column]
        if pending:  # an endless table (or an agent feeding one): give up on this device
            raise _PollFailedError(FailureReason.BAD_RESPONSE)
        return scalars, table

    async def _request(
        self, target: _Target, scalars: Sequence[Oid], columns: Sequence[Oid], max_reps: int
    ) -> list[tuple[Oid, int | str | None]]:
        """One GETBULK with retries; values become ints, strings, None or _END."""
        if target.security.mp_model == 1:
            return await self._request_v2c(target, scalars, columns, max_reps)
        if target.security.usm is not None:
            return await self._request_usm(target, target.security.usm, scalars, columns, max_reps)
        pdu = v2c.GetBulkRequestPDU()
        v2c.apiBulkPDU.set_defaults(pdu)
        v2c.apiBulkPDU.set_non_repeaters(pdu, len(scalars))
        v2c.apiBulkPDU.set_max_repetitions(pdu, max_reps)
        v2c.apiBulkPDU.set_varbinds(pdu, [(oid, v2c.null) for oid in (*scalars, *columns)])
        timeouts = discovery = 0
        while True:
            async with self._v3_semaphore:
                error, response = await self._send_once(target, pdu)
            if error is None:
                break
            if isinstance(error, _DISCOVERY) and discovery < _MAX_DISCOVERY_STEPS:
                discovery += 1  # v3 engine-ID/time discovery: not a retry
                continue
            if isinstance(error, errind.RequestTimedOut):
                timeouts += 1
                if timeouts <= target.module.retries:
                    continue
                raise _PollFailedError(FailureReason.TIMEOUT)
            log.debug("snmp %s: %r", target.device, error)
            if isinstance(error, _AUTH_ERRORS):
                raise _PollFailedError(FailureReason.AUTH_FAILED)
            log.debug("snmp %s: %s", target.device, type(error).__name__)
            raise _PollFailedError(FailureReason.BAD_RESPONSE)
        self._responses += 1
        if v2c.apiBulkPDU.get_error_status(response):
            raise _PollFailedError(FailureReason.BAD_RESPONSE)
        return [(tuple(oid), _value(value)) for oid, value in v2c.apiBulkPDU.get_varbinds(response)]

    async def _request_v2c(
        self, target: _Target, scalars: Sequence[Oid], columns: Sequence[Oid], max_reps: int
    ) -> list[tuple[Oid, int | str | None]]:
        community = target.security.community

        def decode(data: bytes) -> tuple[int, Varbinds]:
            return _decode_response(data, community)[1:]

        oids = [*scalars, *columns]
        for attempt in range(target.module.retries + 1):
            request_id, message = _encode_getbulk(community, len(scalars), max_reps, oids)
            reply = await self._exchange(target, request_id, message, decode)
            if reply is None:
                log.debug("snmp %s: timeout (try %d)", target.device, attempt + 1)
                continue
            self._responses += 1
            error_status, values = reply
            if error_status:
                raise _PollFailedError(FailureReason.BAD_RESPONSE)
            return values  # type: ignore[no-any-return]
        raise _PollFailedError(FailureReason.TIMEOUT)

    async def _request_usm(
        self,
        target: _Target,
        user: usm.UsmUser,
        scalars: Sequence[Oid],
        columns: Sequence[Oid],
        max_reps: int,
    ) -> list[tuple[Oid, int | str | None]]:
        """One v3 GETBULK on the engine's codec; discovers the agent's engine and clock first.

        Discovery (unknown engine) and re-synchronisation (not in time window, e.g. after
        the agent rebooted and its engineBoots went up) are steps, not retries.
        """
        agent = self._agents.setdefault(target.address, usm.EngineState())
        timeouts = steps = 0
        oids = [*scalars, *columns]
        while True:
            msg_id = _next_id()
            discovering = not agent.engine_id
            if discovering:
                message = _encode_v3(None, agent, msg_id, _encode_pdu(_GET, msg_id, 0, 0, ()))
            else:
                pdu = _encode_pdu(_GETBULK, msg_id, len(scalars), max_reps, oids)
                message = _encode_v3(user, agent, msg_id, pdu)

            def decode(data: bytes, expected: int = msg_id) -> _V3Reply:
                return _decode_v3(data, user, agent, expected)

            reply = await self._exchange(target, msg_id, message, decode)
            if reply is None:
                timeouts += 1
                log.debug("snmp %s: timeout (try %d)", target.device, timeouts)
                if timeouts > target.module.retries:
                    raise _PollFailedError(FailureReason.TIMEOUT)
                continue
            assert isinstance(reply, _V3Reply)
            if reply.report is None:
                self._responses += 1
                if reply.authenticated:
                    agent.advance(reply.boots, reply.engine_time)
                if reply.error_status:
                    raise _PollFailedError(FailureReason.BAD_RESPONSE)
                return reply.varbinds
            log.debug("snmp %s: v3 report %s", target.device, reply.report)
            if steps < _MAX_DISCOVERY_STEPS:
                if reply.report == "unknown_engine_id" and reply.engine_id:
                    steps += 1
                    agent.learn(reply.engine_id, reply.boots, reply.engine_time)
                    continue
                if reply.report == "not_in_time_window" and reply.authenticated:
                    steps += 1
                    agent.learn(agent.engine_id, reply.boots, reply.engine_time)
                    continue
            if reply.report in usm.AUTH_REPORTS and not discovering:
                raise _PollFailedError(FailureReason.AUTH_FAILED)
            raise _PollFailedError(FailureReason.BAD_RESPONSE)

    async def _exchange(
        self, target: _Target, key: int, message: bytes, decode: Callable[[bytes], Any]
    ) -> Any:
        """Send one message on the shared socket; the decoded reply, or None on timeout."""
        assert self._client is not None
        self._requests += 1
        async with self._semaphore:
            future = self._client.send(target.address, key, message, decode)
            try:
                async with asyncio.timeout(target.module.timeout_s):
                    return await future
            except TimeoutError:
                return None
            finally:
                self._client.forget(key)

    async def _send_once(self, target: _Target, pdu: Any) -> tuple[Any, Any]:
        """Send one request through the engine's dispatcher; (errorIndication, response PDU)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, Any]] = loop.create_future()

        def on_response(*args: Any) -> None:
            # rfc3412 callback: (engine, mp, secModel, secName, secLevel, ctxEngineId,
            # ctxName, pduVersion, PDU, statusInformation, sendPduHandle, cbCtx)
            response, status = args[8], args[9]
            if future.done():
                return
            if status:
                future.set_result((status.get("errorIndication", errind.otherError), None))
            elif v2c.apiBulkPDU.get_request_id(response) != v2c.apiBulkPDU.get_request_id(pdu):
                future.set_result((errind.dataMismatch, None))
            else:
                future.set_result((None, response))

        dispatcher = self._engine.transport_dispatcher
        ticks = target.module.timeout_s / dispatcher.get_timer_resolution()
        sec = target.security
        self._requests += 1
        try:
            self._engine.message_dispatcher.send_pdu(
                self._engine, udp.DOMAIN_NAME, target.address, sec.mp_model,
                sec.security_model, sec.security_name, sec.security_level, None, b"",
                1, pdu, True, ticks, on_response, None,
            )  # fmt: skip
        except StatusInformation as status:
            return status.get("errorIndication", errind.otherError), None
        except PySnmpError:
            return errind.otherError, None
        try:
            # pysnmp expires the request itself; this bound only guards against it not doing so
            async with asyncio.timeout(target.module.timeout_s + 1.0):
                return await future
        except TimeoutError:
            return errind.requestTimedOut, None


@dataclass(frozen=True, slots=True)
class _Target:
    device: str
    address: tuple[str, int]
    security: _Security
    module: Module


class _End:
    """endOfMibView (or noSuchObject): the walk of a column stops here."""


_END: Any = _End()


def _usm_security(auth: Auth, secrets: list[str]) -> _Security:
    """A fast-path v3 credential: its password-to-key hashes run here, once per secret."""
    assert auth.username is not None  # checked by _resolve
    try:
        user = usm.UsmUser.create(
            auth.username, auth.auth_protocol, secrets[0], auth.priv_protocol, secrets[1]
        )
    except ValueError:
        raise ProbeSetupError(f"auth {auth.name!r}: an empty v3 key") from None
    level = ("noAuthNoPriv", "authNoPriv", "", "authPriv")[user.flags]
    return _Security(3, 3, auth.username.encode(), _SECURITY_LEVEL[level], usm=user)


@contextlib.contextmanager
def _pysnmp_debug_off() -> Iterator[None]:
    saved = pysnmp_debug.logger
    pysnmp_debug.set_logger(0)
    try:
        yield
    finally:
        pysnmp_debug.set_logger(saved)


def _value(value: Any) -> int | str | None:
    """A pysnmp value as plain Python: int for numbers, str for text, _END past the table."""
    if isinstance(value, rfc1905.EndOfMibView | rfc1905.NoSuchObject):
        return _END  # type: ignore[no-any-return]
    if isinstance(value, rfc1905.NoSuchInstance):
        return None
    if isinstance(value, rfc1902.OctetString):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, rfc1902.Integer | rfc1902.Unsigned32 | rfc1902.Counter64):
        return int(value)
    if isinstance(value, rfc1902.Counter32 | rfc1902.Gauge32 | rfc1902.TimeTicks):
        return int(value)
    return None


def _is_ipv4(address: str) -> bool:
    """
    >>> _is_ipv4("198.18.0.1"), _is_ipv4("rtr-1.example"), _is_ipv4("2001:db8::1")
    (True, False, False)
    """
    try:
        return isinstance(ipaddress.ip_address(address), ipaddress.IPv4Address)
    except ValueError:
        return False


def _int(value: int | str | None) -> int | None:
    """An integer column value, or None when missing or of the wrong type."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _protocol(name: str | None, table: dict[str, Any], auth: Auth, field: str) -> Any:
    if name is None:
        return None
    try:
        return table[name.lower()]
    except KeyError:
        choices = ", ".join(sorted(table))
        raise ProbeSetupError(
            f"auth {auth.name!r}: {field} {name!r} is not supported (choose from {choices})"
        ) from None


def _resolve(auth: Auth) -> list[str]:
    """The auth's secrets, read now: [community] for v2c, [auth key, priv key] for v3."""
    if auth.version is SnmpVersion.V2C:
        if auth.community is None:
            raise ProbeSetupError(f"auth {auth.name!r}: v2c needs a community reference")
        return [auth.community.resolve()]
    if auth.username is None:
        raise ProbeSetupError(f"auth {auth.name!r}: v3 needs a username")
    if auth.priv_key is not None and auth.auth_key is None:
        raise ProbeSetupError(f"auth {auth.name!r}: privacy without authentication")
    for protocol, key, what in ((auth.auth_protocol, auth.auth_key, "auth"),
                                (auth.priv_protocol, auth.priv_key, "priv")):  # fmt: skip
        if (protocol is None) != (key is None):
            raise ProbeSetupError(f"auth {auth.name!r}: {what}_protocol and {what}_key go together")
    auth_key = auth.auth_key.resolve() if auth.auth_key is not None else ""
    priv_key = auth.priv_key.resolve() if auth.priv_key is not None else ""
    return [auth_key, priv_key]


# --- a small BER codec of exactly the messages the engine sends and expects ---------------
#
# pysnmp decodes every message with pyasn1's generic BER decoder: profiled on 2,000 agents
# it cost ~8 ms of CPU per 82-varbind IF-MIB response, 80-90% of the engine's CPU and ~6x
# snmp_exporter's per cycle. So the engine encodes GETBULK and decodes GetResponse itself
# (~0.3 ms): v2c as is, v3 wrapped by the User-based Security Model of usm.py (HMAC, AES).
# Anything unexpected in a datagram makes it ignored (and counted), never raised.

_SEQUENCE, _INTEGER, _OCTETS, _NULL, _OID = 0x30, 0x02, 0x04, 0x05, 0x06
_GET, _GETBULK, _RESPONSE, _REPORT = 0xA0, 0xA5, 0xA2, 0xA8
_UNSIGNED_TAGS = frozenset((0x41, 0x42, 0x43, 0x46))  # Counter32 Gauge32 TimeTicks Counter64
_END_TAGS = frozenset((0x80, 0x82))  # noSuchObject, endOfMibView
_NO_SUCH_INSTANCE = 0x81
_IPADDRESS = 0x40
_V2C_VERSION, _V3_VERSION = 1, 3
_USM_MODEL = 3
_FLAG_AUTH, _FLAG_PRIV, _FLAG_REPORTABLE = 1, 2, 4
_MAX_MESSAGE_BYTES = 65507
_ids = itertools.count(1)


def _next_id() -> int:
    """Request ids and v3 msgIDs come from one counter: one id names one pending request."""
    return next(_ids) % 0x7FFFFFFF or 1


class _MalformedError(ValueError):
    """A datagram that is not a well-formed reply to what was asked."""


class _UnauthenticatedError(_MalformedError):
    """A v3 reply whose digest, engine or clock does not check out (counted apart)."""


def _ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _ber_length(len(body)) + body


def _ber_int(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _ber_oid(oid: Oid) -> bytes:
    body = bytearray((oid[0] * 40 + oid[1],))
    for arc in oid[2:]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return _tlv(_OID, bytes(body))


def _encode_pdu(tag: int, request_id: int, a: int, b: int, oids: Sequence[Oid]) -> bytes:
    """A PDU asking for `oids` (values NULL); a, b: error status/index or GETBULK's two."""
    varbinds = b"".join(_tlv(_SEQUENCE, _ber_oid(oid) + b"\x05\x00") for oid in oids)
    header = _ber_int(request_id) + _ber_int(a) + _ber_int(b)
    return _tlv(tag, header + _tlv(_SEQUENCE, varbinds))


def _encode_getbulk(
    community: bytes, non_repeaters: int, max_reps: int, oids: Sequence[Oid]
) -> tuple[int, bytes]:
    """(request id, message) of a v2c GetBulkRequest.

    >>> rid, msg = _encode_getbulk(b"c", 1, 10, [(*SYS_UPTIME, 0)])
    >>> _peek_id(msg) == rid, msg[-14:].hex()  # ends with varbind sysUpTime.0 = NULL
    (True, '300c06082b060102010103000500')
    """
    request_id = _next_id()
    pdu = _encode_pdu(_GETBULK, request_id, non_repeaters, max_reps, oids)
    return request_id, _tlv(_SEQUENCE, _ber_int(_V2C_VERSION) + _tlv(_OCTETS, community) + pdu)


def _encode_v3(user: usm.UsmUser | None, agent: usm.EngineState, msg_id: int, pdu: bytes) -> bytes:
    """A v3 message (RFC 3412 6, RFC 3414 2.4) carrying `pdu`, signed and encrypted as the
    user's level says; user None: the discovery probe (no engine ID, no user, no auth)."""
    scoped = _tlv(_SEQUENCE, _tlv(_OCTETS, agent.engine_id) + _tlv(_OCTETS, b"") + pdu)
    engine_id, boots, engine_time, name, digest_bytes, salt = b"", 0, 0, b"", 0, b""
    flags, keys = _FLAG_REPORTABLE, (b"", b"")
    if user is not None:
        engine_id, name, digest_bytes = agent.engine_id, user.name, user.digest_bytes
        boots, engine_time = agent.clock()
        flags |= user.flags
        if user.hash_name is not None:
            keys = user.keys(engine_id)
        if user.privacy:
            salt = user.next_salt()
            box = usm.aes_cfb(keys[1], boots, engine_time, salt, scoped, encrypt=True)
            scoped = _tlv(_OCTETS, box)
    header = _ber_int(msg_id) + _ber_int(_MAX_MESSAGE_BYTES)
    header += _tlv(_OCTETS, bytes((flags,))) + _ber_int(_USM_MODEL)
    salt_tlv = _tlv(_OCTETS, salt)
    params = _tlv(_OCTETS, engine_id) + _ber_int(boots) + _ber_int(engine_time)
    params += _tlv(_OCTETS, name) + _tlv(_OCTETS, bytes(digest_bytes)) + salt_tlv
    body = _ber_int(_V3_VERSION) + _tlv(_SEQUENCE, header)
    message = _tlv(_SEQUENCE, body + _tlv(_OCTETS, _tlv(_SEQUENCE, params)) + scoped)
    if user is not None and user.hash_name is not None:
        # the digest is computed over the message with its own place zeroed (RFC 3414 6.3.1)
        end = len(message) - len(scoped) - len(salt_tlv)
        message = message[: end - digest_bytes] + user.sign(keys[0], message) + message[end:]
    return message


def _read(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at `pos`, checked against `end`."""
    if pos + 2 > end:
        raise _MalformedError("truncated")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if not 0 < n <= 4 or pos + n > end:
            raise _MalformedError("bad length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise _MalformedError("truncated")
    return tag, pos, pos + length


def _read_int(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after) of the INTEGER at `pos`."""
    tag, start, stop = _read(data, pos, end)
    if tag != _INTEGER or start == stop:
        raise _MalformedError("not an INTEGER")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def _read_octets(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    tag, start, stop = _read(data, pos, end)
    if tag != _OCTETS:
        raise _MalformedError("not an OCTET STRING")
    return data[start:stop], stop


@functools.lru_cache(maxsize=1 << 16)
def _decode_oid(body: bytes) -> Oid:
    """An OID's arcs. Cached: a poll sees the same ~100 column.row OIDs on every device and
    cycle, and decoding them was the largest single cost of a reply (~20% of the CPU).

    >>> _decode_oid(bytes.fromhex("2b06010201010300"))
    (1, 3, 6, 1, 2, 1, 1, 3, 0)
    """
    if not body:
        raise _MalformedError("empty OID")
    first = body[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    arc = 0
    for byte in body[1:]:
        arc = (arc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(arc)
            arc = 0
    return tuple(arcs)


def _decode_value(tag: int, body: bytes) -> int | str | None:
    if tag in _UNSIGNED_TAGS:
        return int.from_bytes(body, "big")
    if tag == _INTEGER:
        return int.from_bytes(body, "big", signed=True)
    if tag == _OCTETS:
        return body.decode("utf-8", errors="replace")
    if tag in _END_TAGS:
        return _END  # type: ignore[no-any-return]
    if tag == _IPADDRESS:
        return ".".join(str(b) for b in body)
    if tag == _OID:
        return ".".join(map(str, _decode_oid(body)))
    return None  # noSuchInstance, NULL, Opaque: no usable value


Varbinds = list[tuple[Oid, int | str | None]]


def _decode_pdu(data: bytes, pos: int, end: int) -> tuple[int, int, int, Varbinds]:
    """(PDU tag, request id, error status, varbinds) of the PDU at `pos`."""
    pdu_tag, pos, end = _read(data, pos, end)
    if pdu_tag not in (_RESPONSE, _REPORT):
        raise _MalformedError("not a response")
    request_id, pos = _read_int(data, pos, end)
    error_status, pos = _read_int(data, pos, end)
    _, pos = _read_int(data, pos, end)
    tag, pos, end = _read(data, pos, end)
    if tag != _SEQUENCE:
        raise _MalformedError("no varbind list")
    varbinds = []
    while pos < end:
        tag, start, pos = _read(data, pos, end)
        if tag != _SEQUENCE:
            raise _MalformedError("bad varbind")
        tag, name_start, name_end = _read(data, start, pos)
        if tag != _OID:
            raise _MalformedError("bad varbind name")
        tag, value_start, value_end = _read(data, name_end, pos)
        oid = _decode_oid(data[name_start:name_end])
        varbinds.append((oid, _decode_value(tag, data[value_start:value_end])))
    return pdu_tag, request_id, error_status, varbinds


def _decode_response(data: bytes, community: bytes) -> tuple[int, int, Varbinds]:
    """(request id, error status, varbinds) of a v2c GetResponse for `community`.

    >>> body = bytes.fromhex("3023020101040163a21b0201070201000201003010300e0608"
    ...                      "2b06010201010300430204d2")
    >>> _decode_response(body, b"c")
    (7, 0, [((1, 3, 6, 1, 2, 1, 1, 3, 0), 1234)])
    """
    tag, pos, end = _read(data, 0, len(data))
    if tag != _SEQUENCE or end != len(data):
        raise _MalformedError("not a message")
    version, pos = _read_int(data, pos, end)
    if version != _V2C_VERSION:
        raise _MalformedError("not v2c")
    got, pos = _read_octets(data, pos, end)
    if got != community:
        raise _MalformedError("other community")
    if data[pos] != _RESPONSE:
        raise _MalformedError("not a response")
    _, request_id, error_status, varbinds = _decode_pdu(data, pos, end)
    return request_id, error_status, varbinds


@dataclass(frozen=True, slots=True)
class _V3Reply:
    """A v3 Response or Report, decoded and checked against the user and the agent's clock."""

    report: str | None
    """None for a Response; else what usmStats counter the agent reported (usm.REPORT_OIDS)."""
    authenticated: bool
    engine_id: bytes
    boots: int
    engine_time: int
    error_status: int = 0
    varbinds: Varbinds = field(default_factory=list)


def _decode_v3(data: bytes, user: usm.UsmUser, agent: usm.EngineState, request_id: int
               ) -> _V3Reply:  # fmt: skip
    """Check and open a v3 reply to `request_id` (RFC 3412 7.2, RFC 3414 3.2).

    A Response must carry the user's level, a good digest from the agent's engine and a
    clock within the window; an unauthenticated Report is accepted (an agent cannot sign
    'wrong digest' or 'unknown engine'), as the RFCs say, matched by msgID and source.
    """
    tag, pos, end = _read(data, 0, len(data))
    if tag != _SEQUENCE or end != len(data):
        raise _MalformedError("not a message")
    version, pos = _read_int(data, pos, end)
    tag, header, pos = _read(data, pos, end)
    if version != _V3_VERSION or tag != _SEQUENCE:
        raise _MalformedError("not v3")
    _, header = _read_int(data, header, pos)  # msgID: matched before decoding
    _, header = _read_int(data, header, pos)
    flags, header = _read_octets(data, header, pos)
    model, _ = _read_int(data, header, pos)
    if len(flags) != 1 or model != _USM_MODEL:
        raise _MalformedError("not USM")
    tag, params, pos = _read(data, pos, end)
    tag, params, params_end = _read(data, params, pos)
    if tag != _SEQUENCE:
        raise _MalformedError("bad security parameters")
    engine_id, params = _read_octets(data, params, params_end)
    boots, params = _read_int(data, params, params_end)
    engine_time, params = _read_int(data, params, params_end)
    name, params = _read_octets(data, params, params_end)
    tag, digest_start, digest_end = _read(data, params, params_end)
    salt, _ = _read_octets(data, digest_end, params_end)
    authenticated = bool(flags[0] & _FLAG_AUTH)
    if authenticated:
        if user.hash_name is None or name != user.name or engine_id != agent.engine_id:
            raise _UnauthenticatedError("digest for another user or engine")
        keys = user.keys(engine_id)
        zeroed = data[:digest_start] + bytes(digest_end - digest_start) + data[digest_end:]
        if not user.verify(keys[0], zeroed, data[digest_start:digest_end]):
            raise _UnauthenticatedError("wrong digest")
        if flags[0] & _FLAG_PRIV:
            if not user.privacy or len(salt) != usm.SALT_BYTES:
                raise _MalformedError("privacy not as asked")
            box, _ = _read_octets(data, pos, end)
            data = usm.aes_cfb(keys[1], boots, engine_time, salt, box, encrypt=False)
            pos, end = 0, len(data)
    elif flags[0] & _FLAG_PRIV:
        raise _MalformedError("privacy without authentication")
    tag, pos, end = _read(data, pos, end)
    if tag != _SEQUENCE:
        raise _MalformedError("not a scoped PDU")
    _, pos = _read_octets(data, pos, end)
    _, pos = _read_octets(data, pos, end)
    tag, got_id, error_status, varbinds = _decode_pdu(data, pos, end)
    if tag == _REPORT:
        oid = varbinds[0][0] if varbinds else ()
        report = usm.REPORT_OIDS.get(oid, "other")
        return _V3Reply(report, authenticated, engine_id, boots, engine_time)
    if got_id != request_id:
        raise _MalformedError("other request")
    if flags[0] & user.flags != user.flags:
        raise _UnauthenticatedError("response below the user's security level")
    if authenticated and not agent.in_window(boots, engine_time):
        raise _UnauthenticatedError("outside the time window: a replay")
    return _V3Reply(None, authenticated, engine_id, boots, engine_time, error_status, varbinds)


_Pending = tuple[tuple[str, int], Callable[[bytes], Any], "asyncio.Future[Any]"]
"""(address asked, how to open its reply, where the reply goes)."""


class _UdpClient(asyncio.DatagramProtocol):
    """One UDP socket for every v2c and fast-path v3 target.

    Replies are matched by request id (v2c) or msgID (v3) and by source address, then opened
    by the decoder the request registered (community check, or USM digest and decryption).
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, _Pending] = {}
        self.ignored = 0
        self.unauthenticated = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def send(
        self, address: tuple[str, int], key: int, message: bytes, decode: Callable[[bytes], Any]
    ) -> asyncio.Future[Any]:
        """Send; the future gets decode(reply) for the first reply that decodes."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[key] = (address, decode, future)
        assert self.transport is not None
        self.transport.sendto(message, address)
        return future

    def forget(self, key: int) -> None:
        self.pending.pop(key, None)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        key = _peek_id(data)
        waiting = self.pending.get(key) if key is not None else None
        if waiting is None or (addr[0], addr[1]) != waiting[0]:
            self.ignored += 1  # unexpected, late, or from another host than asked
            return
        try:
            decoded = waiting[1](data)
        except _UnauthenticatedError:
            self.unauthenticated += 1
            return
        except (_MalformedError, IndexError, ValueError):
            self.ignored += 1
            return
        if not waiting[2].done():
            waiting[2].set_result(decoded)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        for _, _, future in self.pending.values():
            future.cancel()
        self.pending.clear()


RECEIVE_BUFFER_BYTES = 8 << 20
"""Room for every reply in flight: 200 x ~1.5 KB replies overflow Linux's default 208 KiB
(each datagram costs ~2.3 KB of buffer), and a dropped reply costs a whole timeout."""


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:  # FORCE passes net.core.rmem_max when privileged; otherwise rmem_max caps it
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER_BYTES)
            break
        except OSError:
            continue
    sock.bind(("0.0.0.0", 0))
    return sock


def _peek_id(data: bytes) -> int | None:
    """The request id of a v2c reply or the msgID of a v3 one, without decoding the rest."""
    try:
        _, pos, end = _read(data, 0, len(data))
        version, pos = _read_int(data, pos, end)
        if version == _V3_VERSION:
            _, pos, end = _read(data, pos, end)  # msgGlobalData
        else:
            _, _, pos = _read(data, pos, end)  # community
            _, pos, end = _read(data, pos, end)  # PDU
        return _read_int(data, pos, end)[0]
    except _MalformedError:
        return None
