#!/bin/sh
# Fails when the shim imports a glibc symbol version newer than GLIBC_2.17.
so=$1
bad=$(objdump -T "$so" | awk '$2 != "g" && /\*UND\*/ { for (i=1;i<=NF;i++) if ($i ~ /^\(?GLIBC_[0-9.]+\)?$/) print $i, $NF }' |
      tr -d '()' | while read v s; do
        n=${v#GLIBC_}; maj=${n%%.*}; rest=${n#*.}; min=${rest%%.*}
        [ "$maj" -gt 2 ] || { [ "$maj" -eq 2 ] && [ "$min" -gt 17 ]; } && echo "$s@$v"
      done)
if [ -n "$bad" ]; then echo "check-symbols: $so needs newer glibc: $bad" >&2; exit 1; fi
exit 0
