"""Reach a service in the NOC namespace from the host: a loopback-only TCP relay.

The lab has no link to the host on purpose (nothing routes in or out). To let a browser or
the host's Prometheus read vcmon's /metrics while vcmon probes from the NOC, this relay
accepts on a host loopback port and, per connection, opens a socket *inside* the NOC
namespace (setns in a thread) to the same service there. Only bytes of that one TCP service
cross; no packet is routed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

from vcmon.errors import LabError
from vcmon.lab.lab import read_state
from vcmon.lab.netns import in_netns


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def relay(state_dir: Path, listen: tuple[str, int], target: tuple[str, int]) -> None:
    """Serve until cancelled. `listen` must be a loopback address."""
    if not listen[0].startswith("127."):
        raise LabError(f"lab forward listens on loopback only, not {listen[0]}")
    state = read_state(Path(state_dir).resolve())
    if state is None or state.get("status") != "up":
        raise LabError(f"no lab is up in {state_dir}: run `vcmon lab up` first")
    noc = str(state["noc"])

    def connect_in_noc() -> socket.socket:
        return socket.create_connection(target, timeout=5)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            sock = await asyncio.to_thread(in_netns, noc, connect_in_noc)
        except OSError:
            client_w.close()
            return
        sock.setblocking(False)
        up_r, up_w = await asyncio.open_connection(sock=sock)
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))

    server = await asyncio.start_server(handle, listen[0], listen[1], reuse_address=True)
    async with server:
        await server.serve_forever()
