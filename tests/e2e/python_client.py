#!/usr/bin/env python3
"""A client of streamdit's gRPC API written with grpcio's generic calls, as a user would.

Messages come from the public proto (compiled with grpcio-tools' protoc at run time into a
temporary folder); calls go through grpcio's generic channel methods. Checks health, ListModels,
GenerateImage (a PNG with the seed echoed), StreamGenerateImage (queued, started, progress, result), a bad
request (INVALID_ARGUMENT naming the field), ReloadLoras, and a request naming an unknown LoRA
(NOT_FOUND naming it).

usage: python_client.py ADDRESS PROTO_ROOT
"""
import sys

import grpc

from e2e_support import SERVING, health, load_messages


def main():
    address, proto_root = sys.argv[1], sys.argv[2]
    pb = load_messages(proto_root)
    channel = grpc.insecure_channel(address)
    service = "/streamdit.v1.ImageGeneration/"

    def unary(name, response_type):
        return channel.unary_unary(service + name,
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=response_type.FromString)

    assert health(channel) == SERVING, "health is not SERVING"

    models = unary("ListModels", pb.ListModelsResponse)(pb.ListModelsRequest(), timeout=30)
    assert len(models.models) >= 1, models
    name = models.models[0].name

    request = pb.GenerateImageRequest(model=name, prompt="a lighthouse at dusk", seed=1234)
    response = unary("GenerateImage", pb.GenerateImageResponse)(request, timeout=300)
    assert len(response.images) == 1, response
    image = response.images[0]
    assert image.png.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    assert image.seed == 1234, image.seed
    assert response.stats.memory_peak_bytes <= response.stats.memory_budget_bytes
    assert response.stats.device, "no device in the stats"

    stream = channel.unary_stream(service + "StreamGenerateImage",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb.StreamGenerateImageResponse.FromString)
    kinds = [event.WhichOneof("event") for event in stream(request, timeout=300)]
    assert kinds[0] == "queued" and kinds[-1] == "result" and "progress" in kinds, kinds
    assert kinds.count("started") == 1 and kinds.index("started") < kinds.index("progress"), kinds

    bad = pb.GenerateImageRequest(model=name, prompt="x", width=100)
    try:
        unary("GenerateImage", pb.GenerateImageResponse)(bad, timeout=30)
        raise AssertionError("width 100 was accepted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        assert "width" in error.details(), error.details()

    reload = unary("ReloadLoras", pb.ReloadLorasResponse)(pb.ReloadLorasRequest(), timeout=60)
    known = {lora.name for lora in models.models[0].loras}
    assert reload.loras == len(known), (reload, known)
    unknown = pb.GenerateImageRequest(model=name, prompt="x",
                                      loras=[pb.LoraAdapter(name="no-such-lora", strength=0.5)])
    try:
        unary("GenerateImage", pb.GenerateImageResponse)(unknown, timeout=30)
        raise AssertionError("an unknown LoRA was accepted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error
        assert "no-such-lora" in error.details(), error.details()

    print(f"python client: OK ({len(image.png)} byte PNG, {len(kinds)} stream events)")


if __name__ == "__main__":
    main()
