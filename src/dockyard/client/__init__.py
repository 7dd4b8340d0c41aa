"""The Engine API client: `Client` over a `Transport` (in-process by default, or a unix socket)."""
