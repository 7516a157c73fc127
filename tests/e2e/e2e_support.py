"""What the e2e scripts share: the API's messages compiled from the public proto, the standard
health check, and the demo model's config at the test size."""
import importlib
import subprocess
import sys
import tempfile
import time

import grpc

SERVING, NOT_SERVING = b"\x08\x01", b"\x08\x02"  # grpc.health.v1.HealthCheckResponse.status

# The demo model at the test size (created on the first start); format with model_dir.
DEMO_MODEL = """
models:
  - name: flux1-demo
    family: dev
    dir: {model_dir}
    create_demo: true
    defaults: {{steps: 2, width: 64, height: 64, t5_max_length: 32}}
"""


def load_messages(proto_root):
    """streamdit.v1's messages, compiled with protoc into a temporary folder."""
    out = tempfile.mkdtemp(prefix="streamdit_e2e_pb_")
    subprocess.run(["protoc", f"-I{proto_root}", f"--python_out={out}",
                    "streamdit/v1/image_generation.proto"], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("streamdit.v1.image_generation_pb2")


def health(channel, timeout=10):
    """The serialized HealthCheckResponse of the overall service (SERVING, NOT_SERVING)."""
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=lambda raw: raw,
                                response_deserializer=lambda raw: raw)
    return check(b"", timeout=timeout)


def wait_serving(address, timeout=300, exited=None):
    """Waits until health says SERVING; returns whether NOT_SERVING was seen first. `exited`, if
    given, is called on each try and raises when the server has died."""
    channel = grpc.insecure_channel(address)
    deadline = time.time() + timeout
    saw_not_serving = False
    while time.time() < deadline:
        if exited:
            exited()
        try:
            status = health(channel, timeout=5)
            if status == SERVING:
                return saw_not_serving
            saw_not_serving = saw_not_serving or status == NOT_SERVING
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"health of {address} never became SERVING")
