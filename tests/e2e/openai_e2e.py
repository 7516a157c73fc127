#!/usr/bin/env python3
"""End to end: the HTTP front end of the real `streamdit serve`, called by the official `openai`
Python client (PyPI) and by a raw HTTP client, beside the gRPC API on the same server.

The server runs with API keys (from an environment variable the config names), a queue of one
request per priority class and no cross-request batching, so that a full queue can be made.

1. models.list: the configured model. images.generate with n=2 and a seed s: two PNGs with seeds
   s and s+1, byte for byte the images the gRPC API gives for the same request; JPEG and WebP
   at two qualities (the lower one smaller).
2. Each error class the client raises for its fault: BadRequestError (a size that is not a
   multiple of 16), AuthenticationError (a wrong key, no key), NotFoundError (an unknown model),
   RateLimitError (the queue is full), APITimeoutError (the client gives up; the server cancels
   the job and returns its memory).
3. The bad-input table over raw HTTP: malformed JSON, wrong types, non-UTF-8, a body over the
   limit, unknown fields (ignored), each with its status and the field named.
4. Server-sent events: queued, started, every step in order, then one completed event per image
   (WebP here);
   hanging up mid-stream cancels the job and nothing stays reserved.
5. API keys on gRPC too (UNAUTHENTICATED without one; health stays open), the refusals counted in
   streamdit_requests_total, and no key in any line of the server's log.
6. The streamdit CLI as a client: refused without $STREAMDIT_API_KEY (saying where the key comes
   from), served with it.

usage: openai_e2e.py STREAMDIT_BINARY SOURCE_DIR
"""
import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc
import openai

from e2e_support import load_stubs, wait_serving

BINARY, SOURCE = sys.argv[1], sys.argv[2]
PROTO_ROOT = os.path.join(SOURCE, "proto")
KEY = "sk-streamdit-e2e-0123456789abcdef"
WRONG_KEY = "sk-streamdit-e2e-wrong-key-999999"

CONFIG = """
listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
  max_body_bytes: 64KiB
auth:
  api_keys_env: STREAMDIT_E2E_KEYS
grace_period: 10s
devices:
  - name: cpu:0
    budget: 100MiB  # one 256x256 job at a time (its minimum is 67 MiB): a queue can fill
scheduler:
  queue_capacity: 1
  max_batch_images: 1
models:
  - name: flux1-demo
    family: dev
    dir: {model_dir}
    create_demo: true
    defaults: {{steps: 2, width: 64, height: 64, t5_max_length: 32}}
"""


def start_server(workdir):
    config = os.path.join(workdir, "config.yaml")
    with open(config, "w") as handle:
        handle.write(CONFIG.format(model_dir=os.path.join(workdir, "model")))
    log = open(os.path.join(workdir, "server.log"), "w+")
    environment = dict(os.environ, STREAMDIT_E2E_KEYS=f"# the e2e key\n{KEY}\n")
    process = subprocess.Popen([BINARY, "serve", "--config", config], stdout=log,
                               stderr=subprocess.STDOUT, cwd=workdir, env=environment)
    return process, log


def wait_for_ports(process, log, timeout=300):
    """(grpc, http, metrics) ports, read from the server's log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"server exited {process.returncode}:\n{log.read()}")
        log.seek(0)
        text = log.read()
        grpc_port = re.search(r"listening on \S+ \(port (\d+)\)", text)
        http_port = re.search(r"HTTP \(OpenAI images API\) on \S+ \(port (\d+)\)", text)
        metrics_port = re.search(r"metrics on \S+ \(port (\d+)\)", text)
        if grpc_port and http_port and metrics_port:
            return int(grpc_port.group(1)), int(http_port.group(1)), int(metrics_port.group(1))
        time.sleep(0.1)
    raise AssertionError("the server did not say where it listens")


class Server:
    """The gRPC side (stubs, status) of the server under test, called with the key."""

    def __init__(self, grpc_port):
        self.pb, stubs = load_stubs(PROTO_ROOT)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        self.stub = stubs.ImageGenerationStub(self.channel)
        self.auth = (("authorization", f"Bearer {KEY}"),)

    def status(self):
        return self.stub.GetServerStatus(self.pb.GetServerStatusRequest(), metadata=self.auth,
                                         timeout=10)

    def wait_until(self, predicate, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.status()
            if predicate(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"never {what}: {self.status()}")

    def wait_idle(self):
        """Nothing queued, running or reserved: every job ended and returned its memory."""
        return self.wait_until(
            lambda s: s.queue_depth == 0 and all(
                d.running_launches == 0 and d.reserved_bytes == 0 for d in s.devices), "idle")


def raw(http_port, body, headers=None, key=KEY):
    """(status, parsed JSON reply) of a POST /v1/images/generations with a raw client."""
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=120)
    all_headers = {"Content-Type": "application/json"}
    if key:
        all_headers["Authorization"] = f"Bearer {key}"
    all_headers.update(headers or {})
    connection.request("POST", "/v1/images/generations", body=body, headers=all_headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, json.loads(payload)


class EventStream:
    """A streaming request read event by event with a raw HTTP client."""

    def __init__(self, http_port, request):
        self.connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=120)
        self.connection.request("POST", "/v1/images/generations",
                                body=json.dumps(dict(request, stream=True)),
                                headers={"Authorization": f"Bearer {KEY}",
                                         "Content-Type": "application/json"})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        if self.status == 200:
            assert self.response.getheader("Content-Type").startswith("text/event-stream")

    def next(self):
        """(event name, data) of the next event; None at the end of the stream."""
        name, data = None, None
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\r\n")
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: "):])
            elif line == "" and name is not None:
                return name, data

    def until(self, wanted):
        while True:
            event = self.next()
            assert event is not None, f"the stream ended before {wanted}"
            if event[0] == wanted:
                return event[1]

    def hang_up(self):
        self.connection.sock.close()
        self.connection.close()


def check_generate_equals_grpc(client, server):
    models = client.models.list()
    assert [model.id for model in models.data] == ["flux1-demo"], models
    reply = client.images.generate(model="flux1-demo", prompt="a red fox in the snow", n=2,
                                   size="64x64", response_format="b64_json",
                                   extra_body={"seed": 1234, "num_inference_steps": 2})
    assert len(reply.data) == 2, reply
    pngs = [base64.b64decode(item.b64_json) for item in reply.data]
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    extra = reply.model_extra["streamdit"]
    assert extra["seeds"] == [1234, 1235], extra
    assert [item.model_extra["seed"] for item in reply.data] == [1234, 1235]
    assert extra["memory_peak_bytes"] > 0 and extra["memory_budget_bytes"] >= extra[
        "memory_peak_bytes"], extra
    pb = server.pb
    grpc_reply = server.stub.GenerateImage(
        pb.GenerateImageRequest(model="flux1-demo", prompt="a red fox in the snow", width=64,
                                height=64, steps=2, seed=1234, batch_size=2),
        metadata=server.auth, timeout=300)
    assert [image.seed for image in grpc_reply.images] == [1234, 1235]
    assert [image.png for image in grpc_reply.images] == pngs, "HTTP and gRPC images differ"

    # JPEG and WebP, encoded from the same pixels at the requested quality.
    for output_format, magic in (("jpeg", b"\xff\xd8\xff"), ("webp", b"RIFF")):
        sizes = []
        for compression in (100, 20):
            reply = client.images.generate(
                model="flux1-demo", prompt="a red fox in the snow", size="64x64",
                output_format=output_format, output_compression=compression,
                extra_body={"seed": 1234, "num_inference_steps": 2})
            image = base64.b64decode(reply.data[0].b64_json)
            assert image.startswith(magic), (output_format, image[:16])
            assert reply.output_format == output_format, reply.output_format
            sizes.append(len(image))
        assert sizes[1] < sizes[0], (output_format, sizes)


def check_error_classes(client, http_port, server):
    try:
        client.images.generate(prompt="x", size="72x64")
        raise AssertionError("a width that is not a multiple of 16 was accepted")
    except openai.BadRequestError as error:
        assert error.status_code == 400 and "width" in str(error), error
        assert error.body["param"] == "size", error.body
    bad = openai.OpenAI(base_url=client.base_url, api_key=WRONG_KEY, max_retries=0)
    try:
        bad.models.list()
        raise AssertionError("a wrong key was let in")
    except openai.AuthenticationError as error:
        assert error.status_code == 401 and error.body["type"] == "authentication_error", error
    # No key at all (the client insists on one, so a raw request).
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    connection.request("GET", "/v1/models")
    response = connection.getresponse()
    assert response.status == 401, response.status
    assert response.getheader("WWW-Authenticate") == "Bearer"
    assert "API key is required" in json.loads(response.read())["error"]["message"]
    connection.close()
    try:
        client.images.generate(model="no-such-model", prompt="x")
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as error:
        assert "no-such-model" in str(error), error

    # A full queue: long jobs until one is refused (one runs, the queue holds one per class).
    held = []
    for _ in range(8):
        stream = EventStream(http_port, {"prompt": "long", "size": "256x256",
                                         "num_inference_steps": 60})
        if stream.status != 200:
            reply = json.loads(stream.response.read())
            assert stream.status == 429 and reply["error"]["code"] == "queue_full", reply
            stream.hang_up()
            break
        stream.until("streamdit.queued")
        held.append(stream)
    else:
        raise AssertionError("8 long requests were all accepted with a queue of one")
    try:
        client.images.generate(prompt="one too many")
        raise AssertionError("a request beyond the queue's capacity was accepted")
    except openai.RateLimitError as error:
        assert error.status_code == 429 and error.body["code"] == "queue_full", error.body
        assert error.body["type"] == "rate_limit_error", error.body
    # Hanging up cancels them all (a running one at its next step) and returns their memory.
    for stream in held:
        stream.hang_up()
    server.wait_idle()

    # The client gives up: its job is cancelled and returns its memory.
    impatient = client.with_options(timeout=1.5)
    started = time.time()
    try:
        impatient.images.generate(prompt="slow", size="256x256",
                                  extra_body={"num_inference_steps": 60})
        raise AssertionError("a 60-step 256x256 image took less than 1.5 s")
    except openai.APITimeoutError:
        pass
    server.wait_idle()
    assert time.time() - started < 30, "the abandoned job ran on"


def check_bad_input_table(http_port):
    cases = [
        (b"{not json", 400, "body"),
        (b"[1, 2]", 400, "body"),
        (b'{"size": "64x64"}', 400, "prompt"),
        (b'{"prompt": 7}', 400, "prompt"),
        (b'{"prompt": "x", "n": "two"}', 400, "n"),
        (b'{"prompt": "x", "n": 1.5}', 400, "n"),
        (b'{"prompt": "x", "n": 99}', 400, "n"),
        (b'{"prompt": "x", "size": "big"}', 400, "size"),
        (b'{"prompt": "x", "size": "64x64x64"}', 400, "size"),
        (b'{"prompt": "x", "seed": -1}', 400, "seed"),
        (b'{"prompt": "x", "num_inference_steps": 0}', 400, "num_inference_steps"),
        (b'{"prompt": "x", "guidance_scale": "high"}', 400, "guidance_scale"),
        (b'{"prompt": "x", "response_format": "url"}', 400, "response_format"),
        (b'{"prompt": "x", "output_format": "gif"}', 400, "output_format"),
        (b'{"prompt": "x", "output_compression": 120}', 400, "output_compression"),
        (b'{"prompt": "x", "stream": "yes"}', 400, "stream"),
        (b'{"prompt": "x", "priority": "urgent"}', 400, "priority"),
        (b'{"prompt": "x", "loras": [{"strength": 1}]}', 400, "loras"),
        (b'{"prompt": "x", "loras": [{"name": "nope"}]}', 404, "loras"),
        (b'{"prompt": "\xff\xfe"}', 400, "body"),
        (b'{"prompt": "x", "size": "4096x4096"}', 400, "size"),
    ]
    for body, want_status, want_param in cases:
        status, reply = raw(http_port, body)
        assert status == want_status, (body, status, reply)
        error = reply["error"]
        assert error["param"] == want_param or want_param in error["message"], (body, error)
        assert error["message"] and error["type"], (body, error)
    # Over the body limit (64 KiB in this config): 413 before anything is parsed.
    status, reply = raw(http_port, json.dumps({"prompt": "x" * (80 << 10)}).encode())
    assert status == 413 and "limit" in reply["error"]["message"], (status, reply)
    # Fields OpenAI defines that this server does not use, and unknown ones: ignored.
    status, reply = raw(http_port, json.dumps({"prompt": "x", "quality": "hd", "style": "vivid",
                                               "background": "auto", "made_up": {"a": 1}}))
    assert status == 200 and len(reply["data"]) == 1, (status, reply)
    # null is the same as leaving a field out.
    status, reply = raw(http_port, json.dumps({"prompt": "x", "n": None, "seed": None}))
    assert status == 200, (status, reply)


def check_event_stream(http_port, server):
    stream = EventStream(http_port, {"prompt": "events", "n": 2, "num_inference_steps": 3,
                                     "seed": 77, "output_format": "webp"})
    names, steps, completed = [], [], []
    while True:
        event = stream.next()
        if event is None:
            break
        name, data = event
        names.append(name)
        assert data["type"] == name, event
        if name == "streamdit.step":
            steps.append((data["step"], data["total_steps"]))
        if name == "image_generation.completed":
            completed.append(data)
    assert names[0] == "streamdit.queued" and "streamdit.started" in names, names
    assert names.index("streamdit.started") < names.index("streamdit.step"), names
    assert steps == [(1, 3), (2, 3), (3, 3)], steps
    assert names[-2:] == ["image_generation.completed"] * 2, names
    assert [event["seed"] for event in completed] == [77, 78]
    assert all(event["output_format"] == "webp" for event in completed), completed
    assert all(base64.b64decode(event["b64_json"])[8:12] == b"WEBP" for event in completed)
    # Hanging up after the first step: the job stops and its memory returns.
    stream = EventStream(http_port, {"prompt": "abandoned", "size": "256x256",
                                     "num_inference_steps": 60})
    stream.until("streamdit.step")
    stream.hang_up()
    server.wait_idle()


def check_grpc_keys_and_counts(grpc_port, metrics_port, server):
    pb = server.pb
    try:
        server.stub.ListModels(pb.ListModelsRequest(), timeout=10)
        raise AssertionError("gRPC without a key was let in")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
    try:
        server.stub.ListModels(pb.ListModelsRequest(), timeout=10,
                               metadata=(("authorization", f"Bearer {WRONG_KEY}"),))
        raise AssertionError("gRPC with a wrong key was let in")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
    wait_serving(f"127.0.0.1:{grpc_port}")  # health needs no key
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    http_refused = re.search(r'streamdit_requests_total\{code="UNAUTHENTICATED",'
                             r'method="GET /v1/models",protocol="http"\} (\d+)', metrics)
    grpc_refused = re.search(r'streamdit_requests_total\{code="UNAUTHENTICATED",'
                             r'method="ListModels",protocol="grpc"\} (\d+)', metrics)
    assert http_refused and int(http_refused.group(1)) == 2, metrics
    assert grpc_refused and int(grpc_refused.group(1)) == 2, metrics
    generated = re.search(r'streamdit_requests_total\{code="OK",'
                          r'method="POST /v1/images/generations",protocol="http"\} (\d+)',
                          metrics)
    assert generated and int(generated.group(1)) >= 3, metrics
    # Every HTTP request's time, streams included (a stream counts when it ends): at least the
    # generations' denoising time.
    handled = re.search(r'streamdit_request_handling_seconds_sum\{'
                        r'method="POST /v1/images/generations",protocol="http"\} ([0-9.e+-]+)',
                        metrics)
    assert handled and float(handled.group(1)) > 0, metrics
    route = r'method="POST /v1/images/generations",protocol="http"'
    answered = sum(int(n) for n in re.findall(
        r'streamdit_requests_total\{code="[A-Z_]+",' + route + r'\} (\d+)', metrics))
    timed = re.search(r'streamdit_request_handling_seconds_count\{' + route + r'\} (\d+)', metrics)
    assert timed and int(timed.group(1)) == answered, (answered, metrics)


def check_cli_key(grpc_port):
    """The streamdit CLI sends $STREAMDIT_API_KEY (never a flag) and says where the key comes from."""
    address = f"127.0.0.1:{grpc_port}"
    environment = {k: v for k, v in os.environ.items() if k != "STREAMDIT_API_KEY"}
    refused = subprocess.run([BINARY, "status", "--server", address], env=environment,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1, (refused.returncode, refused.stderr)
    assert "STREAMDIT_API_KEY" in refused.stderr, refused.stderr
    served = subprocess.run([BINARY, "status", "--server", address],
                            env=dict(environment, STREAMDIT_API_KEY=KEY),
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 0, (served.returncode, served.stderr)
    assert "serving" in served.stdout, served.stdout
    assert KEY not in served.stdout + served.stderr, "the CLI printed its key"


def main():
    workdir = tempfile.mkdtemp(prefix="streamdit_openai_e2e_")
    try:
        process, log = start_server(workdir)
        try:
            grpc_port, http_port, metrics_port = wait_for_ports(process, log)
            wait_serving(f"127.0.0.1:{grpc_port}")
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz") as ready:
                assert ready.status == 200
            server = Server(grpc_port)
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{http_port}/v1", api_key=KEY,
                                   max_retries=0, timeout=300)
            check_generate_equals_grpc(client, server)
            check_error_classes(client, http_port, server)
            check_bad_input_table(http_port)
            check_event_stream(http_port, server)
            check_grpc_keys_and_counts(grpc_port, metrics_port, server)
            check_cli_key(grpc_port)
            process.terminate()
            assert process.wait(120) == 0, f"serve exited {process.returncode} after SIGTERM"
        finally:
            if process.poll() is None:
                process.kill()
            log.seek(0)
            text = log.read()
            print(text[-3000:])
        for secret in (KEY, WRONG_KEY):
            assert secret not in text, "an API key was written to the log"
        print("openai e2e: OK")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
