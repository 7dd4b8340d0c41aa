"""Bridge networking for containers: networks, IPAM, veths, NAT, published ports, embedded DNS.

Nothing is imported here on purpose: `python -m dockyard.network.proxy` and `…dns` must start fast. Links
are configured through our own rtnetlink messages (rtnl.py), namespaces through plain syscalls (netns.py).
"""
