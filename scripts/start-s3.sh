#!/usr/bin/env bash
# Starts the local S3-compatible server (versitygw, posix backend) on 127.0.0.1:$BIZOSAAS_S3_PORT
# (default 9310) with data under .state/s3/data. Idempotent: a running server is reused.
# Credentials are generated on first start into .state/s3/server.env (mode 0600, never committed),
# which also holds the endpoint; testkit/s3.py reads it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/.tools/s3/bin/versitygw"
dir="$here/.state/s3"
envfile="$dir/server.env"
port=${BIZOSAAS_S3_PORT:-9310}
[[ -x "$bin" ]] || { echo "s3: $bin is missing: run scripts/install-s3.sh" >&2; exit 1; }
mkdir -p "$dir/data"

alive() { [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }
listening() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; }  # any HTTP answer (403 without a signature)

if [[ ! -f "$envfile" ]]; then
  (umask 077; cat >"$envfile" <<ENV
S3_ENDPOINT=http://127.0.0.1:$port
S3_ACCESS_KEY=bizosaas-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
S3_SECRET_KEY=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')
S3_REGION=us-east-1
ENV
  )
fi
# shellcheck disable=SC1090
source "$envfile"
port=${S3_ENDPOINT##*:}

if alive && answers "$port"; then
  echo "s3: running (pid $(cat "$dir/pid")) at $S3_ENDPOINT"
  exit 0
fi
if listening "$port"; then  # another checkout's server, say: take the next free port and remember it
  taken=$port
  for p in $(seq $((taken + 1)) $((taken + 100))); do listening "$p" || { port=$p; break; }; done
  [[ $port != "$taken" ]] || { echo "s3: no free port after $taken: set BIZOSAAS_S3_PORT and remove $envfile" >&2; exit 1; }
  S3_ENDPOINT=http://127.0.0.1:$port
  sed -i "s#^S3_ENDPOINT=.*#S3_ENDPOINT=$S3_ENDPOINT#" "$envfile"
  echo "s3: 127.0.0.1:$taken is taken by another process: using $port"
fi
start=$(date +%s%N)
ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" VGW_REGION="$S3_REGION" \
  setsid "$bin" --port "127.0.0.1:$port" --quiet posix "$dir/data" >"$dir/server.log" 2>&1 </dev/null &
echo $! >"$dir/pid"
for _ in $(seq 1 100); do
  if answers "$port"; then
    echo "s3: versitygw started (pid $(cat "$dir/pid")) at $S3_ENDPOINT in $(( ($(date +%s%N) - start) / 1000000 )) ms, data $dir/data"
    exit 0
  fi
  alive || break
  sleep 0.1
done
echo "s3: versitygw did not start; $dir/server.log says:" >&2
tail -20 "$dir/server.log" >&2
exit 1
