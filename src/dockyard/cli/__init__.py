"""The `dockyard` command line: thin verbs that parse, call `client.Client` and render."""
