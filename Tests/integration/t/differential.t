#!/usr/bin/env bash
# Differential tests (fakechroot style): each snippet runs in a native temp dir and in a dir
# under /hilbert; outputs, error messages and exit statuses must be identical.
. "$(dirname "$0")/../lib.sh"
hl_setup

differ "ENOENT, ENOTDIR, EISDIR, EEXIST, ENOTEMPTY from coreutils" '
cat missing; touch f; cat f/x; ls f/; mkdir d; cat d; mkdir d; touch d/x; rmdir d; rm d; echo > d; ls missing/x; echo rc=$?'
differ "rename edge cases" '
mkdir a b c; touch b/x f g
mv -T a c && ls -d c a 2>&1
mv -T c b; echo rc=$?
mv -T f b; echo rc=$?
mv -T b f; echo rc=$?
mv b b/sub; echo rc=$?
mv f g; ls; cat g; mv g g; echo rc=$?'
differ "python os.rename / os.replace errnos" '
python3 -c "
import os, errno
os.mkdir(\"d1\"); os.mkdir(\"d2\"); open(\"d2/x\", \"w\").close(); open(\"f\", \"w\").close(); os.mkdir(\"e\")
def t(fn, *a):
    try: fn(*a); print(fn.__name__, a, \"ok\")
    except OSError as e: print(fn.__name__, a, errno.errorcode[e.errno])
t(os.rename, \"d1\", \"d2\")
t(os.rename, \"f\", \"d1\")
t(os.rename, \"d1\", \"f\")
t(os.rename, \"d1\", \"d1/sub\")
os.makedirs(\"p/q/r\")
t(os.rename, \"p/q/r\", \"p\")
t(os.rename, \"p/q/r\", \"p/q\")
t(os.rename, \"d1\", \"e\")
t(os.rename, \"missing\", \"x\")
t(os.replace, \"f\", \"g\")
t(os.rmdir, \"d2\")
t(os.rmdir, \"g\")
t(os.unlink, \"d2\")
t(os.mkdir, \"g/sub\")
t(os.link, \"d2\", \"d3\")
t(os.symlink, \"g\", \"g\")
t(os.rmdir, \".\")
t(os.rmdir, \"d2/..\")
t(os.open, \"g/\", os.O_RDONLY)
t(os.open, \"d2\", os.O_WRONLY)
t(os.open, \"nodir/x\", os.O_CREAT | os.O_WRONLY)
t(os.open, \"g\", os.O_RDONLY | os.O_DIRECTORY)
t(os.open, \"g\", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
t(os.chdir, \"g\")
t(os.listdir, \"g\")
t(os.truncate, \"d2\", 0)
print(sorted(os.listdir(\".\")))
"'
differ "trailing slashes and dot components" '
mkdir -p a/b; touch a/f
ls -d a/ a/./b/ a/b/../b a//b; stat -c %F a/f/ 2>&1; mkdir a/c/ && ls a; rmdir a/c/; ls a; touch a/f/. ; echo rc=$?'
differ "symlink resolution" '
mkdir -p real/sub; echo data > real/sub/file; ln -s real link; ln -s sub/file real/rel; ln -s ../real/sub link2
cat link/sub/file link/rel link2/file; ls link link/ | tr "\n" " "; echo
cd link && pwd && pwd -P && cd .. ; readlink -f link/rel link2/../rel
ln -s missing dangling; cat dangling; ls -L dangling; stat -c %F dangling; rm link; ls real/sub'
differ "stat fields for files, dirs, links" '
umask 022; touch f; mkdir d; ln -s f l; mkfifo p 2>/dev/null || echo nofifo
chmod 741 f; chmod 2755 d; stat -c "%n %A %a %F %h %s" f d l
stat -L -c "%n %F" l; [ -p p ] && echo fifo'
differ "appends, truncation and holes with dd/truncate" '
printf abc > f; printf def >> f; cat f; echo; truncate -s 2 f; cat f; echo; truncate -s 6 f; od -An -c f
dd if=/dev/zero of=f bs=1 count=0 seek=10 status=none; stat -c %s f; printf Z | dd of=f bs=1 seek=3 conv=notrunc status=none; od -An -c f'
differ "directory listings: order-independent content, hidden files, many entries" '
mkdir d; for i in $(seq 1 300); do : > d/n$i; done; touch d/.h1 d/.h2; ls d | wc -l; ls -A d | wc -l; ls d | sort | md5sum
find d -name "n1*" | sort | head -3; rm d/n1*; ls d | wc -l'
differ "cp/mv/ln with -i/-n/-f semantics" '
echo one > a; echo two > b; cp -n a b; cat b; cp -f a b; cat b; ln -s a s; ln -sf b s; readlink s; mv -n a b; cat a; ln a b; echo rc=$?; ln -f a b; cat b'
differ "utimes and touch -r" '
touch -d "2000-01-01 00:00:00" a; touch -r a b; stat -c "%Y" a b; touch -m -d "2001-01-01" a; stat -c "%Y %X" a; python3 -c "import os; os.utime(\"b\", ns=(1, 123456789)); s = os.stat(\"b\"); print(s.st_atime_ns, s.st_mtime_ns)"'
differ "sed -i, sort -o, and in-place editors (rename over)" '
printf "b\na\nc\n" > f; sed -i s/a/A/ f; cat f; sort -o f f; cat f; ls'
differ "shell redirection corner cases" '
echo x > f; exec 3<f; rm f; cat <&3; exec 3<&-; ls; echo y > g; { read l; echo "$l"; } < g; echo z >> g; wc -l < g; : > g; wc -c < g'
differ "odd file names: spaces, newlines, UTF-8, leading dash, 255 bytes" '
touch "a b" "$(printf "new\nline")" "ünïcødé €" -- "-dash" "$(printf "%0255d" 0)"; touch "$(printf "%0256d" 0)"; echo rc=$?
ls | od -c | md5sum; ls -b | sort; for f in *; do printf "[%s]" "$f"; done | md5sum; rm -- -dash "a b"; ls | wc -l'
differ "deep trees and long paths" '
p=$(printf "d%02d/" $(seq 1 60)); mkdir -p "$p" && echo deep > "${p}f" && cat "${p}f" && find . -name f | wc -c
cd "$p" && pwd | sed "s|^$D|D|" | wc -c && cd ../../.. && pwd | sed "s|^$D|D|" | wc -c; cd "$D"; rm -r d01; ls'
differ "special files" '
mkfifo fifo && [ -p fifo ] && echo isfifo; (echo through > fifo &) ; cat fifo; stat -c "%F %a" fifo; rm fifo; ls'
differ "big directory: rm -rf of 5000 entries, readdir while unlinking" '
mkdir big; (cd big && seq -f "file-%05g" 1 5000 | xargs touch); ls big | wc -l; rm -rf big; ls
mkdir d2; (cd d2 && seq -f "e%04g" 1 3000 | xargs touch)
python3 -c "
import os
n = 0
for e in os.scandir(\"d2\"):
    os.unlink(e.path); n += 1
print(n, os.listdir(\"d2\"))
seen = {}
for i in range(2000): open(\"d2/k%d\" % i, \"w\").close()
for e in os.scandir(\"d2\"):
    seen[e.name] = seen.get(e.name, 0) + 1
    if e.name.endswith(\"0\"): os.rename(e.path, e.path + \"x\")
print(len([k for k in seen if not k.endswith(\"x\")]), max(v for k, v in seen.items() if not k.endswith(\"x\")))
"'

done_testing
