#!/usr/bin/env bash
# Runs ringdown on its AWS path, entirely on this machine: moto (SQS, SNS,
# DynamoDB, Kinesis, EventBridge) and connect-sim (Amazon Connect) on loopback, every
# resource created by `ringdown aws bootstrap`, then `ringdown run` in the
# foreground. Ctrl-C stops everything.
#
#   tests/aws-local.sh
#   # then, from another shell, send an alert to the SQS queue it prints
#   # (any SQS client with endpoint = the moto URL and test/test credentials),
#   # or post it to the HTTP ingest, which feeds the same engine:
#   curl -XPOST localhost:9095/v1/alerts -d '{"title": "Disk full", "labels": {"systemname": "db"}}'
set -euo pipefail
cd "$(dirname "$0")/.."
work="${RINGDOWN_LOCAL_DIR:-$(mktemp -d /tmp/ringdown-aws-local.XXXXXX)}"
mkdir -p "$work"

# shellcheck source=tests/emulators.sh
source tests/emulators.sh
EMU_RUN_DIR="$work/moto"
cleanup() {
    [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null || true
    emulators_stop
}
trap cleanup EXIT
emulators_start >/dev/null

cargo build --quiet -p ringdown -p connect-sim --features ringdown/aws
bin=target/debug

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="$RINGDOWN_TEST_MOTO_URL"

cat >"$work/sim.yaml" <<YAML
flows:
  ringdown-ja-JP: $PWD/contact-flows/ringdown-ja-JP.json
  ringdown-en-US: $PWD/contact-flows/ringdown-en-US.json
time_scale: 1
allow_list: ["+"]
personas: $PWD/crates/ringdown/assets/example-personas.yaml
kinesis: { endpoint: "$RINGDOWN_TEST_MOTO_URL", stream: local-ctr }
contact_events:
  eventbridge: { endpoint: "$RINGDOWN_TEST_MOTO_URL" }
contact_search:
  searchable_attributes: [rd_call]
YAML
cat >"$work/ringdown.toml" <<TOML
roster_file = "$PWD/crates/ringdown/assets/example-roster.yaml"
[http]
listen = "127.0.0.1:9095"
[aws]
table_prefix = "local-"
source_phone_number = "+81335550000"
connect_instance_id = "00000000-0000-4000-8000-00000000c0de"
[aws.connect_flow_ids]
ja-JP = "ringdown-ja-JP"
en-US = "ringdown-en-US"
[fallback]
file = "$work/fallback.jsonl"
TOML

"$bin/ringdown" aws bootstrap --config "$work/ringdown.toml" >"$work/bootstrap.json"
"$bin/connect-sim" serve --listen 127.0.0.1:0 --config "$work/sim.yaml" >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
    url=$(head -1 "$work/sim.log" 2>/dev/null | awk '/^listening on/ {print $3}')
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "connect-sim did not start:"; cat "$work/sim.log"; exit 1; }
export AWS_ENDPOINT_URL_CONNECT="$url"

echo "moto:        $RINGDOWN_TEST_MOTO_URL"
echo "connect-sim: $url   (call transcripts: $work/sim.log, $url/_sim/calls)"
echo "alert queue: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["queue_url"])' "$work/bootstrap.json")"
echo "HTTP ingest: http://127.0.0.1:9095/v1/alerts"
echo "state:       $work"
"$bin/ringdown" run --config "$work/ringdown.toml"
