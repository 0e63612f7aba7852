#!/usr/bin/env bash
# Start or stop a throw-away loopback redis-server for tests and benchmarks.
#
#   scripts/redis.sh start STATE_DIR   # prints redis://127.0.0.1:PORT/0; data and pid in STATE_DIR
#   scripts/redis.sh stop STATE_DIR    # stops that server and removes STATE_DIR
#
# The port is a free one chosen at start; persistence is off (no RDB, no AOF). When
# redis-server is missing, it is installed with apt-get (CI runs as root on a clean machine).
set -euo pipefail

cmd=${1:-}
state=${2:-}
if [[ -z "$cmd" || -z "$state" ]]; then
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
fi

server=$(command -v redis-server || true)

install_redis() {
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "redis.sh: redis-server not found; install it (apt-get install redis-server)" >&2
    exit 1
  fi
  echo "redis.sh: installing redis-server with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >&2; }
  server=$(command -v redis-server)
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
  start)
    [[ -n "$server" ]] || install_redis
    mkdir -p "$state"
    state=$(cd "$state" && pwd)
    port=$(free_port)
    "$server" --port "$port" --bind 127.0.0.1 --dir "$state" --save "" --appendonly no \
      --daemonize yes --pidfile "$state/redis.pid" --logfile "$state/redis.log" >/dev/null
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "$port" >"$state/port"
        echo "redis://127.0.0.1:$port/0"
        exit 0
      fi
      sleep 0.05
    done
    echo "redis.sh: redis-server did not start on port $port (see $state/redis.log)" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$state/redis.pid" ]]; then
      pid=$(cat "$state/redis.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -rf "$state"
    ;;
  *)
    echo "usage: $0 start|stop STATE_DIR" >&2
    exit 2
    ;;
esac
