#!/usr/bin/env python3
"""End to end with a real Prometheus: two `streamdit serve` replicas scraped by Debian's
`prometheus`, called through gRPC's round_robin policy, one of them drained under load.

1. Starts two replicas on loopback (devices cpu:0 and cpu:1, so a response says which replica
   served it), each with its /metrics exposer, and Prometheus scraping both every second with
   deploy/prometheus/streamdit-rules.yaml loaded.
2. A round_robin client (health-checked, retrying UNAVAILABLE) sends requests one at a time: both
   replicas serve some. Through Prometheus' HTTP API: the job-peak histogram's sum and count per
   replica equal the peaks the responses returned; the device-peak gauge equals the peak that
   GetServerStatus reports; images and requests summed over the replicas equal what was
   returned. `promtool check metrics` passes on each replica's exposition text.
4. Every panel of deploy/grafana/streamdit-dashboard.json, with its variables substituted, returns
   data from the live Prometheus.
5. Replica A gets SIGTERM while streaming requests it accepted are running: every accepted request
   ends with its image, A exits 0, and the requests sent afterwards are all served by B.

usage: metrics_e2e.py STREAMDIT_BINARY SOURCE_DIR
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import grpc

from e2e_support import DEMO_MODEL, load_messages, wait_serving

BINARY, SOURCE = sys.argv[1], sys.argv[2]
PROTO_ROOT = os.path.join(SOURCE, "proto")
RULES = os.path.join(SOURCE, "deploy", "prometheus", "streamdit-rules.yaml")
DASHBOARD = os.path.join(SOURCE, "deploy", "grafana", "streamdit-dashboard.json")
SERVICE = "/streamdit.v1.ImageGeneration/"

CONFIG = """
listen: 127.0.0.1:{port}
metrics_listen: 127.0.0.1:{metrics_port}
grace_period: 60s
log_level: info
devices:
  - name: {device}
    budget: 4GiB
""" + DEMO_MODEL

PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{rules}"]
scrape_configs:
  - job_name: streamdit
    static_configs:
      - targets: [{targets}]
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Replica:
    def __init__(self, workdir, name, device, model_dir):
        self.name, self.device = name, device
        self.port, self.metrics_port = free_port(), free_port()
        folder = os.path.join(workdir, name)
        os.makedirs(folder)
        config = os.path.join(folder, "config.yaml")
        with open(config, "w") as handle:
            handle.write(CONFIG.format(port=self.port, metrics_port=self.metrics_port,
                                       device=device, model_dir=model_dir))
        self.log = open(os.path.join(folder, "server.log"), "w+")
        self.process = subprocess.Popen([BINARY, "serve", "--config", config], stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=folder)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def wait_serving(self):
        wait_serving(self.address, exited=self.check_running)

    def check_running(self):
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.process.returncode}:\n"
                                 f"{self.output()}")

    def metrics_text(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Prometheus:
    def __init__(self, workdir, targets):
        self.port = free_port()
        folder = os.path.join(workdir, "prometheus")
        os.makedirs(folder)
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w") as handle:
            handle.write(PROMETHEUS_CONFIG.format(
                rules=RULES, targets=", ".join(f'"{t}"' for t in targets)))
        self.log = open(os.path.join(folder, "prometheus.log"), "w+")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                self.log.seek(0)
                raise AssertionError(f"prometheus exited:\n{self.log.read()}")
            time.sleep(0.2)
        raise AssertionError("prometheus never became ready")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, expr):
        url = self.url("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, expr, expected, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            result = self.query(expr)
            if len(result) == 1:
                last = float(result[0]["value"][1])
                if last == expected:
                    return
            time.sleep(0.5)
        raise AssertionError(f"{expr} = {last}, expected {expected}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def round_robin_channel(replicas):
    targets = ",".join(f"127.0.0.1:{r.port}" for r in replicas)
    service_config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        # A draining replica says NOT_SERVING: health checking takes it out of the rotation.
        "healthCheckConfig": {"serviceName": ""},
        "methodConfig": [{
            "name": [{"service": "streamdit.v1.ImageGeneration"}],
            "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
                            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
        }],
    }
    return grpc.insecure_channel(f"ipv4:{targets}", options=[
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.enable_retries", 1),
    ])


def check_exposition(replica):
    text = replica.metrics_text()
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                             capture_output=True)
    assert checked.returncode == 0, f"promtool check metrics:\n{checked.stdout}{checked.stderr}"
    for family in ("streamdit_device_memory_budget_bytes", "streamdit_job_memory_peak_bytes",
                   "streamdit_requests_total", "streamdit_queue_depth"):
        assert f"# TYPE {family}" in text, f"{family} missing from {replica.name}'s /metrics"


def dashboard_queries(devices):
    with open(DASHBOARD) as handle:
        dashboard = json.load(handle)
    panels = []

    def walk(items):
        for panel in items:
            panels.append(panel)
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    substitutions = [("${device}", devices), ("$device", devices), ("${instance}", ".*"),
                     ("$instance", ".*"), ("$__rate_interval", "1m"), ("$__interval", "1m"),
                     ("$__range", "5m")]
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if not expr:
                continue
            for variable, value in substitutions:
                expr = expr.replace(variable, value)
            yield panel.get("title", "?"), expr


def has_data(result):
    return any(value[1] not in ("NaN", "+Inf", "-Inf") for value in
               (series["value"] for series in result))


def main():
    pb = load_messages(PROTO_ROOT)
    workdir = tempfile.mkdtemp(prefix="streamdit_metrics_e2e_")
    model_dir = os.path.join(workdir, "model")
    replicas, prometheus = [], None
    try:
        replicas.append(Replica(workdir, "a", "cpu:0", model_dir))
        replicas[0].wait_serving()  # writes the demo model once
        replicas.append(Replica(workdir, "b", "cpu:1", model_dir))
        replicas[1].wait_serving()
        a, b = replicas
        prometheus = Prometheus(workdir, [f"127.0.0.1:{r.metrics_port}" for r in replicas])

        # Scraping starts a few seconds after Prometheus is ready: wait for both targets.
        prometheus.wait_for('count(up{job="streamdit"} == 1)', 2, timeout=60)
        channel = round_robin_channel(replicas)
        generate = channel.unary_unary(SERVICE + "GenerateImage",
                                       request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=pb.GenerateImageResponse.FromString)
        peaks = {"cpu:0": [], "cpu:1": []}
        requests = 12
        for i in range(requests):  # one at a time: each request is a launch of its own
            if i == requests // 2:
                # Scrapes between two rounds: the rates of series born in the first round see
                # the second round's increase.
                time.sleep(3)
            request = pb.GenerateImageRequest(prompt=f"replica {i}", seed=10 + i)
            response = generate(request, timeout=300)
            peaks[response.stats.device].append(response.stats.memory_peak_bytes)
        assert peaks["cpu:0"] and peaks["cpu:1"], f"round_robin did not spread the load: {peaks}"
        print("requests per replica:", {d: len(p) for d, p in peaks.items()})
        for replica in replicas:
            check_exposition(replica)

        time.sleep(3)  # a few scrapes
        for replica in replicas:
            instance = f'instance="127.0.0.1:{replica.metrics_port}"'
            served = peaks[replica.device]
            prometheus.wait_for(f"streamdit_job_memory_peak_bytes_count{{{instance}}}",
                                len(served))
            prometheus.wait_for(f"streamdit_job_memory_peak_bytes_sum{{{instance}}}", sum(served))
            status_rpc = grpc.insecure_channel(replica.address).unary_unary(
                SERVICE + "GetServerStatus", request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.GetServerStatusResponse.FromString)
            device = status_rpc(pb.GetServerStatusRequest(), timeout=30).devices[0]
            assert device.name == replica.device
            prometheus.wait_for(
                f'streamdit_device_memory_peak_bytes{{{instance},device="{replica.device}"}}',
                device.peak_bytes)
            assert device.peak_bytes >= max(served), (device.peak_bytes, served)
            prometheus.wait_for(
                f'streamdit_device_memory_budget_bytes{{{instance},device="{replica.device}"}}',
                device.budget_bytes)
        prometheus.wait_for("sum(streamdit_images_generated_total)", requests)
        prometheus.wait_for('sum(streamdit_requests_total{method="GenerateImage",code="OK"})',
                            requests)
        prometheus.wait_for('count(up{job="streamdit"} == 1)', 2)

        empty = []
        for title, expr in dashboard_queries("cpu:0|cpu:1"):
            if not has_data(prometheus.query(expr)):
                empty.append(f"{title}: {expr}")
        assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
        print("dashboard: every panel query returns data")

        drain_replica_under_load(pb, channel, a, b)
        print("metrics e2e: OK")
    finally:
        if prometheus:
            prometheus.stop()
        for replica in replicas:
            replica.stop()
            print(f"--- {replica.name} ---\n{replica.output()[-3000:]}")
        shutil.rmtree(workdir, ignore_errors=True)


def drain_replica_under_load(pb, channel, a, b):
    stream = channel.unary_stream(SERVICE + "StreamGenerateImage",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.StreamGenerateImageResponse.FromString)
    count = 6
    accepted = [threading.Event() for _ in range(count)]
    outcomes, devices = [None] * count, [None] * count

    def client(i):
        request = pb.GenerateImageRequest(prompt=f"drain {i}", seed=200 + i, steps=8)
        try:
            for event in stream(request, timeout=600):
                kind = event.WhichOneof("event")
                if kind == "queued":
                    accepted[i].set()
                elif kind == "result":
                    devices[i] = event.result.stats.device
                outcomes[i] = kind
        except grpc.RpcError as error:
            outcomes[i] = error.code()
        accepted[i].set()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for event in accepted:
        assert event.wait(120), "a request was never accepted"
    assert "cpu:0" in devices or any(o == "queued" for o in outcomes), "nothing ran on A"
    a.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    generate = channel.unary_unary(SERVICE + "GenerateImage",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=pb.GenerateImageResponse.FromString)
    late_devices = []
    for i in range(4):
        response = generate(pb.GenerateImageRequest(prompt=f"after {i}", seed=300 + i),
                            timeout=300)
        late_devices.append(response.stats.device)
    for thread in threads:
        thread.join(600)
    assert outcomes == ["result"] * count, f"accepted requests lost in the drain: {outcomes}"
    assert set(late_devices) == {b.device}, f"requests after the drain went to {late_devices}"
    assert a.process.wait(120) == 0, f"replica a exited {a.process.returncode} after SIGTERM"
    print(f"drain: {devices.count(a.device)} of {count} accepted requests finished on the "
          f"draining replica; later requests all on {b.device}")


if __name__ == "__main__":
    main()
