#!/bin/sh
# Removes what a crashed mounted test left behind under /tmp/strongroom-test.*:
# FUSE mounts (unmounted, lazily if busy), daemons whose command line names the
# directory (killed), and the directory itself.  Directories whose owner.pid is
# a live process belong to a running test and are left alone.
# With --strict, exits 1 if it found a leftover mount or process.
strict=0
[ "${1:-}" = "--strict" ] && strict=1
found=0

mounts_under() {
  awk -v d="$1" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' \
    /proc/self/mountinfo | sort -r
}

for dir in /tmp/strongroom-test.*; do
  [ -d "$dir" ] || continue
  owner=$(cat "$dir/owner.pid" 2>/dev/null)
  if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then
    continue
  fi
  for m in $(mounts_under "$dir"); do
    found=1
    echo "cleanup: leftover mount $m"
    # Abort the FUSE connection first: a deadlocked daemon would otherwise
    # keep every process waiting on it stuck.
    dev=$(awk -v m="$m" '$5 == m { print $3 }' /proc/self/mountinfo | tail -n 1)
    if [ -n "$dev" ]; then
      conn=$(( (${dev%%:*} << 20) | ${dev##*:} ))
      conns=/sys/fs/fuse/connections
      [ -e "$conns/$conn" ] || mount -t fusectl fusectl "$conns" 2>/dev/null
      [ -w "$conns/$conn/abort" ] && echo 1 > "$conns/$conn/abort"
    fi
    fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
  done
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = "$$" ] && continue
    cmd=$( { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null) || continue
    case "$cmd" in
      *"$dir"*)
        found=1
        echo "cleanup: killing leftover process $pid: $cmd"
        kill -9 "$pid" 2>/dev/null
        ;;
    esac
  done
  if [ -z "$(mounts_under "$dir")" ]; then
    rm -rf --one-file-system "$dir"
  else
    echo "cleanup: $dir still has mounts"
    found=1
  fi
done

if [ "$strict" = 1 ] && [ "$found" = 1 ]; then
  echo "cleanup: mounted tests left mounts or daemons behind"
  exit 1
fi
exit 0
