# Shared by the scripts that start `unmark serve` (tests and benches):
# source it, start the server in the background with --listen 127.0.0.1:0
# logging to LOG, then
#     port=$(serve_port LOG) || fail "the server did not start"
# serve_port waits (up to 10 s) for the port the server logs to answer
# /api/v1/health and prints it; it fails when none does.
serve_port() {
  local log=$1 port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log" | tail -1)
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && {
      echo "$port"
      return 0
    }
    sleep 0.1
  done
  return 1
}
