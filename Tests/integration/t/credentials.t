#!/usr/bin/env bash
# Permission checks use the credentials a process has at the moment of each call, also
# when it switches them at run time (seteuid/setegid/setgroups).
. "$(dirname "$0")/../lib.sh"
hl_setup
[ "$(id -u)" = 0 ] || { skip "needs root to switch users"; done_testing; exit 0; }

out=$(hl_py '
import os
os.makedirs("/hilbert/c", exist_ok=True)
with open("/hilbert/c/secret", "w") as f: f.write("s")
os.chmod("/hilbert/c/secret", 0o600)
with open("/hilbert/c/grp", "w") as f: f.write("g")
os.chown("/hilbert/c/grp", 0, 4242); os.chmod("/hilbert/c/grp", 0o640)
def can_read(p):
    try:
        open(p).read(); return "yes"
    except PermissionError:
        return "no"
r = [can_read("/hilbert/c/secret")]
os.setgroups([]); os.setegid(65534); os.seteuid(65534)
r.append(can_read("/hilbert/c/secret"))
r.append(str(os.access("/hilbert/c/secret", os.R_OK, effective_ids=True)))
os.seteuid(0); os.setgroups([4242]); os.seteuid(65534)
r.append(can_read("/hilbert/c/grp"))
os.seteuid(0); os.setgroups([]); os.seteuid(65534)
r.append(can_read("/hilbert/c/grp"))
os.seteuid(0)
r.append(can_read("/hilbert/c/secret"))
print(" ".join(r))' 2>&1)
is "$out" "yes no False yes no yes" "each call is checked against the current euid and groups (seteuid, setgroups at run time)"
done_testing
