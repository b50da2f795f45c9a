#!/usr/bin/env bash
# git with its repository inside the prefix.
. "$(dirname "$0")/../lib.sh"
hl_setup
export GIT_AUTHOR_NAME=T GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=T GIT_COMMITTER_EMAIL=t@example.invalid
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
git config --global init.defaultBranch main 2>/dev/null

ok "git init /hilbert/repo" hl git init -q /hilbert/repo
out=$(hlsh 'cd /hilbert/repo && mkdir -p src doc && for i in $(seq 1 30); do echo "line $i" > src/f$i.c; done && seq 100000 > doc/big.txt && printf "#!/bin/sh\necho hi\n" > run.sh && chmod +x run.sh && ln -s src/f1.c link && git add . && git commit -qm first && git rev-parse HEAD' 2>&1)
first=$(cd "$HL_TMP" && rm -rf ref && git init -q ref && cd ref && mkdir -p src doc && for i in $(seq 1 30); do echo "line $i" > src/f$i.c; done && seq 100000 > doc/big.txt && printf "#!/bin/sh\necho hi\n" > run.sh && chmod +x run.sh && ln -s src/f1.c link && git add . && git commit -qm first && git rev-parse HEAD)
is "$out" "$first" "git add + commit gives the same commit id as natively"
is "$(hl git -C /hilbert/repo log --format='%s %an' 2>&1)" "first T" "git log"
is "$(hl git -C /hilbert/repo status --porcelain 2>&1)" "" "git status clean after commit"
out=$(hlsh 'cd /hilbert/repo && echo changed >> src/f3.c && git rm -q src/f4.c && echo new > new.txt && git status --porcelain' 2>&1)
is "$out" $' M src/f3.c\nD  src/f4.c\n?? new.txt' "git status sees modifications, deletions, untracked files"
out=$(hlsh 'cd /hilbert/repo && git add -A && git commit -qm second && git log --format=%s | tr "\n" " " && git status --porcelain && git diff HEAD~1 --stat | tail -1' 2>&1)
is "$out" "second first  3 files changed, 2 insertions(+), 1 deletion(-)" "second commit, log, diff --stat"
out=$(hl git -C /hilbert/repo fsck --strict 2>&1; echo rc=$?); like "$out" "rc=0$" "git fsck"
unlike "$out" "error|missing|corrupt" "git fsck reports no problems"
ok "git gc packs the repository" hl git -C /hilbert/repo gc -q
is "$(hl git -C /hilbert/repo count-objects -v 2>&1 | grep -E '^(count|in-pack):' | tr '\n' ' ')" "count: 0 in-pack: 42 " "all objects packed"
out=$(hl git -C /hilbert/repo fsck --strict 2>&1; echo rc=$?); like "$out" "rc=0$" "git fsck after gc"
ok "git clone out of the prefix" hl git clone -q /hilbert/repo "$HL_TMP/clone"
is "$(git -C "$HL_TMP/clone" log --format=%s | tr '\n' ' ')" "second first " "the clone has both commits"
ok "git clone into the prefix" hl git clone -q "$HL_TMP/clone" /hilbert/clone2
is "$(hl git -C /hilbert/clone2 status --porcelain 2>&1; hl cat /hilbert/clone2/src/f3.c 2>&1)" $'line 3\nchanged' "the clone into the prefix is checked out"
is "$(hl bash -c /hilbert/clone2/run.sh 2>&1)" "hi" "checked-out executable runs"
out=$(hlsh 'cd /hilbert/clone2 && git checkout -q HEAD~1 && cat src/f4.c && git checkout -q main && [ ! -e src/f4.c ] && echo gone' 2>&1)
is "$out" $'line 4\ngone' "git checkout between commits"

done_testing
