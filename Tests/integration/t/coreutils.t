#!/usr/bin/env bash
# coreutils under the shim: cp -a round trip, mv, rm -r, ls -l, find, du, stat, touch -d,
# ln, ln -s, readlink -f, chmod, mkdir -p, df, cat/wc/sort/head/tail, dd (sparse, > 4 GiB),
# mktemp.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup

# a real tree on the host
src="$HL_TMP/src"
mkdir -p "$src/a/b/c" "$src/empty" "$src/x"
for i in $(seq 1 40); do echo "file $i" > "$src/a/f$i.txt"; done
head -c 300000 /dev/urandom > "$src/a/b/big.bin"
head -c 20000 /dev/urandom > "$src/a/b/c/mid.bin"
: > "$src/zero"
printf 'exec\n' > "$src/x/run.sh"; chmod 755 "$src/x/run.sh"; chmod 600 "$src/a/f1.txt"; chmod 750 "$src/a/b/c"
ln -s ../a/f2.txt "$src/x/link"; ln "$src/a/f3.txt" "$src/x/hard"
touch -d '2001-02-03 04:05:06' "$src/a/f4.txt"
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
meta() { (cd "$1" && find . -type d -printf '%p %y %m\n' -o -printf '%p %y %m %s %l\n' | sort); }   # no dir sizes: fs-specific
metat() { (cd "$1" && find . ! -type l -printf '%p %TY-%Tm-%Td %TH:%TM:%.2TS\n' | sort); }

ok "cp -a a host tree into the prefix" hl cp -a "$src" /hilbert/tree
is "$(hl bash -c "$(declare -f sums); sums /hilbert/tree" 2>&1)" "$(sums "$src")" "sha256 of every file equal in the prefix"
is "$(hl bash -c "$(declare -f meta); meta /hilbert/tree" 2>&1)" "$(meta "$src")" "types, modes, sizes, symlink targets preserved by cp -a"
is "$(hl bash -c "$(declare -f metat); metat /hilbert/tree" 2>&1)" "$(metat "$src")" "mtimes preserved by cp -a"
rm -rf "$HL_TMP/back"
ok "cp -a the tree back out" hl cp -a /hilbert/tree "$HL_TMP/back"
is "$(sums "$HL_TMP/back")" "$(sums "$src")" "sha256 equal after the round trip"
is "$(meta "$HL_TMP/back")" "$(meta "$src")" "metadata equal after the round trip"
is "$(hl stat -c %h /hilbert/tree/x/hard 2>&1)" "2" "cp -a preserved the hard link (nlink 2)"
is "$(hl cp -a /hilbert/tree /hilbert/tree2 2>&1; hl diff -r /hilbert/tree /hilbert/tree2 2>&1; echo rc=$?)" "rc=0" "cp -a inside the prefix, diff -r equal"

# mv, rm -r
out=$(hlsh 'cd /hilbert && mv tree2/a/f5.txt tree2/moved && cat tree2/moved && [ ! -e tree2/a/f5.txt ] && mv tree2/a tree2/x/ && ls tree2/x && mv tree2/moved "$HL_TMP/moved-out" && cat "$HL_TMP/moved-out"' 2>&1)
is "$out" $'file 5\na\nhard\nlink\nrun.sh\nfile 5' "mv files and dirs inside the prefix and out of it"
out=$(hl bash -c 'echo in > "$HL_TMP/host-in"; mv "$HL_TMP/host-in" /hilbert/came-in && cat /hilbert/came-in && [ ! -e "$HL_TMP/host-in" ] && echo gone' 2>&1)
is "$out" $'in\ngone' "mv a host file into the prefix (cross-device copy+unlink)"
ok "rm -r a tree" hl rm -r /hilbert/tree2
is "$(hl ls /hilbert 2>&1)" $'came-in\ntree' "rm -r removed everything"
out=$(hl rm /hilbert/tree 2>&1); like "$out" "Is a directory" "rm on a dir fails with EISDIR"
out=$(hl rmdir /hilbert/tree 2>&1); like "$out" "not empty" "rmdir of a non-empty dir fails with ENOTEMPTY"

# ls -l, find, du, stat
out=$(hl ls -l /hilbert/tree/x 2>&1)
like "$out" '^-rw-r--r-- +2 root root +7 .* hard' "ls -l shows mode, nlink, owner, size"
like "$out" 'lrwxrwxrwx +1 root root +11 .* link -> \.\./a/f2\.txt' "ls -l shows a symlink"
like "$out" '-rwxr-xr-x .* run\.sh' "ls -l shows the x bits"
is "$(hl ls -ld /hilbert/tree/a/b/c 2>&1 | cut -c1-10)" "drwxr-x---" "ls -ld of a 0750 dir"
out=$(hl find /hilbert/tree -type d 2>&1 | sort | tr '\n' ' ')
is "$out" "/hilbert/tree /hilbert/tree/a /hilbert/tree/a/b /hilbert/tree/a/b/c /hilbert/tree/empty /hilbert/tree/x " "find -type d"
is "$(hl find /hilbert/tree -type l 2>&1)" "/hilbert/tree/x/link" "find -type l"
is "$(hl find /hilbert/tree -name 'f1*.txt' 2>&1 | sort | wc -l)" "11" "find -name with a pattern"
is "$(hl find /hilbert/tree -type f -size +100k 2>&1)" "/hilbert/tree/a/b/big.bin" "find -size"
is "$(hl find /hilbert/tree -type f -empty 2>&1)" "/hilbert/tree/zero" "find -empty"
out=$(hlsh 'mkdir /hilbert/nw && touch -d 2019-01-01 /hilbert/nw/old1 /hilbert/nw/old2 && touch -d 2020-01-01 /hilbert/nw/ref && touch -d 2021-01-01 /hilbert/nw/new && find /hilbert/nw -newer /hilbert/nw/ref -type f' 2>&1)
is "$out" "/hilbert/nw/new" "find -newer"
out=$(hl du -sk /hilbert/tree 2>&1 | cut -f1)
if [ -n "$out" ] && [ "$out" -ge 300 ] 2>/dev/null; then pass "du -s counts the data (${out}k)"; else fail "du -s counts the data" "got '$out', expected >= 300 KiB"; fi
is "$(hl du -sb /hilbert/tree/a/b/c/mid.bin /hilbert/tree/a/b/big.bin 2>&1 | cut -f1 | tr '\n' ' ')" "20000 300000 " "du -b (apparent sizes) of files"
is "$(hl stat -c '%s %a %F %U:%G %h' /hilbert/tree/a/b/big.bin 2>&1)" "300000 644 regular file root:root 1" "stat -c size/mode/type/owner/nlink"
is "$(hl stat -c '%F %a' /hilbert/tree/a/b/c 2>&1)" "directory 750" "stat -c of a dir"
is "$(hl stat -c '%Y' /hilbert/tree/a/f4.txt 2>&1)" "$(date -d '2001-02-03 04:05:06' +%s)" "stat -c %Y after cp -a"
out=$(hlsh 'touch -d "1999-12-31 23:59:58" /hilbert/t1; stat -c %y /hilbert/t1; touch -m -d @1234567890.5 /hilbert/t1; stat -c "%Y %y" /hilbert/t1; touch -a -d @1000000000 /hilbert/t1; stat -c %X /hilbert/t1' 2>&1)
is "$out" $'1999-12-31 23:59:58.000000000 +0000\n1234567890 2009-02-13 23:31:30.500000000 +0000\n1000000000' "touch -d / -m / -a with sub-second times"
ino1=$(hl stat -c %i /hilbert/tree/a/f1.txt 2>&1); ino2=$(hl stat -c %i /hilbert/tree/a/f1.txt 2>&1)
is "$ino1" "$ino2" "inode numbers are stable across runs"
like "$(hl stat -f -c '%T' /hilbert 2>&1)" "." "stat -f on the prefix answers"

# ln, ln -s, readlink -f
out=$(hlsh 'cd /hilbert && echo data > orig && ln orig hl1 && ln -s orig sl1 && ln -s /hilbert/tree/a sl2 && stat -c "%h %i" orig | cut -d" " -f1 && [ $(stat -c %i orig) = $(stat -c %i hl1) ] && echo sameino && cat hl1 sl1 && readlink sl1 && readlink -f sl1 && readlink -f sl2/b/../f7.txt && ls sl2/b' 2>&1)
is "$out" $'2\nsameino\ndata\ndata\norig\n/hilbert/orig\n/hilbert/tree/a/f7.txt\nbig.bin\nc' "ln, ln -s, readlink, readlink -f"
out=$(hlsh 'cd /hilbert && ln -s dangling dl; readlink dl; cat dl; [ -L dl ] && echo islink; ln orig hl1' 2>&1)
like "$out" $'^dangling\n.*No such file.*\nislink\n.*File exists' "dangling symlink, [ -L ], ln onto an existing name fails EEXIST"
out=$(hl ln /hilbert/orig "$HL_TMP/xdev-link" 2>&1); like "$out" "Invalid cross-device link" "hard link out of the prefix fails with EXDEV"

# chmod, mkdir -p
out=$(hlsh 'cd /hilbert && chmod 640 orig && stat -c %a orig && chmod u+x,g-r orig && stat -c %a orig && chmod -R go-rwx tree && stat -c %a tree/a/b/big.bin tree/a && chmod 4755 orig && stat -c %A orig' 2>&1)
is "$out" $'640\n700\n600\n700\n-rwsr-xr-x' "chmod octal, symbolic, -R, setuid"
out=$(hlsh 'mkdir -p /hilbert/p/q/r/s && mkdir -p /hilbert/p/q && ls -R /hilbert/p | grep -c :; mkdir /hilbert/p 2>&1; mkdir -m 711 /hilbert/m711 && stat -c %a /hilbert/m711; (umask 077; mkdir /hilbert/um; stat -c %a /hilbert/um)' 2>&1)
like "$out" $'^4\n.*File exists\n711\n700$' "mkdir -p, mkdir on existing (EEXIST), mkdir -m, umask"

# df
out=$(hl df /hilbert 2>&1)
like "$out" '/hilbert$' "df /hilbert names the mount"
out=$(hl df -P /hilbert 2>&1 | tail -1 | awk '{print ($2 > 0) ? "size" : "nosize"}'); is "$out" "size" "df reports a non-zero size"

# cat, wc, sort, head, tail
seq 1 20000 | sort -R --random-source=<(yes) > "$HL_TMP/shuf.txt"
ok "copy a host file in with cat" hl bash -c 'cat "$HL_TMP/shuf.txt" > /hilbert/shuf.txt'
is "$(hl wc -l /hilbert/shuf.txt 2>&1)" "20000 /hilbert/shuf.txt" "wc -l"
is "$(hl wc -c < "$HL_TMP/shuf.txt"; hl wc -c /hilbert/shuf.txt 2>&1 | cut -d' ' -f1)" "$(wc -c < "$HL_TMP/shuf.txt"; wc -c < "$HL_TMP/shuf.txt")" "wc -c"
is "$(hl sort -n /hilbert/shuf.txt 2>&1 | md5sum)" "$(seq 1 20000 | md5sum)" "sort -n reads the file"
is "$(hl sort -n -o /hilbert/sorted.txt /hilbert/shuf.txt 2>&1; hl md5sum < /dev/null >/dev/null; hl cat /hilbert/sorted.txt | md5sum)" "$(seq 1 20000 | md5sum)" "sort -o writes into the prefix"
is "$(hl head -n 3 /hilbert/sorted.txt 2>&1 | tr '\n' ' ')" "1 2 3 " "head -n"
is "$(hl tail -n 2 /hilbert/sorted.txt 2>&1 | tr '\n' ' ')" "19999 20000 " "tail -n"
is "$(hl tail -c 6 /hilbert/sorted.txt 2>&1)" "20000" "tail -c (seek near the end)"
is "$(hl head -c 4 /hilbert/tree/a/b/big.bin | od -An -tx1; echo)" "$(head -c 4 "$src/a/b/big.bin" | od -An -tx1; echo)" "head -c of a binary file"

# dd
out=$(hlsh 'dd if=/dev/zero of=/hilbert/dd1 bs=64k count=16 status=none && stat -c %s /hilbert/dd1 && printf XYZ | dd of=/hilbert/dd1 bs=1 seek=100 conv=notrunc status=none && dd if=/hilbert/dd1 bs=1 skip=99 count=5 status=none | od -An -c | tr -s " "' 2>&1)
is "$out" $'1048576\n \\0 X Y Z \\0' "dd write, seek+conv=notrunc, skip"
out=$(hlsh 'printf END | dd of=/hilbert/sparse bs=1M seek=8 status=none; stat -c %s /hilbert/sparse; dd if=/hilbert/sparse bs=1M count=8 status=none | tr -d "\0" | wc -c; tail -c 3 /hilbert/sparse' 2>&1)
is "$out" $'8388611\n0\nEND' "dd seek= makes a sparse file that reads back zeros"
out=$(hl stat -c '%s %b %B' /hilbert/sparse 2>&1 | awk '{print $1, ($2*$3 < 4194304) ? "sparse" : "dense(" $2*$3 ")"}')
is "$out" "8388611 sparse" "the hole does not count in st_blocks"
out=$(hlsh 'truncate -s 5G /hilbert/huge && stat -c %s /hilbert/huge && printf TAILDATA | dd of=/hilbert/huge bs=1 seek=$((5*1024*1024*1024)) conv=notrunc status=none && stat -c %s /hilbert/huge && tail -c 8 /hilbert/huge && echo' 2>&1)
is "$out" $'5368709120\n5368709128\nTAILDATA' "truncate -s 5G then write past 4 GiB"
out=$(hlsh 'tail -c 8 /hilbert/huge; echo; dd if=/hilbert/huge bs=1M skip=4095 count=2 status=none | tr -d "\0" | wc -c; dd if=/hilbert/huge bs=4 skip=$((5*256*1024*1024 - 1)) count=3 status=none | od -An -c | tr -s " "' 2>&1)
is "$out" $'TAILDATA\n0\n \\0 \\0 \\0 \\0 T A I L D A T A' "> 4 GiB sparse file read back in a new run (tail, hole, offset > 4 GiB)"
ok "rm the 5 GiB file" hl rm /hilbert/huge
out=$(hlsh 'head -c 4194304 /dev/urandom > /hilbert/src4m; dd if=/hilbert/src4m of=/hilbert/direct bs=1M oflag=direct status=none && dd if=/hilbert/direct bs=1M iflag=direct status=none | cmp - /hilbert/src4m && echo direct-ok' 2>&1)
is "$out" "direct-ok" "dd with O_DIRECT (oflag/iflag=direct) into and out of the prefix"
out=$(hlsh 'fallocate -l 10M /hilbert/fa && stat -c %s /hilbert/fa && fallocate -p -o 1024 -l 2048 /hilbert/direct && cmp -n 1024 /hilbert/direct /hilbert/src4m && dd if=/hilbert/direct bs=1024 skip=1 count=2 status=none | tr -d "\0" | wc -c && cmp -i 3072 /hilbert/direct /hilbert/src4m && echo rest-same; sync /hilbert/fa && sync -f /hilbert/fa && echo synced' 2>&1)
is "$out" $'10485760\n0\nrest-same\nsynced' "fallocate -l, fallocate -p (punch hole), sync FILE, sync -f"

# mktemp
out=$(hlsh 'f=$(mktemp -p /hilbert) && echo "$f" && stat -c %a "$f" && echo x > "$f" && cat "$f"; d=$(mktemp -d -p /hilbert tmp.XXXXXXXX) && stat -c %a "$d"; TMPDIR=/hilbert mktemp' 2>&1)
like "$out" $'^/hilbert/tmp\\.[A-Za-z0-9]{10}\n600\nx\n700\n/hilbert/tmp\\.' "mktemp -p /hilbert, mktemp -d, TMPDIR"

differ "ls/stat/find on a small tree" 'mkdir -p a/b; echo 1 > a/one; echo 22 > a/b/two; ln -s one a/l; chmod 640 a/one; ls -la a | awk "{print \$1, \$2, \$NF}" | grep -v "^total"; find . | sort; stat -c "%n %s %a %F" a/one a/l; stat -c "%n %a %F %h" a/b; wc -c a/one a/b/two'
differ "mv/cp/rm error messages" 'mkdir d; touch f; mv f d/; ls d; cp nosuch x; rm -r d; rm nosuch; ls; cp -r d e; mkdir -p a/b; rmdir a; echo rc=$?'
differ "head/tail/sort/uniq/cut/tr pipeline" 'seq 50 | sort -r > n; head -3 n; tail -3 n; sort -n n | uniq | wc -l; printf "a:b\nc:d\n" > c; cut -d: -f2 c; tr a-z A-Z < c > C; cat C; cmp c C; echo rc=$?'

done_testing
