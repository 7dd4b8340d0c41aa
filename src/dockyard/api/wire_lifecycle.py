"""Docker's JSON for the lifecycle settings of a create body: RestartPolicy, LogConfig, Init, ConsoleSize in
HostConfig; StdinOnce, Attach*, StopSignal, StopTimeout, Healthcheck in Config. Validates shapes and names the
field; the engine checks the values (engine/lifecycle.py check_create). No I/O."""

from __future__ import annotations

from typing import Any

from dockyard.api.body_fields import typed as _get
from dockyard.engine.records import Healthcheck, RestartPolicy
from dockyard.errors import InvalidArgument


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid field `{key}`: expected an object")
    return value


def host_config_fields(hc: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig keyword arguments for RestartPolicy, LogConfig, Init and ConsoleSize."""
    policy = _object(hc, "RestartPolicy")
    log = _object(hc, "LogConfig")
    opts = _object(log, "Config")
    if not all(isinstance(v, str) for v in opts.values()):
        raise InvalidArgument("invalid field `LogConfig.Config`: expected an object of strings")
    size = hc.get("ConsoleSize") or []
    if not isinstance(size, list) or len(size) not in (0, 2) or not all(isinstance(v, int) for v in size):
        raise InvalidArgument("invalid field `ConsoleSize`: expected [height, width]")
    return {
        "restart_policy": RestartPolicy(
            name=_get(policy, "Name", str, "a string", "") or "no",
            maximum_retry_count=_get(policy, "MaximumRetryCount", int, "an integer", 0),
        ),
        "log_driver": _get(log, "Type", str, "a string", "") or "json-file",
        "log_opts": {str(k): str(v) for k, v in opts.items()} or None,
        "init": bool(_get(hc, "Init", bool, "a boolean", False)),
        "console_size": tuple(size) if any(size) else (),
    }


def config_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The CreateRequest keyword arguments for StdinOnce, Attach*, StopSignal, StopTimeout and Healthcheck."""
    return {
        "stdin_once": _get(body, "StdinOnce", bool, "a boolean", False),
        "attach_stdin": _get(body, "AttachStdin", bool, "a boolean", False),
        "attach_stdout": _get(body, "AttachStdout", bool, "a boolean", False),
        "attach_stderr": _get(body, "AttachStderr", bool, "a boolean", False),
        "stop_signal": _get(body, "StopSignal", str, "a string", ""),
        "stop_timeout": _get(body, "StopTimeout", int, "an integer", None),
        "healthcheck": healthcheck(body.get("Healthcheck")),
    }


def healthcheck(value: Any) -> Healthcheck | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument("invalid field `Healthcheck`: expected an object")
    test = value.get("Test") or []
    if not isinstance(test, list) or not all(isinstance(t, str) for t in test):
        raise InvalidArgument("invalid field `Healthcheck.Test`: expected an array of strings")
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise InvalidArgument(f"invalid field `Healthcheck.Test`: unknown kind {test[0]!r}")
    return Healthcheck(
        test=tuple(test),
        interval=_get(value, "Interval", int, "an integer", 0),
        timeout=_get(value, "Timeout", int, "an integer", 0),
        start_period=_get(value, "StartPeriod", int, "an integer", 0),
        retries=_get(value, "Retries", int, "an integer", 0),
    )


def restart_policy_json(policy: RestartPolicy) -> dict[str, Any]:
    return {"Name": policy.name or "no", "MaximumRetryCount": policy.maximum_retry_count}
