#!/usr/bin/env python3
"""End to end: the real `streamdit serve` binary on loopback, called by clients nobody here wrote.

1. Starts `streamdit serve` with a config for the demo model (created on first start), waits for
   the standard health service to say SERVING.
2. Runs two Python clients, each as a user would write it, with this script's interpreter (the
   virtual environment's, where scripts/setup installs grpcio and its companions): the generic one
   (python_client.py: grpcio's generic calls, messages compiled from the proto) and the stub one
   (stub_client.py: grpcio-tools' generated stubs, the standard health and reflection clients).
3. SIGTERM under load: several streaming requests are accepted (each has its "queued" event), then
   the server gets SIGTERM; every accepted request must still end with its image, new requests
   must be refused UNAVAILABLE, and the process must exit 0.
4. A corrupt model file at start: exit 1 with the file named.

usage: serve_e2e.py STREAMDIT_BINARY SOURCE_DIR
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc

from e2e_support import DEMO_MODEL, load_messages, wait_serving

BINARY, SOURCE = sys.argv[1], sys.argv[2]
PROTO_ROOT = os.path.join(SOURCE, "proto")
HERE = os.path.dirname(os.path.abspath(__file__))

CONFIG = """
listen: 127.0.0.1:0
grace_period: 60s
log_level: info
devices:
  - name: cpu:0
    budget: 4GiB
""" + DEMO_MODEL


def start_server(workdir, config_text):
    config = os.path.join(workdir, "config.yaml")
    with open(config, "w") as handle:
        handle.write(config_text)
    log = open(os.path.join(workdir, "server.log"), "w+")
    process = subprocess.Popen([BINARY, "serve", "--config", config], stdout=log,
                               stderr=subprocess.STDOUT, cwd=workdir)
    return process, log


def wait_for_port(process, log, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"server exited {process.returncode}:\n{log.read()}")
        log.seek(0)
        match = re.search(r"listening on \S+ \(port (\d+)\)", log.read())
        if match:
            return int(match.group(1))
        time.sleep(0.1)
    raise AssertionError("the server did not say where it listens")


def sigterm_under_load(process, address, pb):
    channel = grpc.insecure_channel(address)
    stream = channel.unary_stream("/streamdit.v1.ImageGeneration/StreamGenerateImage",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.StreamGenerateImageResponse.FromString)
    accepted = [threading.Event() for _ in range(6)]
    outcomes = [None] * 6

    def client(i):
        request = pb.GenerateImageRequest(prompt=f"drain {i}", seed=100 + i, steps=8)
        try:
            kinds = []
            for event in stream(request, timeout=600):
                kind = event.WhichOneof("event")
                kinds.append(kind)
                if kind == "queued":
                    accepted[i].set()
            outcomes[i] = kinds[-1]
        except grpc.RpcError as error:
            outcomes[i] = error.code()
        accepted[i].set()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for event in accepted:
        assert event.wait(120), "a request was never accepted"
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    late = channel.unary_unary("/streamdit.v1.ImageGeneration/GenerateImage",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=pb.GenerateImageResponse.FromString)
    try:
        late(pb.GenerateImageRequest(prompt="late", seed=1), timeout=60)
        late_code = grpc.StatusCode.OK
    except grpc.RpcError as error:
        late_code = error.code()
    for thread in threads:
        thread.join(600)
    assert outcomes == ["result"] * 6, f"accepted requests lost in the drain: {outcomes}"
    assert late_code == grpc.StatusCode.UNAVAILABLE, late_code
    assert process.wait(120) == 0, f"serve exited {process.returncode} after SIGTERM"


def corrupt_model(workdir):
    model_dir = os.path.join(workdir, "corrupt-model")
    shutil.copytree(os.path.join(workdir, "model"), model_dir)
    with open(os.path.join(model_dir, "ae.safetensors"), "wb") as handle:
        handle.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    process, log = start_server(workdir, CONFIG.format(model_dir=model_dir).replace(
        "create_demo: true", "create_demo: false"))
    code = process.wait(300)
    log.seek(0)
    text = log.read()
    assert code == 1, f"exit {code} for a corrupt model file:\n{text}"
    assert "ae.safetensors" in text, text


def main():
    workdir = tempfile.mkdtemp(prefix="streamdit_e2e_")
    try:
        process, log = start_server(workdir, CONFIG.format(model_dir=os.path.join(workdir, "model")))
        try:
            port = wait_for_port(process, log)
            address = f"127.0.0.1:{port}"
            wait_serving(address)
            # sys.executable: the clients need this interpreter's packages (grpcio, grpcio-tools,
            # grpcio-health-checking, grpcio-reflection), which Debian's python3 lacks.
            for client in ("python_client.py", "stub_client.py"):
                subprocess.run([sys.executable, os.path.join(HERE, client), address, PROTO_ROOT],
                               check=True, timeout=600)
            sigterm_under_load(process, address, load_messages(PROTO_ROOT))
        finally:
            if process.poll() is None:
                process.kill()
            log.seek(0)
            print(log.read()[-4000:])
        corrupt_model(workdir)
        print("serve e2e: OK")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
