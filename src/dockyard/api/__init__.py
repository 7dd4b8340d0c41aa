"""The Engine API: routes as data, handlers per resource, Docker's wire format; no HTTP server in here."""
