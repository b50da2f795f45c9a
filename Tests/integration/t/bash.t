#!/usr/bin/env bash
# bash under the shim: redirections (open→dup2→close→exec), appends, pipelines, here-docs,
# read, the virtual cwd, tests, globbing, scripts stored in the prefix, fd juggling.
. "$(dirname "$0")/../lib.sh"
hl_setup

# echo > file: bash opens, dup2s onto 1, closes the original and runs the builtin/exec
out=$(hlsh 'echo hello > /hilbert/f && cat /hilbert/f'); is "$out" "hello" "echo > /hilbert/f then cat in the same run"
is "$(hl cat /hilbert/f 2>&1)" "hello" "data of echo > survives into the next run"
out=$(hlsh '/bin/echo external > /hilbert/g'; hl cat /hilbert/g 2>&1); is "$out" "external" "exec'd /bin/echo with stdout redirected into the prefix"

out=$(hlsh 'echo one > /hilbert/app; echo two >> /hilbert/app; /bin/echo three >> /hilbert/app; cat /hilbert/app' 2>&1)
is "$out" $'one\ntwo\nthree' ">> appends (builtin and exec'd)"
is "$(hl cat /hilbert/app 2>&1)" $'one\ntwo\nthree' ">> appends persisted"

# pipelines
out=$(hlsh 'seq 100000 | gzip > /hilbert/x.gz && zcat /hilbert/x.gz | md5sum' 2>&1)
is "$out" "$(seq 100000 | md5sum)" "seq | gzip > /hilbert/x.gz; zcat gives back the input"
out=$(hlsh 'zcat < /hilbert/x.gz | tail -1; gzip -t /hilbert/x.gz && echo intact' 2>&1)
is "$out" $'100000\nintact' "zcat < file and gzip -t"
out=$(hlsh 'seq 1000 | tee /hilbert/tee.txt | wc -l; wc -l < /hilbert/tee.txt' 2>&1)
is "$out" $'1000\n1000' "tee into the prefix"

# here-docs and here-strings
out=$(hlsh 'cat > /hilbert/here.txt <<X
line 1
line $((1+1))
X
cat /hilbert/here.txt; cat <<< "herestring" > /hilbert/hs; cat /hilbert/hs' 2>&1)
is "$out" $'line 1\nline 2\nherestring' "here-doc and here-string into files"

# read < file, while read loop
out=$(hlsh 'printf "alpha beta\ngamma\n" > /hilbert/r; read a b < /hilbert/r; echo "$b $a"; n=0; while read l; do n=$((n+1)); done < /hilbert/r; echo $n' 2>&1)
is "$out" $'beta alpha\n2' "read < file and while-read loop"

# the virtual cwd
out=$(hlsh 'mkdir -p /hilbert/d/sub && cd /hilbert/d && pwd && touch a b && ls && cd sub && pwd && cd .. && pwd' 2>&1)
is "$out" $'/hilbert/d\na\nb\nsub\n/hilbert/d/sub\n/hilbert/d' "cd into the prefix, pwd, ls"
out=$(hlsh 'cd /hilbert/d && echo rel > relfile && cat ./relfile && cat sub/../relfile && ls -d ../d && /bin/pwd && cat /hilbert/d/relfile' 2>&1)
is "$out" $'rel\nrel\n../d\n/hilbert/d\nrel' "relative paths resolve against the virtual cwd (builtins and exec'd programs)"
out=$(hlsh 'cd /hilbert/d/sub && cd ../.. && pwd && cd /tmp && pwd && cd - >/dev/null && pwd' 2>&1)
is "$out" $'/hilbert\n/tmp\n/hilbert' "cd .. inside the prefix, out to /tmp and back"
out=$(hlsh 'cd /hilbert && cd .. && pwd && ls -d tmp' 2>&1)
is "$out" $'/\ntmp' "cd .. from the mount root leaves the prefix"
out=$(hlsh 'cd /hilbert/d; bash -c "pwd; cat relfile"' 2>&1)
is "$out" $'/hilbert/d\nrel' "a child process inherits the virtual cwd"
out=$(hlsh 'cd /hilbert/nonexistent' 2>&1); like "$out" "No such file or directory" "cd to a missing dir fails with ENOENT"

# tests
out=$(hlsh 'for p in /hilbert/f /hilbert/d /hilbert/missing; do [ -f $p ] && echo f; [ -d $p ] && echo d; [ -e $p ] || echo none; done; [ -s /hilbert/f ] && echo s; [ -r /hilbert/f ] && [ -w /hilbert/f ] && echo rw; [ -x /hilbert/f ] || echo noexec' 2>&1)
is "$out" $'f\nd\nnone\ns\nrw\nnoexec' "[ -f ] [ -d ] [ -e ] [ -s ] [ -r ] [ -w ] [ -x ]"
out=$(hlsh '[ /hilbert/f -nt /hilbert/missing ] && echo newer; [ /hilbert/f -ef /hilbert/f ] && echo same' 2>&1)
is "$out" $'newer\nsame' "[ -nt ] and [ -ef ]"

# globbing
out=$(hlsh 'mkdir /hilbert/gl; touch /hilbert/gl/b.txt /hilbert/gl/a.txt /hilbert/gl/c.log /hilbert/gl/.hidden; echo /hilbert/gl/*; echo /hilbert/gl/*.txt; cd /hilbert/gl && echo *; shopt -s dotglob; echo *; shopt -s nullglob; echo none: /hilbert/gl/*.zzz' 2>&1)
is "$out" $'/hilbert/gl/a.txt /hilbert/gl/b.txt /hilbert/gl/c.log\n/hilbert/gl/a.txt /hilbert/gl/b.txt\na.txt b.txt c.log\n.hidden a.txt b.txt c.log\nnone:' "globbing in the prefix"

# scripts stored in the prefix
out=$(hlsh 'mkdir -p /hilbert/bin && printf "#!/bin/bash\necho script \"\$@\" from \$(dirname \$0)\n" > /hilbert/bin/hello && chmod +x /hilbert/bin/hello && /hilbert/bin/hello a b' 2>&1)
is "$out" "script a b from /hilbert/bin" "run a #!/bin/bash script by path"
out=$(hlsh 'PATH=/hilbert/bin:$PATH; hello via-path; type -P hello' 2>&1)
is "$out" $'script via-path from /hilbert/bin\n/hilbert/bin/hello' "run a script via PATH"
out=$(hlsh 'cd /hilbert/bin && ./hello rel' 2>&1)
is "$out" "script rel from ." "run ./script in the virtual cwd"
out=$(hlsh 'printf "echo sourced \$1\n" > /hilbert/lib.sh; . /hilbert/lib.sh x; bash /hilbert/lib.sh y' 2>&1)
is "$out" $'sourced x\nsourced y' "source a file and bash FILE from the prefix"
out=$(hlsh 'printf "#!/bin/bash\necho no\n" > /hilbert/bin/noexec; chmod 0644 /hilbert/bin/noexec; /hilbert/bin/noexec' 2>&1)
like "$out" "Permission denied" "a script without x bit is not executable (EACCES)"
out=$(hlsh 'printf "#!/usr/bin/env python3\nimport sys; print(\"py\", sys.argv[1])\n" > /hilbert/bin/p.py; chmod 755 /hilbert/bin/p.py; /hilbert/bin/p.py arg' 2>&1)
is "$out" "py arg" "#!/usr/bin/env python3 script in the prefix"

# fd juggling
out=$(hlsh 'exec 3>/hilbert/fd3; echo first >&3; echo second >&3; exec 3>&-; cat /hilbert/fd3' 2>&1)
is "$out" $'first\nsecond' "exec 3>/hilbert/f, write twice, close"
out=$(hlsh 'exec 4</hilbert/fd3; read -u 4 l1; read -u 4 l2; exec 4<&-; echo "$l2/$l1"' 2>&1)
is "$out" "second/first" "exec 4< file; read -u 4"
out=$(hlsh 'exec 5<>/hilbert/rw; echo abc >&5; exec 6>&5; echo def >&6; exec 5>&- 6>&-; cat /hilbert/rw' 2>&1)
is "$out" $'abc\ndef' "<> and dup'd fd share the offset"
out=$(hlsh 'exec 3>/hilbert/inherit; bash -c "echo from-child >&3"; echo from-parent >&3; exec 3>&-; cat /hilbert/inherit' 2>&1)
is "$out" $'from-child\nfrom-parent' "an fd into the prefix inherited over fork+exec"
out=$(hlsh '{ echo out; echo err >&2; } > /hilbert/both 2>&1; cat /hilbert/both' 2>&1)
is "$out" $'out\nerr' "> file 2>&1"
out=$(hlsh 'ls /hilbert/missing 2> /hilbert/errlog; cat /hilbert/errlog' 2>&1)
like "$out" "cannot access '/hilbert/missing'" "2> file captures stderr"

# programs writing to /dev/stdout, /dev/stderr, /dev/fd/N while those point into the prefix
out=$(hlsh 'python3 -c "open(\"/dev/stdout\", \"w\").write(\"via dev stdout\n\")" > /hilbert/o1; echo first > /hilbert/o2; python3 -c "open(\"/dev/stdout\", \"a\").write(\"second\n\")" >> /hilbert/o2; cp /etc/hostname /dev/stdout > /hilbert/o3; seq 3 | tee /dev/stderr 2>/hilbert/o4 >/dev/null; exec 5>/hilbert/o5; echo fd5 > /dev/fd/5; exec 5>&-' 2>&1)
is "$out" "" "writing through /dev/stdout, /dev/stderr and /dev/fd/N into prefix files"
is "$(hlc "$HL_TMP/cache2" cat /hilbert/o1 /hilbert/o2 /hilbert/o3 /hilbert/o4 /hilbert/o5 2>&1)" "via dev stdout"$'\nfirst\nsecond\n'"$(cat /etc/hostname)"$'\n1\n2\n3\nfd5' "… and the data is committed (read on another node)"
out=$(hlsh 'exec 3</hilbert/o2; cat /dev/fd/3; cat < /dev/stdin' < /dev/null 2>&1)
is "$out" $'first\nsecond' "reading a prefix file through /dev/fd/N"

# differential: same snippet natively and under /hilbert
differ "redirections and tests" 'echo a > f; echo b >> f; cat f; [ -f f ] && echo isfile; mkdir dd; [ -d dd ] && echo isdir; cat nosuch; echo rc=$?'
differ "globbing and cd" 'mkdir -p x/y; touch x/1 x/2 x/y/3; echo x/*; cd x/y; echo $(basename $(pwd)); ls ..; echo ../*'
differ "noclobber and errors" 'set -o noclobber; echo 1 > nc; echo 2 > nc; echo rc=$?; echo 3 >| nc; cat nc; echo > /dev/null; mkdir q; echo x > q; echo rc=$?'

done_testing
