# tests/pgcluster.sh — sourced by tests/pg.sh and bench/replicas.sh: a throw-away PostgreSQL
# cluster, `lookalike serve` replicas and nginx in front of them, all on loopback under one
# temporary folder ($T). PostgreSQL refuses to run as root, so as root its programs run as
# the `postgres` user (runuser); the socket lives in $T/sock (no TCP port is opened).
#
#   pgc_find                 sets PGBIN (the server programs) and NGINX; 1 when PostgreSQL is absent
#   pgc_start T              initdb + start; sets PGURL_BASE ("postgresql://lk@/DB?host=...")
#   pgc_url DB / pgc_createdb DB / pgc_psql DB SQL...
#   pgc_stop                 stops the cluster (immediate)
#   serve_start I DB [ARGS]  replica I on a free port: SERVE_PID[I], SERVE_PORT[I]
#   serve_kill I [SIG]       kills replica I (default KILL) and reaps it
#   nginx_start PORTS...     nginx on a free port (NGINX_PORT) balancing over the ports; with
#                            NGX=name set, another instance beside the first ($T/nginx-name)
#   nginx_stop               stops every nginx started
#   pgc_cleanup              everything above, for an EXIT trap

PGC_USER=
pgc_as() { if [ -n "$PGC_USER" ]; then runuser -u "$PGC_USER" -- "$@"; else "$@"; fi; }

pgc_find() {
  PGBIN=
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { PGBIN=$d; break; }
  done
  if [ -z "$PGBIN" ] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    PGBIN=$(dirname "$(command -v initdb)")
  fi
  NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
  [ -n "$PGBIN" ]
}

# A free TCP port on 127.0.0.1.
pgc_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pgc_start() {
  T=$1
  mkdir -p "$T/pgdata" "$T/sock"
  if [ "$(id -u)" = 0 ]; then
    PGC_USER=postgres
    id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres >/dev/null 2>&1 || true
    chmod 755 "$T"
    chown "$PGC_USER" "$T/pgdata" "$T/sock"
  fi
  PGC_PORT=$(pgc_free_port)
  pgc_as "$PGBIN/initdb" -D "$T/pgdata" -U lk --auth=trust -E UTF8 --locale=C -N > "$T/initdb.log" 2>&1 || {
    cat "$T/initdb.log"; return 1; }
  # durability off: a test cluster is thrown away
  pgc_as "$PGBIN/pg_ctl" -D "$T/pgdata" -l "$T/sock/pg.log" -w -t 60 -o "-c listen_addresses='' \
    -c unix_socket_directories=$T/sock -p $PGC_PORT -c fsync=off -c synchronous_commit=off \
    -c full_page_writes=off -c max_connections=60 -c shared_buffers=64MB" start > "$T/pgctl.log" 2>&1 || {
    cat "$T/pgctl.log" "$T/sock/pg.log" 2>/dev/null; return 1; }
  PGURL_BASE="postgresql://lk@/DB?host=$T/sock&port=$PGC_PORT"
}

pgc_url() { echo "${PGURL_BASE/\/DB\?//$1?}"; }
pgc_psql() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -At "$(pgc_url "$db")" "$@"; }
pgc_createdb() { pgc_psql postgres -c "CREATE DATABASE $1"; }
pgc_restart() { pgc_as "$PGBIN/pg_ctl" -D "$T/pgdata" -w -t 60 -m fast restart > "$T/pgctl.log" 2>&1; }
pgc_stop() { [ -n "${PGBIN:-}" ] && [ -d "${T:-}/pgdata" ] && pgc_as "$PGBIN/pg_ctl" -D "$T/pgdata" -m immediate -w stop >/dev/null 2>&1; true; }

declare -a SERVE_PID SERVE_PORT
serve_start() {
  local i=$1 db=$2; shift 2
  local port=${SERVE_PORT[$i]:-$(pgc_free_port)}
  SERVE_PORT[$i]=$port
  "$BIN" serve --db "$(pgc_url "$db")" --host 127.0.0.1 --port "$port" "$@" 2>> "$T/serve$i.log" &
  SERVE_PID[$i]=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    kill -0 "${SERVE_PID[$i]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

serve_kill() {
  local i=$1 sig=${2:-KILL}
  [ -n "${SERVE_PID[$i]:-}" ] || return 0
  kill -"$sig" "${SERVE_PID[$i]}" 2>/dev/null
  wait "${SERVE_PID[$i]}" 2>/dev/null
  SERVE_PID[$i]=
}

declare -a NGINX_PIDS
nginx_start() {
  NGINX_PORT=$(pgc_free_port)
  local N=$T/nginx${NGX:+-$NGX}
  mkdir -p "$N"
  local up="" p user=""
  for p in "$@"; do up="$up    server 127.0.0.1:$p max_fails=1 fail_timeout=2s;"$'\n'; done
  [ "$(id -u)" = 0 ] && user="user root root;"
  cat > "$N/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $N/nginx.pid;
error_log $N/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $N/body;
  proxy_temp_path $N/proxy;
  fastcgi_temp_path $N/fastcgi;
  uwsgi_temp_path $N/uwsgi;
  scgi_temp_path $N/scgi;
  client_max_body_size 20m;
  client_body_buffer_size 1m;
  upstream lookalike {
$up    keepalive 16;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://lookalike;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
    }
  }
}
EOF
  "$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/error.log" &
  NGINX_PID=$!
  NGINX_PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$NGINX_PORT/health" >/dev/null 2>&1 && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

nginx_stop() {
  local p
  for p in "${NGINX_PIDS[@]}"; do kill -QUIT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  NGINX_PIDS=()
  NGINX_PID=
}

pgc_cleanup() {
  local i
  for i in "${!SERVE_PID[@]}"; do serve_kill "$i" TERM; done
  nginx_stop
  pgc_stop
}
