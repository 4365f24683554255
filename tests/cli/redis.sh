# Sourced by the end-to-end scripts: start_redis DIR starts a private
# redis-server on 127.0.0.1 and sets REDIS_PORT and REDIS_PID (empty when it
# could not start; its log is DIR/redis.log). Ports are drawn below Linux's
# ephemeral range (32768+), so no client socket or port-0 listener of a test
# running beside can hold one; a port another redis holds is retried, and the
# server is trusted only once it answers PING itself.
start_redis() {
  local dir=$1 attempt
  REDIS_PORT=; REDIS_PID=
  for attempt in 1 2 3 4 5 6 7 8; do
    local port=$(( (RANDOM % 10000) + 20000 )) pid up=0
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
      --logfile "$dir/redis.log" &
    pid=$!
    for _ in $(seq 1 250); do
      kill -0 "$pid" 2>/dev/null || break
      if { exec 9<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
        printf 'PING\r\n' >&9
        local reply=
        read -r -t 1 reply <&9 || true
        exec 9>&-
        if [[ $reply == +PONG* ]] && kill -0 "$pid" 2>/dev/null; then up=1; break; fi
      fi
      sleep 0.02
    done
    if [ $up = 1 ]; then REDIS_PORT=$port; REDIS_PID=$pid; return 0; fi
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  return 1
}
