# tar extract into and create from the prefix.
. "$(dirname "$0")/../lib.sh"
S=$BK.shadow/src; mkdir -p "$S/x/y"; echo data > "$S/x/y/z"; ln -s y/z "$S/x/link"; chmod 750 "$S/x/y"
tar -C "$S" -cf "$BK.shadow/in.tar" x
ok "tar extract into the prefix" hl tar -C /hilbert -xf "$BK.shadow/in.tar"
is "$(hl bash -c 'echo "$(cat /hilbert/x/y/z) $(stat -c %a /hilbert/x/y) $(readlink /hilbert/x/link)"' 2>&1)" "data 750 y/z" "extracted content"
ok "tar create from the prefix" hl tar -C /hilbert -cf "$BK.shadow/out.tar" x
is "$(bash -c 'tar -tf "$0" | sort | tr "\n" " " | sed "s/ $//"' "$BK.shadow/out.tar" 2>&1)" "x/ x/link x/y/ x/y/z" "archive listing"
ok "tar create inside the prefix" hl bash -c 'cd /hilbert && tar -czf x.tgz x && tar -tzf x.tgz | grep -q x/y/z'
done_testing
