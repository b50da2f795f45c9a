# bash, coreutils and redirections inside the prefix.
. "$(dirname "$0")/../lib.sh"
mkdir -p "$BK/d/sub"; echo hello > "$BK/d/f"; ln -s /hilbert/d/f "$BK/d/abslink"
is "$(hl cat /hilbert/d/f 2>&1)" hello "cat"
is "$(hl bash -c 'echo x > /hilbert/d/x; echo y >> /hilbert/d/x; cat /hilbert/d/x | wc -l | tr -d "\n"; echo " $(head -1 < /hilbert/d/x)"' 2>&1)" "2 x" "redirection and pipeline"
is "$(hl bash -c 'cd /hilbert/d && echo "$(/bin/pwd) $(cat f)"' 2>&1)" "/hilbert/d hello" "cd and relative paths"
is "$(hl bash -c 'cd /hilbert && cd .. && /bin/pwd' 2>&1)" "/" "cd .. leaves the mount"
is "$(hl cat /hilbert/../etc/hostname 2>&1)" "$(cat /etc/hostname)" "redirect above the root"
is "$(hl cat /hilbert/d/abslink 2>&1)" hello "absolute symlink inside the mount"
ok "ls -l" hl bash -c 'ls -l /hilbert/d | grep -q " f$"'
is "$(hl bash -c 'mkdir -p /hilbert/a/b/c && [ -d "$0/a/b/c" ] || echo missing' "$BK" 2>&1)" "" "mkdir -p"
is "$(hl bash -c 'touch /hilbert/d/t && stat -c %F /hilbert/d/t' 2>&1)" "regular empty file" "touch + stat"
is "$(hl bash -c 'chmod 700 /hilbert/d/t && stat -c %a /hilbert/d/t' 2>&1)" "700" "chmod"
is "$(hl bash -c 'ln /hilbert/d/f /hilbert/d/hard && ln -s f /hilbert/d/soft && echo "$(cat /hilbert/d/hard) $(cat /hilbert/d/soft) $(stat -c %h /hilbert/d/f)"' 2>&1)" "hello hello 2" "ln and ln -s"
is "$(hl readlink /hilbert/d/soft 2>&1)" "f" "readlink"
is "$(hl bash -c 'mv /hilbert/d/hard /hilbert/d/moved && cat /hilbert/d/moved && [ ! -e /hilbert/d/hard ]' 2>&1)" "hello" "mv"
is "$(hl bash -c 'cp -a /hilbert/d /hilbert/d2 && cp -a /hilbert/d2 "$0/out" && cat "$0/out/f"' "$BK.shadow" 2>&1)" "hello" "cp -a into and out of the prefix"
is "$(hl find /hilbert/d2 -name f 2>&1)" "/hilbert/d2/f" "find"
ok "du" hl bash -c 'du -s /hilbert/d2 | grep -q "/hilbert/d2"'
ok "df" hl bash -c 'df /hilbert | tail -1 | grep -q /hilbert'
is "$(hl bash -c 'rm -r /hilbert/d2 && [ ! -e /hilbert/d2 ] && [ ! -e "$0/d2" ] && echo gone' "$BK" 2>&1)" "gone" "rm -r"
is "$(hl bash -c 'ln -sfn /hilbert/d "$0/link" && cat "$0/link/f"' "$BK.shadow" 2>&1)" "hello" "host symlink into the prefix"
is "$(hl env HILBERT_HOST_LINKS=0 bash -c 'cat "$0/link/f" 2>/dev/null || echo fail' "$BK.shadow" 2>&1)" "fail" "HILBERT_HOST_LINKS=0 disables the check"
is "$(hl python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
try: s.bind("/hilbert"); print("bound")
except OSError: print("refused")' 2>&1)" "refused" "bind of a unix socket in the prefix"
is "$(bash -c '[ -e /hilbert ] && echo present || echo absent' 2>&1)" "absent" "prefix never created on the host"
is "$(hl cat /etc/hostname 2>&1)" "$(cat /etc/hostname)" "host paths unaffected"
is "$(hl bash -c 'cat /nonexistent/x 2>&1 | sed "s/.*: //"' 2>&1)" "No such file or directory" "host ENOENT stays ENOENT"
is "$(hl bash -c 'cd /hilbert/d && echo *' 2>&1)" "abslink f moved soft sub t x" "glob in bash"
done_testing
