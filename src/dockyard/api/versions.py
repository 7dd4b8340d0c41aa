"""The Engine API versions this server speaks and the product version it reports."""

API_VERSION = "1.47"
MIN_API_VERSION = "1.24"
VERSION = "0.1.0"
