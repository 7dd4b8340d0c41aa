"""cli/info.py: docker's `info` layout and go-units byte sizes; --format goes through the Go template engine."""

from __future__ import annotations

from dockyard.cli import info


def test_bytes_are_go_units() -> None:
    assert info._bytes(25275654144) == "23.54GiB"
    assert info._bytes(512) == "512B"
    assert info._bytes(1 << 20) == "1MiB"


def test_server_section_in_dockers_order() -> None:
    data = {"Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 2, "Images": 4,
            "ServerVersion": "0.1.0", "Driver": "overlay2", "DefaultRuntime": "runc", "Runtimes": {"runc": {}},
            "MemTotal": 1 << 30, "Debug": False, "Warnings": ["WARNING: no swap limit support"]}  # fmt: skip
    assert info.server_lines(data) == [
        "Server:", " Containers: 3", "  Running: 1", "  Paused: 0", "  Stopped: 2", " Images: 4",
        " Server Version: 0.1.0", " Storage Driver: overlay2", " Default Runtime: runc", " Runtimes: runc",
        " Total Memory: 1GiB", " Debug Mode: false", "WARNING: no swap limit support",
    ]  # fmt: skip
