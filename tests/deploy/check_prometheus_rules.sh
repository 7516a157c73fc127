#!/usr/bin/env bash
# Validates the Prometheus rules offline: promtool check rules on deploy/prometheus/streamdit-rules.yaml,
# promtool test rules on deploy/prometheus/streamdit-rules.test.yaml, and that every alert in the rules
# has a unit test where it fires and one where it stays silent.
# Usage: check_prometheus_rules.sh REPOSITORY_ROOT   (exits non-zero on any failure)
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 REPOSITORY_ROOT" >&2
  exit 2
fi
root=$1
rules=$root/deploy/prometheus/streamdit-rules.yaml
tests=$root/deploy/prometheus/streamdit-rules.test.yaml
promtool=${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}

for file in "$rules" "$tests"; do
  if [[ ! -f $file ]]; then
    echo "FAIL: $file is missing" >&2
    exit 1
  fi
done
if [[ ! -x $promtool ]]; then
  echo "FAIL: promtool not found (install Debian's prometheus package or set PROMTOOL)" >&2
  exit 1
fi
echo "using $("$promtool" --version 2>&1 | head -n 1)"

# The exported metric families (the catalogue; names are API). Histograms also have _bucket/_sum/_count.
gauges="streamdit_device_memory_budget_bytes streamdit_device_memory_used_bytes
  streamdit_device_memory_reserved_bytes streamdit_device_memory_peak_bytes streamdit_device_healthy
  streamdit_device_running_launches streamdit_resident_weight_bytes streamdit_queue_depth streamdit_draining"
histograms="streamdit_job_memory_peak_bytes streamdit_job_memory_predicted_bytes streamdit_queue_wait_seconds
  streamdit_request_duration_seconds streamdit_denoise_step_seconds streamdit_batch_size"
counters="streamdit_requests_total streamdit_requests_rejected_total streamdit_images_generated_total
  streamdit_weights_streamed_bytes_total streamdit_stream_stall_seconds_total streamdit_denoise_seconds_total
  streamdit_oom_retries_total streamdit_model_loads_total streamdit_model_evictions_total"

echo "== metric names used in $rules"
unknown=0
for token in $(grep -o 'streamdit_[a-z0-9_]*' "$rules" | sort -u); do
  family=$token
  for suffix in _bucket _sum _count; do
    base=${token%"$suffix"}
    if [[ $base != "$token" && " $(echo $histograms) " == *" $base "* ]]; then
      family=$base
    fi
  done
  if [[ " $(echo $gauges $histograms $counters) " != *" $family "* ]]; then
    echo "FAIL: $rules uses $token, which is not an exported streamdit metric" >&2
    unknown=1
  else
    echo "  $token"
  fi
done
if [[ $unknown -ne 0 ]]; then
  exit 1
fi

echo "== promtool check rules $rules"
"$promtool" check rules "$rules"

echo "== promtool test rules $tests"
"$promtool" test rules "$tests"

# Coverage: each alert needs an alert_rule_test that expects it to fire and one that expects silence.
echo "== alert test coverage"
alerts=$(sed -n 's/^[[:space:]]*-[[:space:]]*alert:[[:space:]]*\([A-Za-z0-9_]*\).*$/\1/p' "$rules")
if [[ -z $alerts ]]; then
  echo "FAIL: no alerts found in $rules" >&2
  exit 1
fi
coverage=$(awk '
  /^[[:space:]]*alertname:/ { current = $2; next }
  /^[[:space:]]*exp_alerts:[[:space:]]*\[\][[:space:]]*$/ { if (current != "") silent[current] = 1; current = ""; next }
  /^[[:space:]]*exp_alerts:[[:space:]]*$/ { if (current != "") fires[current] = 1; current = ""; next }
  END { for (a in fires) print a, "fires"; for (a in silent) print a, "silent" }
' "$tests")
failed=0
for alert in $alerts; do
  covered=1
  for kind in fires silent; do
    if ! grep -qx "$alert $kind" <<<"$coverage"; then
      echo "FAIL: alert $alert has no unit test where it $( [[ $kind == fires ]] && echo fires || echo 'stays silent (exp_alerts: [])' )" >&2
      covered=0
      failed=1
    fi
  done
  if [[ $covered -eq 1 ]]; then
    echo "  $alert: fires and silent cases tested"
  fi
done
if [[ $failed -ne 0 ]]; then
  exit 1
fi

echo "OK: $(wc -w <<<"$alerts") alerts and the recording rules in $rules pass promtool check and unit tests"
