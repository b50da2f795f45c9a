# python3 file APIs, tempfile, subprocess (vfork).
. "$(dirname "$0")/../lib.sh"
mkdir -p "$BK/p/src/a"; echo one > "$BK/p/src/a/1"; echo two > "$BK/p/src/2"
py() { hl python3 -c "$1"; }
is "open/read/write" "hello" py 'open("/hilbert/p/w","w").write("hello"); print(open("/hilbert/p/w").read())'
is "scandir" "['2', 'a']" py 'import os; print(sorted(e.name for e in os.scandir("/hilbert/p/src")))'
is "walk" "4" py 'import os; print(sum(1 + len(f) for _, d, f in os.walk("/hilbert/p/src")))'
is "copytree/rmtree" "one True" py '
import shutil, os
shutil.copytree("/hilbert/p/src", "/hilbert/p/copy")
print(open("/hilbert/p/copy/a/1").read().strip(), end=" ")
shutil.rmtree("/hilbert/p/copy"); print(not os.path.exists("/hilbert/p/copy"))'
is "pathlib" "['1'] two" py '
from pathlib import Path
p = Path("/hilbert/p/src")
print([x.name for x in (p / "a").iterdir()], (p / "2").read_text().strip())'
is "tempfile with TMPDIR in the prefix" "True True" hl env TMPDIR=/hilbert/p python3 -c '
import tempfile, os
print(tempfile.gettempdir() == "/hilbert/p", end=" ")
with tempfile.NamedTemporaryFile(dir=None) as f:
    f.write(b"x"); f.flush(); print(os.path.exists(f.name))'
is "subprocess in a virtual cwd" "2 a" py '
import subprocess, os
os.chdir("/hilbert/p/src")
print(subprocess.run(["ls"], capture_output=True, text=True).stdout.replace("\n", " ").strip())'
is "os.getcwd / chdir" "/hilbert/p/src/a" py 'import os; os.chdir("/hilbert/p/src/a"); print(os.getcwd())'
is "realpath" "/hilbert/p/src" py 'import os; print(os.path.realpath("/hilbert/p/src/a/.."))'
done_testing
