#!/usr/bin/env bash
# saga-server benchmark (issue 4), in one run:
#   1. GET /api/orders/{id}/status with wrk against saga-server and against nginx
#      serving the same bytes as a static file (same machine, same wrk settings);
#      prints both and the ratio.
#   2. SSE fan-out: N subscribers on /api/orders/stream, orders placed at a fixed
#      rate, commit-to-client latency percentiles and server memory per subscriber
#      (tests/bench/bench_server).
# Usage: scripts/bench-server.sh [BUILD_DIR]   (env: DURATION=10s CONNECTIONS=50 THREADS=2
#        SUBSCRIBERS=1000 ORDERS=40 RATE=4 NGINX_WORKERS=1)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-${SAGA_BUILD_DIR:-$ROOT/build}}
SERVER=$BUILD/app/server/saga-server
CLIENT=$BUILD/tests/bench/bench_server
[[ -x $CLIENT ]] || CLIENT=$BUILD/bench_server
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
ORDERS=${ORDERS:-40}
RATE=${RATE:-4}
NGINX_WORKERS=${NGINX_WORKERS:-1}

die() { echo "bench-server: $*" >&2; exit 1; }
[[ -x $SERVER ]] || die "$SERVER not built (cmake --build $BUILD --target saga-server bench_server)"
[[ -x $CLIENT ]] || die "bench_server not built in $BUILD"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || die "nginx is missing (apt-get install nginx)"
ulimit -n 65536 2>/dev/null || ulimit -n 4096

TMP=$(mktemp -d /tmp/saga-bench-server.XXXXXX)
chmod 755 "$TMP"
SERVER_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    [[ -f $TMP/nginx.pid ]] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

head -c 32 /dev/urandom | base64 > "$TMP/secret"
# --max-streams off: the SSE part opens $SUBSCRIBERS streams with one SUPPORT token.
"$SERVER" --listen 127.0.0.1:0 --database "sqlite:$TMP/bench.db" --auth-secret-file "$TMP/secret" --max-streams off \
    > "$TMP/server.out" 2> "$TMP/server.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q '^listening on' "$TMP/server.out" && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/server.out")
[[ -n $PORT ]] || { cat "$TMP/server.err" >&2; die "saga-server did not start"; }

CUSTOMER=$(cat /proc/sys/kernel/random/uuid)
TOKEN=$("$SERVER" token --subject "$CUSTOMER" --ttl 3600 --auth-secret-file "$TMP/secret")
SUPPORT=$("$SERVER" token --subject "$(cat /proc/sys/kernel/random/uuid)" --role SUPPORT --ttl 3600 --auth-secret-file "$TMP/secret")
BODY="{\"customerId\":\"$CUSTOMER\",\"items\":[{\"productId\":\"widget-1\",\"productName\":\"Widget\",\"quantity\":2,\"unitPriceInCents\":1250}],\"paymentMethodId\":\"good-card\",\"shippingAddress\":{\"street\":\"1 Main St\",\"city\":\"Springfield\",\"state\":\"IL\",\"postalCode\":\"62701\",\"country\":\"US\"}}"
ORDER=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/orders" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -H 'Prefer: wait=30' -d "$BODY" | sed -n 's/.*"orderId":"\([^"]*\)".*/\1/p')
[[ -n $ORDER ]] || die "could not place the benchmark order"
STATUS_PATH=/api/orders/$ORDER/status

# nginx serves the very bytes saga-server answers, at the same path.
mkdir -p "$TMP/www/api/orders/$ORDER" "$TMP/logs"
curl -sf "http://127.0.0.1:$PORT$STATUS_PATH" -H "Authorization: Bearer $TOKEN" > "$TMP/www$STATUS_PATH"
chmod -R a+rX "$TMP/www"
NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$TMP/nginx.conf" <<CONF
worker_processes $NGINX_WORKERS;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
$( [[ $(id -u) -eq 0 ]] && echo "user root;" )
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/logs/body;
    proxy_temp_path $TMP/logs/proxy;
    fastcgi_temp_path $TMP/logs/fastcgi;
    uwsgi_temp_path $TMP/logs/uwsgi;
    scgi_temp_path $TMP/logs/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/www;
        location /api/ { default_type application/json; }
    }
}
CONF
"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/logs/error.log"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$NGINX_PORT$STATUS_PATH" >/dev/null && break; sleep 0.1; done
cmp -s <(curl -sf "http://127.0.0.1:$NGINX_PORT$STATUS_PATH") "$TMP/www$STATUS_PATH" || die "nginx does not serve the status bytes"

rps() { sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p'; }
echo "== GET $STATUS_PATH ($(wc -c < "$TMP/www$STATUS_PATH") bytes), wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$STATUS_PATH" >/dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$NGINX_PORT$STATUS_PATH" >/dev/null
SAGA_OUT=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$STATUS_PATH")
NGINX_OUT=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$NGINX_PORT$STATUS_PATH")
SAGA_RPS=$(rps <<<"$SAGA_OUT")
NGINX_RPS=$(rps <<<"$NGINX_OUT")
echo "saga-server: $SAGA_RPS req/s   (non-2xx: $(grep -c 'Non-2xx' <<<"$SAGA_OUT" || true))"
grep -E '^\s+(50|99)%' <<<"$SAGA_OUT" | sed 's/^/    latency /'
echo "nginx ($NGINX_WORKERS worker): $NGINX_RPS req/s"
grep -E '^\s+(50|99)%' <<<"$NGINX_OUT" | sed 's/^/    latency /'
echo "ratio saga-server / nginx: $(python3 -c "print(round($SAGA_RPS / $NGINX_RPS, 2))")"

echo "== SSE: $SUBSCRIBERS subscribers on /api/orders/stream, $ORDERS orders at $RATE/s"
"$CLIENT" --port "$PORT" --token "$SUPPORT" --customer-token "$TOKEN" --customer "$CUSTOMER" \
    --subscribers "$SUBSCRIBERS" --orders "$ORDERS" --rate "$RATE" --server-pid "$SERVER_PID"

# Server side of the same run: one sweep over all subscribers, and commit -> frame handed
# to every socket (the rest of the client-measured latency is kernel + the client itself).
curl -sf "http://127.0.0.1:$PORT/metrics" -H "Authorization: Bearer $SUPPORT" | python3 -c '
import sys, re
h = {}
for line in sys.stdin:
    m = re.match(r"(sse_fanout_seconds|sse_commit_to_send_seconds)_bucket\{le=\"([^\"]+)\"\} (\d+)", line)
    if m:
        h.setdefault(m.group(1), []).append((float("inf") if m.group(2) == "+Inf" else float(m.group(2)), int(m.group(3))))
for name, buckets in h.items():
    total = buckets[-1][1]
    def q(p):
        for le, c in buckets:
            if c >= p * total:
                return "<= %g ms" % (le * 1000) if le != float("inf") else "> 1 s"
    print("server %s: sweeps %d  p50 %s  p99 %s" % (name, total, q(0.5), q(0.99)))
'
