"""Registers the network fixtures of net_helpers for the tests of this directory."""

from net_helpers import free_subnets, manager, netns, tools, uid, upstream  # noqa: F401
