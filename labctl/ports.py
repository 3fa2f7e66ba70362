"""Free TCP ports on a host, and a lab moved onto them (tests, benchmarks, labs beside the default one)."""

from __future__ import annotations

import dataclasses
import socket

from labctl.topology import Lab, published_ports


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the kernel hands out now, all distinct (the sockets are held until every port is drawn)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def with_free_ports(lab: Lab) -> Lab:
    """The same lab with every CA, CA plain-HTTP and RA port replaced by a free one."""
    ports = iter(free_ports(sum(len(published_ports(h)) for h in lab.hierarchies), str(lab.bind_address)))
    hierarchies = tuple(
        dataclasses.replace(
            h,
            ca=dataclasses.replace(h.ca, port=next(ports), http_port=None if h.ca.http_port is None else next(ports)),
            ra=dataclasses.replace(h.ra, port=next(ports)),
        )
        for h in lab.hierarchies
    )
    return dataclasses.replace(lab, hierarchies=hierarchies)
