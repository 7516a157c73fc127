"""What the e2e scripts share: the API's messages (and stubs) compiled from the public proto, the
standard health check, and the demo model's config at the test size."""
import atexit
import importlib
import shutil
import subprocess
import sys
import tempfile
import time

import grpc

SERVING, NOT_SERVING = b"\x08\x01", b"\x08\x02"  # grpc.health.v1.HealthCheckResponse.status
PROTO = "streamdit/v1/image_generation.proto"  # the public API, relative to the proto root

# The demo model at the test size (created on the first start); format with model_dir.
DEMO_MODEL = """
models:
  - name: flux1-demo
    family: dev
    dir: {model_dir}
    create_demo: true
    defaults: {{steps: 2, width: 64, height: 64, t5_max_length: 32}}
"""


def compile_proto(proto_root, stubs=False):
    """Compiles the API's proto into a temporary folder (removed at exit) put first on sys.path.

    The compiler is grpcio-tools' bundled protoc, run by this interpreter: its generated code is
    made for the protobuf runtime pinned beside it in scripts/requirements.txt, which Debian's
    protoc 3.21 output may not load under. `stubs` adds the gRPC stubs (*_pb2_grpc.py)."""
    out = tempfile.mkdtemp(prefix="streamdit_e2e_pb_")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_root}", f"--python_out={out}"]
    if stubs:
        command.append(f"--grpc_python_out={out}")
    subprocess.run(command + [PROTO], check=True)
    sys.path.insert(0, out)


def load_messages(proto_root):
    """streamdit.v1's messages (the image_generation_pb2 module)."""
    compile_proto(proto_root)
    return importlib.import_module("streamdit.v1.image_generation_pb2")


def load_stubs(proto_root):
    """streamdit.v1's messages and gRPC stubs: (image_generation_pb2, image_generation_pb2_grpc)."""
    compile_proto(proto_root, stubs=True)
    return (importlib.import_module("streamdit.v1.image_generation_pb2"),
            importlib.import_module("streamdit.v1.image_generation_pb2_grpc"))


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
