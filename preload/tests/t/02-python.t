# python3 file APIs, tempfile, subprocess (vfork).
. "$(dirname "$0")/../lib.sh"
mkdir -p "$BK/p/src/a"; echo one > "$BK/p/src/a/1"; echo two > "$BK/p/src/2"
py() { hl python3 -c "$1"; }
is "$(py 'open("/hilbert/p/w","w").write("hello"); print(open("/hilbert/p/w").read())' 2>&1)" "hello" "open/read/write"
is "$(py 'import os; print(sorted(e.name for e in os.scandir("/hilbert/p/src")))' 2>&1)" "['2', 'a']" "scandir"
is "$(py 'import os; print(sum(1 + len(f) for _, d, f in os.walk("/hilbert/p/src")))' 2>&1)" "4" "walk"
is "$(py '
import shutil, os
shutil.copytree("/hilbert/p/src", "/hilbert/p/copy")
print(open("/hilbert/p/copy/a/1").read().strip(), end=" ")
shutil.rmtree("/hilbert/p/copy"); print(not os.path.exists("/hilbert/p/copy"))' 2>&1)" "one True" "copytree/rmtree"
is "$(py '
from pathlib import Path
p = Path("/hilbert/p/src")
print([x.name for x in (p / "a").iterdir()], (p / "2").read_text().strip())' 2>&1)" "['1'] two" "pathlib"
is "$(hl env TMPDIR=/hilbert/p python3 -c '
import tempfile, os
print(tempfile.gettempdir() == "/hilbert/p", end=" ")
with tempfile.NamedTemporaryFile(dir=None) as f:
    f.write(b"x"); f.flush(); print(os.path.exists(f.name))' 2>&1)" "True True" "tempfile with TMPDIR in the prefix"
is "$(py '
import subprocess, os
os.chdir("/hilbert/p/src")
print(subprocess.run(["ls"], capture_output=True, text=True).stdout.replace("\n", " ").strip())' 2>&1)" "2 a" "subprocess in a virtual cwd"
is "$(py 'import os; os.chdir("/hilbert/p/src/a"); print(os.getcwd())' 2>&1)" "/hilbert/p/src/a" "os.getcwd / chdir"
is "$(py 'import os; print(os.path.realpath("/hilbert/p/src/a/.."))' 2>&1)" "/hilbert/p/src" "realpath"
# os.closerange is close_range(2): a write fd it closes goes to release(), as by close().
py 'import os; fd = os.open("/hilbert/p/cr", os.O_WRONLY | os.O_CREAT, 0o644); os.closerange(fd, fd + 1)' >"$BK.shadow/cr.out" 2>&1 || diag "$(cat "$BK.shadow/cr.out")"
ok "os.closerange of a write fd calls release()" grep -q "release ino=$(stat -c %i "$BK/p/cr")\$" "$HL_TEST_LOG"
done_testing
