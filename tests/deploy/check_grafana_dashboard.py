#!/usr/bin/python3
"""Static checks of deploy/grafana/streamdit-dashboard.json.

Usage: check_grafana_dashboard.py REPOSITORY_ROOT

Checks: the file is valid JSON; uid and title are "streamdit"; the templating variables
`datasource` (type datasource, query prometheus) and `device` (a multi-value, include-all query over
label_values(streamdit_device_memory_budget_bytes, device)) exist; every panel, including the panels
nested in rows, has at least one target with a non-empty expr and a datasource referencing
${datasource}; every metric name in an expr is an exported streamdit metric (the catalogue below);
every selector of a metric with a device label matches device=~"$device" (and instance=~"$instance"
when that variable exists); range windows are Grafana variables ($__rate_interval, $__range,
$__interval), never hard-coded; the metric families the dashboard must show all appear; gridPos is
present and panels do not overlap.

When promtool is available (PROMTOOL, PATH or /usr/bin/promtool) it also evaluates every target, with
the variables substituted as the end-to-end test does ($device -> "cpu:0|cpu:1", $instance -> ".*",
$__rate_interval/$__interval/$__range -> 1m), against synthetic series that model a fresh server after
three generations on cpu:0 (the FIXTURE below: only the series the server exports from start or on
every generation; no OOM retry, model load or eviction, rejection, or weight streaming happened), and
requires each to return at least one non-NaN sample. This catches PromQL syntax errors and panels that
stay empty on a quiet server.

Exits non-zero with a message per problem.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The exported metric families (names are API) and their labels, besides job and instance.
GAUGES = {
    "streamdit_device_memory_budget_bytes": ["device"],
    "streamdit_device_memory_used_bytes": ["device"],
    "streamdit_device_memory_reserved_bytes": ["device"],
    "streamdit_device_memory_peak_bytes": ["device"],
    "streamdit_device_healthy": ["device"],
    "streamdit_device_running_launches": ["device"],
    "streamdit_resident_weight_bytes": ["device", "model"],
    "streamdit_queue_depth": ["priority"],
    "streamdit_draining": [],
}
HISTOGRAMS = {
    "streamdit_job_memory_peak_bytes": ["device", "model"],
    "streamdit_job_memory_predicted_bytes": ["device", "model"],
    "streamdit_queue_wait_seconds": ["model"],
    "streamdit_request_duration_seconds": ["model", "phase"],
    "streamdit_denoise_step_seconds": ["device", "model"],
    "streamdit_batch_size": ["device", "model"],
    "streamdit_request_handling_seconds": ["protocol", "method"],
}
COUNTERS = {
    "streamdit_requests_total": ["protocol", "method", "code"],
    "streamdit_requests_rejected_total": ["reason"],
    "streamdit_images_generated_total": ["device", "model"],
    "streamdit_weights_streamed_bytes_total": ["device", "model"],
    "streamdit_stream_stall_seconds_total": ["device", "model"],
    "streamdit_denoise_seconds_total": ["device", "model"],
    "streamdit_oom_retries_total": ["device", "model"],
    "streamdit_model_loads_total": ["device", "model"],
    "streamdit_model_evictions_total": ["device", "model"],
    "streamdit_lora_cache_loads_total": ["device"],
    "streamdit_lora_cache_evictions_total": ["device"],
}
CATALOGUE = {**GAUGES, **HISTOGRAMS, **COUNTERS}

# Families some panel must show.
MUST_SHOW = [
    "streamdit_device_memory_used_bytes",
    "streamdit_device_memory_budget_bytes",
    "streamdit_device_memory_reserved_bytes",
    "streamdit_device_memory_peak_bytes",
    "streamdit_job_memory_peak_bytes",
    "streamdit_job_memory_predicted_bytes",
    "streamdit_queue_depth",
    "streamdit_queue_wait_seconds",
    "streamdit_request_duration_seconds",
    "streamdit_images_generated_total",
    "streamdit_weights_streamed_bytes_total",
    "streamdit_stream_stall_seconds_total",
    "streamdit_denoise_seconds_total",
    "streamdit_resident_weight_bytes",
    "streamdit_requests_total",
    "streamdit_oom_retries_total",
    "streamdit_model_loads_total",
    "streamdit_model_evictions_total",
    "streamdit_batch_size",
    "streamdit_request_handling_seconds",
]

DEVICE_QUERY = "label_values(streamdit_device_memory_budget_bytes, device)"
TOKEN = re.compile(r"(?<![A-Za-z0-9_:])streamdit_[A-Za-z0-9_]*")
WINDOW = re.compile(r"\[([^\]]*)\]")
DATASOURCE_REFS = ("${datasource}", "$datasource")

problems = []


def fail(message):
    problems.append(message)


def family_of(token):
    for suffix in ("_bucket", "_sum", "_count"):
        if token.endswith(suffix) and token[: -len(suffix)] in HISTOGRAMS:
            return token[: -len(suffix)]
    return token


def selectors(expr):
    """Yields (token, matcher text or None) for each metric name in expr."""
    for match in TOKEN.finditer(expr):
        rest = expr[match.end():].lstrip()
        matchers = None
        if rest.startswith("{"):
            close = rest.find("}")
            matchers = rest[1:close] if close >= 0 else rest[1:]
        yield match.group(0), matchers


def references_datasource(datasource):
    if isinstance(datasource, dict):
        return datasource.get("uid") in DATASOURCE_REFS
    return datasource in DATASOURCE_REFS


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels") or [])


def check_variables(dashboard):
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    datasource = variables.get("datasource")
    if datasource is None:
        fail("templating: no variable named 'datasource'")
    elif datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
        fail("templating: variable 'datasource' must have type datasource and query prometheus")
    device = variables.get("device")
    if device is None:
        fail("templating: no variable named 'device'")
    else:
        query = device.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if device.get("type") != "query":
            fail("templating: variable 'device' must have type query")
        if query != DEVICE_QUERY:
            fail(f"templating: variable 'device' must query {DEVICE_QUERY}, has {query!r}")
        if not device.get("multi") or not device.get("includeAll"):
            fail("templating: variable 'device' must be multi-value and include All")
        if not references_datasource(device.get("datasource")):
            fail("templating: variable 'device' must use the ${datasource} data source")
    instance = variables.get("instance")
    if instance is not None and not references_datasource(instance.get("datasource")):
        fail("templating: variable 'instance' must use the ${datasource} data source")
    return variables


def check_panel(panel, has_instance, seen_families, exprs):
    title = panel.get("title") or f"panel id {panel.get('id')}"
    if "gridPos" not in panel:
        fail(f"panel {title!r}: no gridPos")
    if panel.get("type") == "row":
        return
    if not references_datasource(panel.get("datasource")):
        fail(f"panel {title!r}: datasource must reference ${{datasource}}, has {panel.get('datasource')!r}")
    targets = panel.get("targets") or []
    if not any((t.get("expr") or "").strip() for t in targets):
        fail(f"panel {title!r}: no target with a non-empty expr")
    for target in targets:
        expr = (target.get("expr") or "").strip()
        where = f"panel {title!r} target {target.get('refId')}"
        if not expr:
            fail(f"{where}: empty expr")
            continue
        if "datasource" in target and not references_datasource(target["datasource"]):
            fail(f"{where}: datasource must reference ${{datasource}}, has {target['datasource']!r}")
        exprs.append((where, expr))
        if "streamdit_" not in expr:
            fail(f"{where}: expr uses no streamdit metric: {expr}")
        for token, matchers in selectors(expr):
            family = family_of(token)
            if family not in CATALOGUE:
                fail(f"{where}: {token} is not an exported streamdit metric")
                continue
            seen_families.add(family)
            compact = re.sub(r"\s+", "", matchers or "")
            if "device" in CATALOGUE[family] and not re.search(r'device=~"\$\{?device\}?"', compact):
                fail(f'{where}: {token} has a device label but is not filtered by device=~"$device"')
            if has_instance and not re.search(r'instance=~"\$\{?instance\}?"', compact):
                fail(f'{where}: {token} is not filtered by instance=~"$instance"')
        for window in WINDOW.findall(expr):
            if window not in ("$__rate_interval", "$__range", "$__interval", "${__rate_interval}",
                              "${__range}", "${__interval}"):
                fail(f"{where}: range [{window}] is hard-coded; use $__rate_interval or $__range")
        if "histogram_quantile" in expr and "$__rate_interval" not in expr:
            fail(f"{where}: histogram_quantile should use rate(...[$__rate_interval])")


def check_layout(panels, scope):
    boxes = []
    for panel in panels:
        grid = panel.get("gridPos")
        if not grid:
            continue
        try:
            box = (int(grid["x"]), int(grid["y"]), int(grid["w"]), int(grid["h"]), panel.get("title"))
        except (KeyError, TypeError, ValueError):
            fail(f"{scope}: panel {panel.get('title')!r} has an incomplete gridPos {grid!r}")
            continue
        x, y, w, h, title = box
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > 24:
            fail(f"{scope}: panel {title!r} has gridPos {grid!r} outside the 24-column grid")
        for ox, oy, ow, oh, other in boxes:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                fail(f"{scope}: panels {other!r} and {title!r} overlap")
        boxes.append(box)


# ------------------------------------------------------------------ promtool evaluation
JOB = 'job="streamdit",instance="127.0.0.1:9464"'
MODEL = "flux1-demo"
DEVICES = ["cpu:0", "cpu:1"]
SAMPLES = 90  # one a second
EVAL_AT = "60s"


def steps(per_generation):
    """A counter that grows by per_generation at t=20s, 30s and 40s."""
    values = [0.0] * 20 + [1.0] * 10 + [2.0] * 10 + [3.0] * (SAMPLES - 40)
    return " ".join(repr(v * per_generation) for v in values)


def constant(value):
    return f"{value}x{SAMPLES - 1}"


def histogram(name, labels, bound, per_generation, sum_per_generation):
    return [
        (f'{name}_bucket{{{labels},le="{bound}"}}', steps(per_generation)),
        (f'{name}_bucket{{{labels},le="+Inf"}}', steps(per_generation)),
        (f"{name}_count{{{labels}}}", steps(per_generation)),
        (f"{name}_sum{{{labels}}}", steps(sum_per_generation)),
    ]


def fixture():
    series = []
    gib = 1 << 30
    for device in DEVICES:
        d = f'{JOB},device="{device}"'
        series += [
            (f"streamdit_device_memory_budget_bytes{{{d}}}", constant(8 * gib)),
            (f"streamdit_device_memory_used_bytes{{{d}}}", constant(gib)),
            (f"streamdit_device_memory_reserved_bytes{{{d}}}", constant(2 * gib)),
            (f"streamdit_device_memory_peak_bytes{{{d}}}", constant(3 * gib)),
            (f"streamdit_device_healthy{{{d}}}", constant(1)),
            (f"streamdit_device_running_launches{{{d}}}", constant(0)),
        ]
    for priority in ("low", "normal", "high"):
        series.append((f'streamdit_queue_depth{{{JOB},priority="{priority}"}}', constant(0)))
    series.append((f"streamdit_draining{{{JOB}}}", constant(0)))
    # Three generations of one image each on cpu:0.
    dm = f'{JOB},device="cpu:0",model="{MODEL}"'
    series.append((f"streamdit_resident_weight_bytes{{{dm}}}", constant(gib)))
    series += histogram("streamdit_job_memory_peak_bytes", dm, 1073741824, 1, 500e6)
    series += histogram("streamdit_job_memory_predicted_bytes", dm, 1073741824, 1, 600e6)
    series += histogram("streamdit_denoise_step_seconds", dm, 0.5, 4, 0.4)
    series += histogram("streamdit_batch_size", dm, 1, 1, 1)
    series += histogram("streamdit_queue_wait_seconds", f'{JOB},model="{MODEL}"', 0.1, 1, 0.01)
    for phase in ("queue", "encode", "denoise", "decode", "total"):
        series += histogram("streamdit_request_duration_seconds", f'{JOB},model="{MODEL}",phase="{phase}"', 1, 1, 0.2)
    grpc_generate = f'{JOB},protocol="grpc",method="GenerateImage"'
    series += histogram("streamdit_request_handling_seconds", grpc_generate, 2.5, 1, 2.0)
    series += [
        (f'streamdit_requests_total{{{grpc_generate},code="OK"}}', steps(1)),
        (f"streamdit_images_generated_total{{{dm}}}", steps(1)),
        (f"streamdit_denoise_seconds_total{{{dm}}}", steps(0.4)),
    ]
    return series


SUBSTITUTIONS = {
    "device": "|".join(DEVICES),
    "instance": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1m",
}


def substitute(expr):
    def replace(match):
        name = match.group(1) or match.group(2)
        if name not in SUBSTITUTIONS:
            raise KeyError(name)
        return SUBSTITUTIONS[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)


def yaml_quote(text):
    return "'" + text.replace("'", "''") + "'"


def evaluate_with_promtool(exprs):
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool") or "/usr/bin/promtool"
    if not os.access(promtool, os.X_OK):
        print("note: promtool not found; skipping the evaluation of the panel queries")
        return
    cases = []
    for where, expr in exprs:
        try:
            concrete = substitute(expr)
        except KeyError as error:
            fail(f"{where}: unknown variable ${error.args[0]} in {expr}")
            continue
        # 1 when the query returns at least one sample that is not NaN, else 0.
        cases.append((where, f"count(({concrete}) == ({concrete})) > bool 0 or on() vector(0)"))
    lines = ["rule_files: []", "tests:", "  - interval: 1s", "    input_series:"]
    for name, values in fixture():
        lines += [f"      - series: {yaml_quote(name)}", f"        values: {yaml_quote(values)}"]
    lines.append("    promql_expr_test:")
    for _, query in cases:
        lines += [f"      - expr: {yaml_quote(query)}", f"        eval_time: {EVAL_AT}",
                  "        exp_samples:", "          - labels: '{}'", "            value: 1"]
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "dashboard-queries.test.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        result = subprocess.run([promtool, "test", "rules", path], capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        failing = [where for where, query in cases if json.dumps(query) in output]
        for where in failing:
            fail(f"{where}: returns no data (or only NaN) on a server after three generations")
        if not failing:
            fail("promtool could not evaluate the panel queries")
        print(output, file=sys.stderr)
    else:
        print(f"promtool: all {len(cases)} panel queries return data on a server after three generations")


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} REPOSITORY_ROOT", file=sys.stderr)
        return 2
    path = os.path.join(sys.argv[1], "deploy", "grafana", "streamdit-dashboard.json")
    try:
        with open(path) as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as error:
        print(f"FAIL: {path}: {error}", file=sys.stderr)
        return 1
    print(f"checking {path}")
    if dashboard.get("uid") != "streamdit":
        fail(f"uid must be 'streamdit', is {dashboard.get('uid')!r}")
    if dashboard.get("title") != "streamdit":
        fail(f"title must be 'streamdit', is {dashboard.get('title')!r}")
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
        fail(f"schemaVersion must be an integer >= 36 (Grafana 10), is {dashboard.get('schemaVersion')!r}")
    variables = check_variables(dashboard)

    top = dashboard.get("panels") or []
    if not top:
        fail("no panels")
    seen_families = set()
    exprs = []
    count = 0
    for panel in all_panels(top):
        check_panel(panel, "instance" in variables, seen_families, exprs)
        if panel.get("type") != "row":
            count += 1
    for family in MUST_SHOW:
        if family not in seen_families:
            fail(f"no panel shows {family}")
    check_layout(top, "dashboard")
    for panel in top:
        if panel.get("panels"):
            check_layout(panel["panels"], f"row {panel.get('title')!r}")
    print(f"{count} panels, {len(exprs)} targets, {len(seen_families)} metric families")

    if not problems:
        evaluate_with_promtool(exprs)

    if problems:
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        return 1
    print("OK: dashboard checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
