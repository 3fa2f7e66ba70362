"""Integration fixtures: the rsa and ecc hierarchies as real processes on 127.0.0.1 with TLS,
on free ports (so a lab the developer runs on the default ports is left alone)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.endpoint import Endpoint
from labctl.local import LocalLab
from labctl.topology import DEFAULT_LAB_FILE, Lab, parse_lab

DEFAULT_PORTS = (8444, 8447, 8464, 8466, 8454, 8456)


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def lab_on_free_ports() -> Lab:
    text = DEFAULT_LAB_FILE.read_text()
    for old, new in zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS)), strict=True):
        text = text.replace(f"port = {old}\n", f"port = {new}\n")
    return parse_lab(text, source="integration lab")


@pytest.fixture(scope="session")
def local_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalLab, dict[str, Endpoint], Path]]:
    state = tmp_path_factory.mktemp("state")
    runner = LocalLab(lab_on_free_ports(), state, hierarchies=("rsa", "ecc"))
    endpoints = runner.up(timeout=60)
    try:
        yield runner, {e.hierarchy.name: e for e in endpoints}, state
    finally:
        runner.stop()
