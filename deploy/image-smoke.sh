#!/usr/bin/env bash
# Build gradesync's container image and run it as a site would: the simulator and the daemon,
# each in a container of the image, on the host network. Passes when the image runs as user
# 10001 with its HEALTHCHECK, the daemon writes events (owner-only files), `gradesync health`
# answers healthy inside the container, and on SIGTERM the daemon exits 0 having logged only
# JSON lines. Not part of `make test`: it needs docker or podman. From the repository root:
#   make image-smoke                       # or: deploy/image-smoke.sh
#   deploy/image-smoke.sh --build-only     # what `make image` runs
# Environment: ENGINE (docker or podman; default: whichever answers), IMAGE (default
# gradesync:local), PYTHON_IMAGE (the base image, default python:3.11-slim-bookworm),
# SMOKE_WAIT (seconds each step may take, default 120).
set -euo pipefail

IMAGE=${IMAGE:-gradesync:local}
PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim-bookworm}
WAIT=${SMOKE_WAIT:-120}
BUILD_ONLY=false
case "${1:-}" in
    "") ;;
    --build-only) BUILD_ONLY=true ;;
    *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."

say() { printf 'image-smoke: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

if [ -z "${ENGINE:-}" ]; then
    for candidate in docker podman; do
        if command -v "$candidate" >/dev/null && "$candidate" info >/dev/null 2>&1; then
            ENGINE=$candidate
            break
        fi
    done
    [ -n "${ENGINE:-}" ] || fail "neither docker nor podman answers here"
fi
# podman builds OCI images by default, and the OCI format has no HEALTHCHECK.
build_format=()
[ "$ENGINE" = podman ] && build_format=(--format docker)

say "building $IMAGE with $ENGINE from $PYTHON_IMAGE"
"$ENGINE" build "${build_format[@]}" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" -t "$IMAGE" .
size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
say "built $IMAGE: $((size / 1000000)) MB"
$BUILD_ONLY && exit 0

user=$("$ENGINE" image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "10001:10001" ] || fail "the image runs as '$user', not 10001:10001"
probe=$("$ENGINE" image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE")
[ "$probe" = '["CMD","gradesync","health"]' ] || fail "the image's HEALTHCHECK is $probe"
say "user 10001:10001, HEALTHCHECK gradesync health"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
learn_port=$(free_port)
health_port=$(free_port)
work=$(mktemp -d)
learn=gradesync-smoke-learn-$$
daemon=gradesync-smoke-$$
cleanup() {
    local status=$?
    if [ "$status" != 0 ] && "$ENGINE" container inspect "$daemon" >/dev/null 2>&1; then
        say "the daemon's last log lines:"
        "$ENGINE" logs --tail 20 "$daemon" 2>&1 | sed 's/^/    /' >&2 || true
    fi
    for container in "$learn" "$daemon"; do
        "$ENGINE" rm --force --volumes "$container" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Until "$@" succeeds, at most $WAIT seconds; $1 says what is awaited.
await() {
    local what=$1 deadline=$((SECONDS + WAIT))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "no $what within ${WAIT}s"
        sleep 1
    done
}

"$ENGINE" run --detach --name "$learn" --network host --no-healthcheck "$IMAGE" \
    simulate --port "$learn_port" --courses 4 --students 10 --activity-per-minute 120 >/dev/null
await "simulator on port $learn_port" python3 -c \
    "import urllib.request as u; u.urlopen('http://127.0.0.1:$learn_port/__simulator__/state', timeout=2)"

cat >"$work/gradesync.toml" <<EOF
[learn]
base_url = "http://127.0.0.1:$learn_port"

[state]
path = "gradesync.db"

[sync]
interval = "5s"
jitter = "1s"

[[sinks]]
type = "file"
path = "events.jsonl"
EOF
chmod 0755 "$work"
chmod 0644 "$work/gradesync.toml"
settings=(
    -v "$work/gradesync.toml:/etc/gradesync/gradesync.toml:ro"
    -e GRADESYNC_LEARN__CLIENT_ID=gradesync
    -e GRADESYNC_LEARN__CLIENT_SECRET=simulated-secret
)

# check_logs NAME STDOUT STDERR EVENT...: nothing on stdout, every stderr line a JSON object,
# each EVENT among them; prints a summary.
check_logs() {
    python3 - "$@" <<'EOF'
import collections
import json
import sys

name, stdout_path, stderr_path, *needed = sys.argv[1:]
stdout, stderr = (open(p, encoding="utf-8").read().splitlines() for p in (stdout_path, stderr_path))
if stdout:
    sys.exit(f"image-smoke: FAILED: {name} wrote to stdout: {stdout[0][:200]}")
events: collections.Counter[str] = collections.Counter()
levels: collections.Counter[str] = collections.Counter()
for number, line in enumerate(stderr, 1):
    try:
        record = json.loads(line)
    except ValueError:
        sys.exit(f"image-smoke: FAILED: {name}: log line {number} is not JSON: {line[:200]}")
    events[record.get("event", "?")] += 1
    levels[record.get("level", "?")] += 1
for event in needed:
    if not events[event]:
        sys.exit(f"image-smoke: FAILED: {name}: no {event} in the logs")
summary = ", ".join(f"{event} {count}" for event, count in sorted(events.items()))
by_level = ", ".join(f"{level} {count}" for level, count in sorted(levels.items()))
print(f"image-smoke: {name}: {len(stderr)} log lines, all JSON ({by_level}): {summary}",
      file=sys.stderr)
EOF
}

# `docker run IMAGE once`: one pass in a container of its own (and its own state volume).
code=0
"$ENGINE" run --rm --network host --no-healthcheck "${settings[@]}" "$IMAGE" once \
    >"$work/once.out" 2>"$work/once.err" || code=$?
[ "$code" = 0 ] || fail "once exited $code: $(tail -n 3 "$work/once.err")"
check_logs once "$work/once.out" "$work/once.err" cycle.done

"$ENGINE" run --detach --name "$daemon" --network host "${settings[@]}" \
    -e GRADESYNC_HEALTH__LISTEN="127.0.0.1:$health_port" \
    "$IMAGE" >/dev/null 2>"$work/engine.err" || fail "$(cat "$work/engine.err")"
say "daemon $daemon against the simulator on port $learn_port, health on $health_port"

await "events in events.jsonl" "$ENGINE" exec "$daemon" test -s events.jsonl
await "healthy gradesync health" "$ENGINE" exec "$daemon" gradesync health
"$ENGINE" exec "$daemon" gradesync health --ready >/dev/null || fail "gradesync health --ready"
"$ENGINE" exec "$daemon" gradesync state backup /var/lib/gradesync/backup.db >/dev/null
# What the daemon and `docker exec ... gradesync` created in the state volume: owner-only.
modes=$("$ENGINE" exec "$daemon" sh -c 'stat -c "%a %n" . gradesync.db* events.jsonl backup.db')
others=$(printf '%s\n' "$modes" | grep -Ev '^(600|700) ' || true)
[ -z "$others" ] || fail "files readable by others: $others"
events=$("$ENGINE" exec "$daemon" sh -c 'wc -l < events.jsonl')
say "$events events written, gradesync health answers healthy;" \
    "owner-only: $(printf '%s\n' "$modes" | paste -sd, - | sed 's/,/, /g')"

# A bad edit to the mounted configuration must not make the running daemon look unhealthy.
printf '\n[no_such_section]\nkey = 1\n' >>"$work/gradesync.toml"
if "$ENGINE" exec "$daemon" gradesync check >/dev/null 2>&1; then
    fail "gradesync check accepted a configuration with an unknown section"
fi
"$ENGINE" exec "$daemon" gradesync health >/dev/null ||
    fail "gradesync health failed after a bad edit to the configuration"
say "after a bad edit to the configuration, check refuses it and health still answers healthy"

started=$SECONDS
"$ENGINE" stop --time 90 "$daemon" >/dev/null 2>>"$work/engine.err"
code=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$daemon")
[ "$code" = 0 ] || fail "the daemon exited $code on SIGTERM"
say "SIGTERM: exit 0 after $((SECONDS - started))s"

"$ENGINE" logs "$daemon" >"$work/run.out" 2>"$work/run.err"
check_logs run "$work/run.out" "$work/run.err" \
    daemon.started daemon.ready cycle.done daemon.stopping daemon.stopped
say "passed"
