#!/usr/bin/env bash
# Sets up a fresh machine and runs the hills demo: a sync server on
# loopback with its data under a temporary directory, seeded with an
# inventory, two inventory windows (clients "alice" and "bob") and the
# viewer, each enrolled with its own grants and token. Check a part out in one window and watch it lock in the other;
# save an edit and watch it appear everywhere. Closing every window, or
# Ctrl-C, stops everything the demo started and removes its data.
# Without a display it runs a headless walk-through instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export GOTOOLCHAIN=local

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "demo: no display (neither DISPLAY nor WAYLAND_DISPLAY is set), so no windows can open."
  echo "demo: running the headless walk-through instead: a server and two clients, printing what happens."
  echo
  exec go run ./examples/inventory/walkthrough "$@"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hills-demo.XXXXXX")
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
  echo "demo: stopped; removed $work"
}
trap cleanup EXIT
# Ctrl-C or SIGTERM is how the demo is meant to stop: a clean exit.
trap 'exit 0' INT TERM

echo "demo: building into $work/bin"
go build -o "$work/bin/" ./cmd/hills-server ./cmd/hills-viewer ./examples/inventory

# A random port; another one when it is taken.
for _ in 1 2 3 4 5; do
  addr=127.0.0.1:$((20000 + RANDOM % 20000))
  "$work/bin/hills-server" serve --data "$work/server" --listen "$addr" --app-id inventory &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 100); do
    [ -S "$work/server/admin.sock" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  [ -S "$work/server/admin.sock" ] && break
done
[ -S "$work/server/admin.sock" ] || { echo "demo: the server did not start" >&2; exit 1; }
echo "demo: server on $addr, data in $work/server"

# The server admits enrolled clients only: enroll each program through
# the running server's admin socket and hand it its one-time token.
enroll() {
  local name=$1
  shift
  local grants=()
  for g in "$@"; do grants+=(--grant "$g"); done
  "$work/bin/hills-server" clients add "$name" "${grants[@]}" --data "$work/server"
}
work_grants=('parts=read,create,edit,adjust' 'boms=read,create,edit,release' 'movements=read,create')
seeder_token=$(enroll seeder "${work_grants[@]}")
alice_token=$(enroll alice "${work_grants[@]}")
bob_token=$(enroll bob "${work_grants[@]}")
viewer_token=$(enroll viewer '*=read')

"$work/bin/inventory" -server "$addr" -data "$work/seed" -name seeder -token "$seeder_token" -seed

common=(-server "$addr" -app inventory)
"$work/bin/inventory" "${common[@]}" -data "$work/alice" -name alice -token "$alice_token" -search STM32 -select STM32F103C8T6 -checkout &
wins=($!)
"$work/bin/inventory" "${common[@]}" -data "$work/bob" -name bob -token "$bob_token" -search STM32 -select STM32F103C8T6 &
wins+=($!)
"$work/bin/hills-viewer" "${common[@]}" -data "$work/viewer" -name viewer -token "$viewer_token" &
wins+=($!)
pids+=("${wins[@]}")

# Lay the windows out side by side: alice and bob on the top half of the
# screen, the viewer below. Without a window manager they would all open
# at the top left, on top of each other. X11 only, with xdotool.
place() {
  local name=$1 x=$2 y=$3 w=$4 h=$5 win
  win=$(timeout 60 xdotool search --sync --name "$name" 2>/dev/null | head -1) || return 0
  [ -n "$win" ] && xdotool windowsize "$win" "$w" "$h" windowmove "$win" "$x" "$y" 2>/dev/null || true
}
if [ -n "${DISPLAY:-}" ] && command -v xdotool >/dev/null; then
  read -r sw sh < <(xdotool getdisplaygeometry)
  (
    place 'Inventory.*alice$' 0 0 $((sw / 2)) $((sh / 2))
    place 'Inventory.*bob$' $((sw / 2)) 0 $((sw - sw / 2)) $((sh / 2))
    place '^hills viewer$' 0 $((sh / 2)) "$sw" $((sh - sh / 2))
    echo "demo: windows laid out on the ${sw}x${sh} screen"
  ) &
  pids+=($!)
fi
echo "demo: opened the windows of alice, bob and the viewer. alice holds STM32F103C8T6:"
echo "demo: bob's window shows it locked; save an edit in alice's and it appears in bob's."
echo "demo: the viewer may only read; see the grants with: $work/bin/hills-server clients list --data $work/server"
echo "demo: close every window or press Ctrl-C to stop"

while :; do
  alive=0
  for p in "${wins[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 1 ] || break
  sleep 0.5
done
