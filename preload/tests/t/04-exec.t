# exec of programs and scripts stored under the prefix; state across exec.
. "$(dirname "$0")/../lib.sh"
mkdir -p "$BK/bin" "$BK/w"
printf '#!/bin/sh\necho "script $0 $*"\n' > "$BK/bin/s.sh"; chmod +x "$BK/bin/s.sh"
printf '#!/hilbert/bin/s.sh\n' > "$BK/bin/indirect"; chmod +x "$BK/bin/indirect"
cp /bin/echo "$BK/bin/myecho"
ln -s /bin/cat "$BK/bin/linked-cat"; printf '#!/hilbert/bin/linked-cat\nvia link\n' > "$BK/bin/vl"; chmod +x "$BK/bin/vl"
is "run a script under the prefix" "script /hilbert/bin/s.sh a b" hl env /hilbert/bin/s.sh a b
is "PATH entry under the prefix" "script /hilbert/bin/s.sh x" hl env PATH=/hilbert/bin:/usr/bin:/bin s.sh x
is "binary under the prefix" "hi" hl env /hilbert/bin/myecho hi
is "#! interpreter under the prefix that is a symlink out of it (a venv's bin/python)" "$(printf '#!/hilbert/bin/linked-cat\nvia link')" hl env /hilbert/bin/vl
is "bash runs a relative script in a virtual cwd" "script ./s.sh " hl bash -c 'cd /hilbert/bin && ./s.sh'
is "python subprocess (vfork) runs a virtual script" "script /hilbert/bin/s.sh q" hl python3 -c '
import subprocess; print(subprocess.run(["/hilbert/bin/s.sh", "q"], capture_output=True, text=True).stdout.strip())'
is "virtual cwd inherited across exec" "/hilbert/w" hl bash -c 'cd /hilbert/w && exec /bin/pwd'
is "env -i keeps the shim" "/hilbert/w" hl bash -c 'cd /hilbert/w && env -i HL_TEST_BACKING=$0 /bin/pwd' "$BK"
is "inherited write fd commits at child exit" "inherited" hl bash -c 'exec 3>/hilbert/w/out; bash -c "echo inherited >&3"; exec 3>&-; cat /hilbert/w/out'
ok "child with inherited write fd calls stop()" grep -q "stop fd=3" "$HL_TEST_LOG"
ok "close of a write fd calls release()" grep -q "release" "$HL_TEST_LOG"
is "system() in a virtual cwd" "/hilbert/w" hl python3 -c 'import os; os.chdir("/hilbert/w"); os.system("/bin/pwd")'
is "popen in a virtual cwd" "/hilbert/w" hl python3 -c 'import os; os.chdir("/hilbert/w"); print(os.popen("/bin/pwd").read().strip())'
done_testing
