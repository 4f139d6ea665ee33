#!/usr/bin/env python3
"""Print berth's default seccomp policy as an OCI runtime-spec `linux.seccomp`
object, for the crun side of tests/bench/start.

    oci_seccomp.py [SOURCE_DIR]     (default: the checkout this file is in)

Read from berth's own tables, so both runtimes load the same policy:
runtime/container/seccomp.c (rules[] with their capability gates, the clone /
clone3 / personality / socket rules) evaluated for the capabilities of
ctr_caps_default() in runtime/container/caps.c (Docker's 14).

What cannot be said in OCI JSON and so differs from berth's filter:
  - berth's hand-written prologue for syscall numbers libseccomp 2.5 does not
    know by name (457..469 decided by the same gates, 470..511 -> ENOSYS);
    here those numbers get the default action (EPERM);
  - berth answers EPERM for a foreign architecture; crun leaves libseccomp's
    bad-arch action (KILL). Neither matters for a process that exits at once.
"""
import json
import os
import re
import sys

CLONE_NS_FLAGS = (0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 |
                  0x20000000 | 0x40000000 | 0x02000000)   # NS UTS IPC USER PID NET CGROUP
ENOSYS = 38
EPERM = 1


def cap_numbers(caps_c):
    """name -> number from cap_names[] (CAP_X = "X" entries and [N] = "X")."""
    known = {
        "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
        "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9,
        "NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
        "IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17,
        "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20, "SYS_ADMIN": 21,
        "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
        "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29,
        "AUDIT_CONTROL": 30, "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33,
        "SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37,
        "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
    }
    # the table in caps.c must agree with the kernel numbers above
    for name in re.findall(r'\[CAP_(\w+)\]\s*=\s*"\w+"', caps_c):
        if name not in known:
            sys.exit(f"oci_seccomp.py: caps.c names CAP_{name}, unknown here")
    return known


def default_caps(caps_c):
    m = re.search(r'uint64_t ctr_caps_default\(void\)\s*\{(.*?)\}', caps_c, re.S)
    if not m:
        sys.exit("oci_seccomp.py: ctr_caps_default() not found in caps.c")
    caps = re.findall(r'BIT\(CAP_(\w+)\)', m.group(1))
    if len(caps) != 14:
        sys.exit(f"oci_seccomp.py: ctr_caps_default() has {len(caps)} capabilities, expected 14")
    return caps


def gate_open(gate, caps):
    gate = gate.strip()
    if gate == "ALWAYS":
        return True
    need = re.findall(r'C\(CAP_(\w+)\)', gate)
    if not need:
        sys.exit(f"oci_seccomp.py: cannot read gate {gate!r}")
    return any(c in caps for c in need)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "..")
    with open(os.path.join(src, "runtime/container/seccomp.c")) as f:
        sc = f.read()
    with open(os.path.join(src, "runtime/container/caps.c")) as f:
        caps_c = f.read()
    cap_numbers(caps_c)
    caps = default_caps(caps_c)

    body = re.search(r'static const struct sc_rule (?:allow_)?rules\[\] = \{(.*?)\n\};', sc, re.S)
    if not body:
        sys.exit("oci_seccomp.py: the allow table (struct sc_rule [allow_]rules[]) not found in seccomp.c")
    text = re.sub(r'/\*.*?\*/', '', body.group(1), flags=re.S)
    rules = re.findall(r'\{\s*"(\w+)"\s*,\s*([^}]*)\}', text)
    if len(rules) < 300:
        sys.exit(f"oci_seccomp.py: only {len(rules)} rules read from seccomp.c")
    allowed = [name for name, gate in rules if gate_open(gate, caps)]

    # the conditional rules: personality values, socket families (as
    # ALLOW_PERSONALITY(v) / ALLOW_SOCKET(f) entries, or as plain arrays)
    personalities = [int(x, 0) for x in re.findall(r'ALLOW_PERSONALITY\((0x[0-9a-fA-F]+|\d+)\)', sc)]
    if not personalities:
        pers = re.search(r'personalities\[\] = \{([^}]*)\}', sc)
        personalities = [int(x, 0) for x in re.findall(r'0x[0-9a-fA-F]+|\d+', pers.group(1))] if pers else []
    families = [int(x) for x in re.findall(r'ALLOW_SOCKET\((\d+)', sc)]
    if not families:
        fam = re.search(r'socket_families\[\] = \{(.*?)\};', sc, re.S)
        families = [int(x) for x in re.findall(r'\b(\d+)\s*/\*', fam.group(1))] if fam else []
    low = re.search(r'"socket"[^}]*SCMP_CMP_LT, (\d+)', sc) or re.search(r'#define SOCKET_LOW_FAMILIES (\d+)', sc)
    if len(personalities) != 5 or len(families) < 10 or not low:
        sys.exit(f"oci_seccomp.py: cannot read the personality ({len(personalities)}) and socket "
                 f"({len(families)}) rules from seccomp.c")
    low = int(low.group(1))
    if not re.search(r'"clone3"[^\n]*ERRNO\(ENOSYS\)|"clone3", 0, NULL', sc):
        sys.exit("oci_seccomp.py: seccomp.c no longer answers clone3 with ENOSYS: update the rules here")
    if "SYS_ADMIN" in caps:
        sys.exit("oci_seccomp.py: the default set has SYS_ADMIN: the clone rule below assumes not")

    syscalls = [
        {"names": allowed, "action": "SCMP_ACT_ALLOW"},
        # no new namespaces without CAP_SYS_ADMIN; clone3 -> ENOSYS (libc falls back)
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]
    for p in personalities:
        syscalls.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": 0xffffffff, "valueTwo": p,
                                   "op": "SCMP_CMP_MASKED_EQ"}]})
    syscalls.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": low, "op": "SCMP_CMP_LT"}]})
    for f in families:
        syscalls.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": 0xffffffff, "valueTwo": f,
                                   "op": "SCMP_CMP_MASKED_EQ"}]})
    out = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    }
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    sys.stderr.write(f"oci_seccomp.py: {len(allowed)} syscalls allowed by name for "
                     f"{', '.join(caps)}; {len(personalities)} personalities, "
                     f"{len(families)} + <{low} socket families\n")


if __name__ == "__main__":
    main()
