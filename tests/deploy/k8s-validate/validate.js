// Validates Kubernetes objects against the API's OpenAPI schemas, offline: kubernetes-models (the
// built-in kinds) and @kubernetes-models/prometheus-operator (ServiceMonitor). Called by
// tests/deploy/check_k8s_manifests.py with a JSON file: [{"source": "...", "object": {...}}, ...].
//
// Two checks per object:
//   - the schema's own validation (types, required fields, enums, formats);
//   - unknown fields: the schemas do not reject them (a misspelled `readinesProbe` passes), so the
//     object is validated through a Proxy that records which properties the validator reads. The
//     compiled validators read every property their schema declares (`data.spec === undefined`),
//     and enumerate the keys of maps (labels, resources); a key of a non-map object that the
//     validator never read is unknown to the schema. Objects the validator never reached (free-form
//     fields) are not judged.
// Exit status: 0 when every object is valid, 1 otherwise (each problem printed), 2 on bad input.
"use strict";

const fs = require("fs");

// apiVersion -> module prefix; the module's export is named after the kind.
function modulePath(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function loadModel(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  try {
    const model = require(modulePath(apiVersion, kind))[kind];
    return typeof model === "function" ? model : null;
  } catch (error) {
    if (error && error.code === "MODULE_NOT_FOUND") return null;
    throw error;
  }
}

// Wraps `root` so that every property read and key enumeration is recorded per (original) node.
function track(root) {
  const records = new Map();
  const proxies = new WeakMap();
  function wrap(node) {
    if (node === null || typeof node !== "object") return node;
    if (proxies.has(node)) return proxies.get(node);
    const record = { read: new Set(), enumerated: false };
    records.set(node, record);
    const proxy = new Proxy(node, {
      get(target, key, receiver) {
        if (typeof key === "string") record.read.add(key);
        return wrap(Reflect.get(target, key, receiver));
      },
      has(target, key) {
        if (typeof key === "string") record.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        record.enumerated = true;
        return Reflect.ownKeys(target);
      },
      getOwnPropertyDescriptor(target, key) {
        if (typeof key === "string") record.read.add(key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
    });
    proxies.set(node, proxy);
    return proxy;
  }
  return { proxy: wrap(root), records };
}

function unknownFields(root, records) {
  const found = [];
  (function walk(node, path) {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}/${i}`));
      return;
    }
    const record = records.get(node);
    for (const key of Object.keys(node)) {
      if (record && !record.enumerated && !record.read.has(key)) found.push(`${path}/${key}`);
      walk(node[key], `${path}/${key}`);
    }
  })(root, "");
  return found;
}

function validate(entry) {
  const object = entry.object;
  const what = `${entry.source}: ${object && object.kind}/${object && object.metadata && object.metadata.name}`;
  const model = loadModel(object && object.apiVersion, object && object.kind);
  if (!model) return [`${what}: no schema for apiVersion ${object && object.apiVersion}, kind ${object && object.kind}`];
  const copy = JSON.parse(JSON.stringify(object));
  const { proxy, records } = track(copy);
  try {
    model.prototype.validate.call(proxy);
  } catch (error) {
    return [`${what}: ${error.message}`];
  }
  return unknownFields(copy, records).map((path) => `${what}: unknown field ${path}`);
}

function main() {
  if (process.argv.length !== 3) {
    console.error("usage: node validate.js OBJECTS.json");
    process.exit(2);
  }
  const entries = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  let problems = 0;
  for (const entry of entries) {
    const errors = validate(entry);
    problems += errors.length;
    for (const error of errors) console.log(`INVALID ${error}`);
    if (errors.length === 0) {
      console.log(`valid ${entry.source}: ${entry.object.apiVersion} ${entry.object.kind}/${entry.object.metadata.name}`);
    }
  }
  process.exit(problems ? 1 : 0);
}

main();
