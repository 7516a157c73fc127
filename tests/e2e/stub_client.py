#!/usr/bin/env python3
"""A client of streamdit's gRPC API written the way most gRPC users write one: stubs generated from
the public proto with grpcio-tools, and the standard health and reflection clients
(grpcio-health-checking, grpcio-reflection) from PyPI.

1. Health: grpc.health.v1.Health/Check of the overall service ("") is SERVING.
2. Reflection, without the .proto: the server lists streamdit.v1.ImageGeneration,
   grpc.health.v1.Health and the reflection service itself; ImageGeneration's methods resolve to
   descriptors whose messages are the public proto's (same fields, numbers and types), and a call
   made with message classes built from those descriptors alone (ListModels) works.
3. Through the generated ImageGenerationStub: ListModels; GenerateImage (a PNG, seed 4321 echoed);
   StreamGenerateImage (queued first, started, progress, the result last); a bad request (steps 1000) is
   INVALID_ARGUMENT naming steps.

usage: stub_client.py ADDRESS PROTO_ROOT
"""
import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase)

from e2e_support import load_stubs

SERVICE = "streamdit.v1.ImageGeneration"
HEALTH_SERVICE = "grpc.health.v1.Health"
# The client below speaks v1alpha (grpcio-reflection's only client), so the server must offer it;
# it may offer grpc.reflection.v1.ServerReflection as well.
REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SEED = 4321


def check_health(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING, \
        f"health is {health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)}"


def fields(message):
    """A message descriptor's shape: {field name: (number, type, repeated, message type)}."""
    return {f.name: (f.number, f.type, f.is_repeated,
                     f.message_type.full_name if f.message_type else None)
            for f in message.fields}


def check_reflection(channel, pb):
    """Lists the services and resolves ImageGeneration through reflection alone; returns the
    names ListModels reports when called with message classes built from reflected descriptors."""
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    for name in (SERVICE, HEALTH_SERVICE, REFLECTION_SERVICE):
        assert name in services, f"reflection does not list {name}: {sorted(services)}"

    # A pool that asks the server for the file defining each symbol it is asked about (the service
    # here): no local .proto is involved. Its methods then resolve by their full names.
    pool = descriptor_pool.DescriptorPool(database)
    reflected = pool.FindServiceByName(SERVICE)
    generate = pool.FindMethodByName(f"{SERVICE}.GenerateImage")
    assert generate.containing_service is reflected, generate
    assert generate.input_type.full_name == "streamdit.v1.GenerateImageRequest", generate
    assert generate.output_type.full_name == "streamdit.v1.GenerateImageResponse", generate

    # The server's API is the public proto: every method's signature and every message's fields.
    compiled = pb.DESCRIPTOR.services_by_name["ImageGeneration"]

    def signature(service):
        return {m.name: (m.input_type.full_name, m.output_type.full_name, m.client_streaming,
                         m.server_streaming) for m in service.methods}

    assert signature(reflected) == signature(compiled), (signature(reflected), signature(compiled))
    reflected_file = pool.FindFileContainingSymbol(SERVICE)
    for name, message in pb.DESCRIPTOR.message_types_by_name.items():
        served = reflected_file.message_types_by_name.get(name)
        assert served is not None, f"reflection lacks message {name}"
        assert fields(served) == fields(message), (name, fields(served), fields(message))

    # A call with message classes made from the reflected descriptors only.
    list_models = pool.FindMethodByName(f"{SERVICE}.ListModels")
    request_class = message_factory.GetMessageClass(list_models.input_type)
    response_class = message_factory.GetMessageClass(list_models.output_type)
    call = channel.unary_unary(f"/{SERVICE}/ListModels",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_class.FromString)
    return [model.name for model in call(request_class(), timeout=30).models], len(services)


def main():
    address, proto_root = sys.argv[1], sys.argv[2]
    pb, pb_grpc = load_stubs(proto_root)
    with grpc.insecure_channel(address) as channel:
        check_health(channel)
        reflected_models, service_count = check_reflection(channel, pb)

        stub = pb_grpc.ImageGenerationStub(channel)
        models = stub.ListModels(pb.ListModelsRequest(), timeout=30)
        assert len(models.models) >= 1, models
        assert [m.name for m in models.models] == reflected_models, reflected_models
        model = models.models[0].name

        request = pb.GenerateImageRequest(model=model, prompt="a harbour in the rain", seed=SEED)
        response = stub.GenerateImage(request, timeout=300)
        assert len(response.images) == 1, response
        png = response.images[0].png
        assert png.startswith(PNG_SIGNATURE), "not a PNG"
        assert response.images[0].seed == SEED, response.images[0].seed

        events = list(stub.StreamGenerateImage(request, timeout=300))
        kinds = [event.WhichOneof("event") for event in events]
        assert kinds and kinds[0] == "queued", kinds
        assert kinds[-1] == "result" and kinds.count("result") == 1, kinds
        assert kinds.count("started") == 1 and "progress" in kinds, kinds
        assert kinds.index("started") < kinds.index("progress"), kinds
        started = events[kinds.index("started")].started
        assert started.device == events[-1].result.stats.device, (started, events[-1].result.stats)
        assert started.memory_budget_bytes == events[-1].result.stats.memory_budget_bytes, started
        streamed = events[-1].result.images
        assert len(streamed) == 1 and streamed[0].png.startswith(PNG_SIGNATURE), kinds
        assert streamed[0].seed == SEED, streamed[0].seed

        bad = pb.GenerateImageRequest(model=model, prompt="x", steps=1000)
        try:
            stub.GenerateImage(bad, timeout=30)
            raise AssertionError("steps 1000 was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
            assert "steps" in error.details(), error.details()

    print(f"stub client: OK ({len(png)} byte PNG, {len(kinds)} stream events, "
          f"{service_count} services listed by reflection)")


if __name__ == "__main__":
    main()
