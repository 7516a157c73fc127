// A client of streamdit's gRPC API written with Node's @grpc/grpc-js and @grpc/proto-loader, as a
// user would: health, ListModels, GenerateImage, StreamGenerateImage and a bad request.
// usage: node client.js ADDRESS PROTO_ROOT
'use strict';
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const assert = require('assert');

const [address, protoRoot] = process.argv.slice(2);

function call(client, method, request, deadlineSeconds) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + deadlineSeconds * 1000);
    client[method](request, {deadline}, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function health(channelClient) {
  // grpc.health.v1.HealthCheckResponse {status = 1}: bytes 08 01 mean SERVING.
  return new Promise((resolve, reject) => {
    channelClient.makeUnaryRequest('/grpc.health.v1.Health/Check', (x) => x, (x) => x,
        Buffer.alloc(0), (error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function main() {
  const definition = protoLoader.loadSync('streamdit/v1/image_generation.proto',
      {includeDirs: [protoRoot], longs: String, defaults: true, oneofs: true});
  const api = grpc.loadPackageDefinition(definition).streamdit.v1;
  const client = new api.ImageGeneration(address, grpc.credentials.createInsecure());

  const status = await health(new grpc.Client(address, grpc.credentials.createInsecure()));
  assert.deepStrictEqual([...status], [8, 1], 'health is not SERVING');

  const models = await call(client, 'ListModels', {}, 30);
  assert.ok(models.models.length >= 1);
  const model = models.models[0].name;

  const request = {model, prompt: 'a harbour in the rain', seed: 4321};
  const response = await call(client, 'GenerateImage', request, 300);
  assert.strictEqual(response.images.length, 1);
  const png = response.images[0].png;
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
  assert.strictEqual(response.images[0].seed, '4321');

  const kinds = await new Promise((resolve, reject) => {
    const seen = [];
    const stream = client.StreamGenerateImage(request, {deadline: new Date(Date.now() + 300000)});
    stream.on('data', (event) => seen.push(event.event));
    stream.on('error', reject);
    stream.on('end', () => resolve(seen));
  });
  assert.strictEqual(kinds[0], 'queued');
  assert.strictEqual(kinds[kinds.length - 1], 'result');
  assert.ok(kinds.includes('progress'));

  await assert.rejects(call(client, 'GenerateImage', {model, prompt: 'x', steps: 1000}, 30),
      (error) => error.code === grpc.status.INVALID_ARGUMENT && /steps/.test(error.details));

  console.log(`node client: OK (${png.length} byte PNG, ${kinds.length} stream events)`);
  client.close();
}

main().catch((error) => {
  console.error('node client: FAILED', error);
  process.exit(1);
});
