# bash, coreutils and redirections inside the prefix.
. "$(dirname "$0")/../lib.sh"
mkdir -p "$BK/d/sub"; echo hello > "$BK/d/f"; ln -s /hilbert/d/f "$BK/d/abslink"
is "cat" hello hl cat /hilbert/d/f
is "redirection and pipeline" "2 x" hl bash -c 'echo x > /hilbert/d/x; echo y >> /hilbert/d/x; cat /hilbert/d/x | wc -l | tr -d "\n"; echo " $(head -1 < /hilbert/d/x)"'
is "cd and relative paths" "/hilbert/d hello" hl bash -c 'cd /hilbert/d && echo "$(/bin/pwd) $(cat f)"'
is "cd .. leaves the mount" "/" hl bash -c 'cd /hilbert && cd .. && /bin/pwd'
is "redirect above the root" "$(cat /etc/hostname)" hl cat /hilbert/../etc/hostname
is "absolute symlink inside the mount" hello hl cat /hilbert/d/abslink
ok "ls -l" hl bash -c 'ls -l /hilbert/d | grep -q " f$"'
is "mkdir -p" "" hl bash -c 'mkdir -p /hilbert/a/b/c && [ -d "$0/a/b/c" ] || echo missing' "$BK"
is "touch + stat" "regular empty file" hl bash -c 'touch /hilbert/d/t && stat -c %F /hilbert/d/t'
is "chmod" "700" hl bash -c 'chmod 700 /hilbert/d/t && stat -c %a /hilbert/d/t'
is "ln and ln -s" "hello hello 2" hl bash -c 'ln /hilbert/d/f /hilbert/d/hard && ln -s f /hilbert/d/soft && echo "$(cat /hilbert/d/hard) $(cat /hilbert/d/soft) $(stat -c %h /hilbert/d/f)"'
is "readlink" "f" hl readlink /hilbert/d/soft
is "mv" "hello" hl bash -c 'mv /hilbert/d/hard /hilbert/d/moved && cat /hilbert/d/moved && [ ! -e /hilbert/d/hard ]'
is "cp -a into and out of the prefix" "hello" hl bash -c 'cp -a /hilbert/d /hilbert/d2 && cp -a /hilbert/d2 "$0/out" && cat "$0/out/f"' "$BK.shadow"
is "find" "/hilbert/d2/f" hl find /hilbert/d2 -name f
ok "du" hl bash -c 'du -s /hilbert/d2 | grep -q "/hilbert/d2"'
ok "df" hl bash -c 'df /hilbert | tail -1 | grep -q /hilbert'
is "rm -r" "gone" hl bash -c 'rm -r /hilbert/d2 && [ ! -e /hilbert/d2 ] && [ ! -e "$0/d2" ] && echo gone' "$BK"
is "host symlink into the prefix" "hello" hl bash -c 'ln -sfn /hilbert/d "$0/link" && cat "$0/link/f"' "$BK.shadow"
is "HILBERT_HOST_LINKS=0 disables the check" "fail" hl env HILBERT_HOST_LINKS=0 bash -c 'cat "$0/link/f" 2>/dev/null || echo fail' "$BK.shadow"
is "bind of a unix socket in the prefix" "refused" hl python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
try: s.bind("/hilbert"); print("bound")
except OSError: print("refused")'
is "prefix never created on the host" "absent" bash -c '[ -e /hilbert ] && echo present || echo absent'
is "host paths unaffected" "$(cat /etc/hostname)" hl cat /etc/hostname
is "host ENOENT stays ENOENT" "No such file or directory" hl bash -c 'cat /nonexistent/x 2>&1 | sed "s/.*: //"'
is "glob in bash" "abslink f moved soft sub t x" hl bash -c 'cd /hilbert/d && echo *'
done_testing
