# Sourced by the delivery benchmarks (benches/stacks.sh, benches/fleet.sh):
# a scratch directory removed on exit, and s3s-fs started on a free
# loopback port with the access keys already exported, AWS_ENDPOINT_URL
# pointing at it and bucket $1 created.
S3S_FS=${S3S_FS:-$(command -v s3s-fs)}
work=$(mktemp -d)  # TMPDIR=/dev/shm keeps disk writeback out of the figures
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

export LARDER_HOME=$work/home
unset LARDER_STORE AWS_PROFILE AWS_SESSION_TOKEN HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
mkdir -p "$work/s3/$1" "$work/home"
port=$(free_port)
"$S3S_FS" --host 127.0.0.1 --port "$port" --access-key "$AWS_ACCESS_KEY_ID" \
  --secret-key "$AWS_SECRET_ACCESS_KEY" "$work/s3" >/dev/null 2>&1 &
pids+=($!)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
