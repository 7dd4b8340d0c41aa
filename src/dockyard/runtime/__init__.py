"""dockyard-runtime: an OCI runtime (runc's command line) built on the standard library, `oci` and `errors` only.

Start-up is most of a short container's life, so the modules on the create/start/run/delete path import neither
typing, enum, re, json nor collections (≈ 7 ms together): `TYPE_CHECKING = False` guards imports for mypy,
`_signal`, `_socket` and jsonio stand in for signal, socket and json. tests/unit/runtime/test_import_budget.py
holds the line; docs/benchmarks.md has the figures.
"""
