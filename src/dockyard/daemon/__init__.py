"""`dockyardd`: the Engine API served over HTTP/1.1 on a unix socket."""
