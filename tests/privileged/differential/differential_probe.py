"""The probe a differential variant runs inside the container, and the normalisation of its output.

The probe is a busybox `sh -c` script printing sections (`== name`) of facts that a runtime decides. Every
normalisation of a legitimately runtime-specific detail is listed, with its reason, in `normalise`.
"""

from __future__ import annotations

import re

# Each section prints facts in a stable order; nothing prints times, mount ids or host pids.
PROBE = r"""
echo "== id"; id
echo "== hostname"; hostname; cat /proc/sys/kernel/domainname
echo "== pid1"; if [ "$$" = 1 ]; then echo "pid 1"; else echo "not pid 1"; fi
echo "== status"; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status
echo "== idmap"; cat /proc/self/uid_map /proc/self/gid_map
echo "== setgroups"; cat /proc/self/setgroups
echo "== mounts"
awk '{ for (i = 7; $i != "-"; i++) ; print $5, $6, $(i+1), $(i+2), $(i+3) }' /proc/self/mountinfo | sort
echo "== limits"; tail -n +2 /proc/self/limits
echo "== oom"; cat /proc/self/oom_score_adj
echo "== dev"
for f in /dev/* /dev/.[!.]* /dev/pts/* /dev/shm/* /dev/mqueue/*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  echo "$(stat -c '%n %F %a %u:%g %t:%T' "$f") $(readlink "$f")"
done
echo "== cwd"; pwd
echo "== umask"; umask
echo "== env"; env | sort
echo "== cgroup"; cat /proc/self/cgroup
echo "== cgroupfs"; ls /sys/fs/cgroup
for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes pids/pids.max cpu/cpu.shares \
  cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us devices/devices.list; do
  [ -r "/sys/fs/cgroup/$f" ] && echo "$f: $(cat /sys/fs/cgroup/$f | tr '\n' ' ')"
done
echo "== sysctl"
for k in kernel/shm_rmid_forced net/ipv4/ip_forward kernel/hostname kernel/domainname; do
  echo "$k: $(cat /proc/sys/$k 2>&1)"
done
# Interfaces other engines and tests create and delete come and go between the two runs: left out.
echo "== netdev"; awk 'NR > 2 { print $1 }' /proc/net/dev | grep -vE '^(veth|vdy|dy|docker|cni|br-|podman)' | sort
echo "== writes"
for p in /probe-root-file /tmp/probe-file /proc/sys/probe-file /sys/probe-file /dev/shm/probe-file; do
  touch "$p" 2>/dev/null && echo "touch $p: ok" || echo "touch $p: fail"
done
mkdir /tmp/probe-dir 2>&1 && echo "mkdir /tmp/probe-dir: ok"
mkdir -m 700 /tmp/probe-dir-700 2>&1 && echo "mkdir -m 700 /tmp/probe-dir-700: ok"
echo "== masked"
# /proc/kcore is absent on some kernels: read what exists of each masked file, count entries of masked dirs.
for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
  [ -e "$f" ] && echo "$f bytes: $(head -c 16 "$f" 2>/dev/null | wc -c)" || echo "$f absent"
done
for d in /proc/acpi /proc/scsi /sys/firmware; do
  [ -e "$d" ] && echo "$d entries: $(ls -A "$d" 2>/dev/null | wc -l)" || echo "$d absent"
done
echo "== subshell"
sh -c 'exit 7'; echo "exit: $?"
sh -c 'kill -9 $$'; echo "killed: $?"
"""


def probe_script(extra: str = "", exit_code: int = 0) -> str:
    """The probe, then `extra` shell lines (a variant's own checks), then `exit exit_code`."""
    return PROBE + ("echo '== extra'\n" + extra + "\n" if extra else "") + f"exit {exit_code}\n"


def normalise(output: str, container_id: str) -> str:
    """Remove what legitimately differs between two runs or two runtimes; each rule says why."""
    # The container ids differ per run (each run needs a unique id): compare them as <ID>.
    text = output.replace(container_id, "<ID>")
    # /proc/self/cgroup: without a cgroupsPath, where the container's cgroup sits is runtime-determined
    # (runtime-spec config-linux.md#cgroups-path): runc nests `/<id>` under its own cgroup, another runtime may
    # use `/<runtime-name>/<id>`. Keep the hierarchy, the controllers and that the leaf is the container id.
    text = re.sub(r"^(\d+:[^:]*:)/(?:\S*/)?<ID>$", r"\1…/<ID>", text, flags=re.M)
    # devices.list: the kernel lists a v1 device cgroup's exceptions in the order they were written, and the
    # order the runtime writes its rules in does not change what they allow: compare them sorted.
    text = re.sub(r"^(devices/devices\.list: )(.*)$", _sorted_device_rules, text, flags=re.M)
    # The cgroup v1 tmpfs at /sys/fs/cgroup is the runtime's own scaffolding, not a spec mount: runc 1.1 leaves
    # it writable and makes only the hierarchies read-only; making it read-only too (as the `ro` option asks) is
    # equally valid. Compare its per-mount options without ro/rw.
    text = re.sub(r"^/sys/fs/cgroup r[ow],(\S+ tmpfs tmpfs)", r"/sys/fs/cgroup <ro|rw>,\1", text, flags=re.M)
    return text


def _sorted_device_rules(m: re.Match[str]) -> str:
    rules = re.findall(r"[abc] \S+ [rwm]+", m.group(2))
    return m.group(1) + " ".join(sorted(rules))


def sections(output: str) -> dict[str, str]:
    """Split normalised probe output into its `== name` sections (text before the first goes to `preamble`)."""
    result: dict[str, list[str]] = {"preamble": []}
    current = "preamble"
    for line in output.splitlines():
        if line.startswith("== "):
            current = line[3:].strip()
            result[current] = []
        else:
            result[current].append(line)
    return {name: "\n".join(lines) for name, lines in result.items()}
