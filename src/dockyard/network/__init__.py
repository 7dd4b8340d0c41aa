"""Bridge networking for containers: networks, IPAM, veths, NAT, published ports, embedded DNS.

Nothing is imported here on purpose: `python -m dockyard.network.proxy` and `…dns` must start fast, and
pyroute2 (~0.1–0.3 s to import) is loaded only by `netlink` when a link is actually touched.
"""
