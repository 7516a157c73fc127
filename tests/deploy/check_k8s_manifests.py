#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in deploy/k8s (registered in ctest as
deploy_check_k8s_manifests; argv[1] = the repository's root).

1. `kubectl kustomize` renders every kustomization (base/core, base, overlays/*). Works with
   Debian bookworm's kubectl 1.20 (kustomize v2.0.3) and current ones (kustomize v5); $KUBECTL
   names another binary.
2. Every rendered object, and every plain manifest in deploy/k8s/examples/, is validated against
   the Kubernetes OpenAPI schemas of KUBERNETES_VERSIONS with PyPI's kubernetes-validate in strict
   mode (unknown fields rejected); the ServiceMonitor, a prometheus-operator CRD those schemas lack,
   against tests/deploy/servicemonitor-v1.schema.json (strict too) with jsonschema. A schema
   self-test validates deliberately broken objects (a misspelled field, a wrong type, an unknown
   kind, ...) and requires each to fail, so that the validation cannot silently pass.
3. The Deployment agrees with the streamdit configuration its ConfigMap carries: the config's keys
   are the ones server/config/server_config.h documents; listen port == the grpc containerPort ==
   the gRPC probes' port == the Services' grpc targetPort; metrics_listen port == the metrics
   containerPort == the port the ServiceMonitor scrapes (path /metrics); grace_period + the preStop
   sleep <= terminationGracePeriodSeconds; model folders lie on a mounted volume (writable for
   create_demo); CUDA devices have nvidia.com/gpu limits; the pod runs as non-root on a read-only
   root filesystem.
4. Self-test: deliberate breaks of a rendered overlay (a port, the grace period, the metrics port,
   ...) must each be reported, so the checks in 3 cannot silently pass.
Exit status 0 when everything holds, 1 otherwise (every problem printed).
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

try:
    import jsonschema
    import kubernetes_validate
    from kubernetes_validate import utils as kubernetes_validate_utils
except ImportError as error:  # Debian's python3 has neither: the checks run in scripts/setup's venv
    print(f"FAIL: {error}: run this with the virtual environment's python (.venv/bin/python3), "
          "where scripts/setup installs scripts/requirements.txt")
    sys.exit(1)

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
SERVER_CONFIG_H = os.path.join(ROOT, "server", "config", "server_config.h")

# The Kubernetes versions whose OpenAPI schemas every object must satisfy (kubernetes-validate
# 1.37.0 ships 1.25 to 1.37). The oldest one it has, next to deploy/README.md's floor (Kubernetes
# >= 1.24), rejects a field too new for old clusters; the newest rejects an API version that has
# since been removed. Pinned, so that a new kubernetes-validate cannot move them silently.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")

# Custom resources the Kubernetes schemas do not know -> their JSON schema in tests/deploy/ (see
# the schema's $comment for what it covers; strict like the rest: unknown fields rejected).
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"):
        os.path.join(ROOT, "tests", "deploy", "servicemonitor-v1.schema.json"),
}


# ---------------------------------------------------------------------------------------------
# The configuration's keys, read from the reference comment in server/config/server_config.h.

def config_reference(path=SERVER_CONFIG_H):
    """{key: {child: {...}}} from the '// Configuration file reference' block (indentation gives
    the nesting; list items '- name:' nest like their siblings)."""
    tree = {}
    stack = [(-1, tree)]
    started = False
    key_line = re.compile(r"^//(\s+)(-\s+)?([A-Za-z_][A-Za-z0-9_]*):(\s|$)")
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not started:
                started = "Configuration file reference" in line
                continue
            if not line.startswith("//") or (line.strip() == "//" and len(stack) > 1):
                break  # the block ends at the first empty comment line after its keys
            m = key_line.match(line)
            if not m:
                continue
            indent = len(m.group(1)) + len(m.group(2) or "")
            while stack[-1][0] >= indent:
                stack.pop()
            node = stack[-1][1].setdefault(m.group(3), {})
            stack.append((indent, node))
    return tree


def unknown_config_keys(value, schema, path=""):
    out = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            out += unknown_config_keys(item, schema, f"{path}[{i}]")
    elif isinstance(value, dict) and schema:
        for key, child in value.items():
            if key not in schema:
                out.append(f"{path}.{key}" if path else str(key))
            else:
                out += unknown_config_keys(child, schema[key], f"{path}.{key}" if path else key)
    return out


def address_port(address):
    """(host, port) of HOST:PORT / [::]:PORT; None for unix: or anything without a port."""
    if not isinstance(address, str) or address.startswith("unix:"):
        return None
    m = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*):(\d+)", address.strip())
    return (m.group(1), int(m.group(2))) if m else None


def duration_seconds(text):
    """'30s', '1m30s', '500ms', '2h' -> seconds (float); None if it does not parse."""
    text = str(text).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


# ---------------------------------------------------------------------------------------------
# Consistency of one rendered kustomization.

def labels_match(selector, labels):
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def prestop_sleep_seconds(container):
    """Seconds the preStop hook sleeps (exec sleep N, sh -c 'sleep N' or the sleep action); None
    when there is no preStop hook."""
    pre = ((container.get("lifecycle") or {}).get("preStop")) or None
    if pre is None:
        return None
    if "sleep" in pre:
        return float(pre["sleep"].get("seconds", 0))
    command = " ".join(str(c) for c in ((pre.get("exec") or {}).get("command") or []))
    m = re.search(r"(?:^|\s|/)sleep\s+(\d+(?:\.\d+)?)", command)
    return float(m.group(1)) if m else 0.0


def check_rendered(name, docs, reference):
    errors = []

    def err(message):
        errors.append(f"{name}: {message}")

    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append(doc)
    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        err(f"expected one Deployment, found {len(deployments)}")
        return errors
    deployment = deployments[0]
    pod = deployment["spec"]["template"]
    pod_labels = (pod.get("metadata") or {}).get("labels") or {}
    spec = pod["spec"]
    containers = [c for c in spec.get("containers", []) if c.get("name") == "streamdit"]
    if len(containers) != 1:
        err("the Deployment has no container named streamdit")
        return errors
    container = containers[0]
    if not labels_match(deployment["spec"].get("selector", {}).get("matchLabels"), pod_labels):
        err("the Deployment's selector does not match its pod template's labels")

    # The configuration: --config PATH, the mount that holds PATH, its ConfigMap, the key.
    args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    config_path = None
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            config_path = args[i + 1]
        elif arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
    if "serve" not in args:
        err(f"the container does not run `streamdit serve` (args {args})")
    if not config_path:
        err("the container's args name no --config FILE")
        return errors
    mounts = container.get("volumeMounts") or []
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    config_text = None
    for mount in mounts:
        mount_path = mount["mountPath"].rstrip("/")
        if mount_path == config_path and mount.get("subPath"):
            key = mount["subPath"]
        elif config_path.startswith(mount_path + "/") and not mount.get("subPath"):
            key = config_path[len(mount_path) + 1:]
        else:
            continue
        volume = volumes.get(mount["name"]) or {}
        config_map_name = (volume.get("configMap") or {}).get("name")
        maps = [d for d in by_kind.get("ConfigMap", []) if d["metadata"]["name"] == config_map_name]
        if not maps:
            err(f"{config_path} is mounted from volume {mount['name']}, which is no ConfigMap of this kustomization")
            return errors
        config_text = (maps[0].get("data") or {}).get(key)
        if config_text is None:
            err(f"ConfigMap {config_map_name} has no key {key} (mounted as {config_path})")
            return errors
    if config_text is None:
        err(f"no volume is mounted at --config {config_path}")
        return errors
    try:
        config = yaml.safe_load(config_text)
    except yaml.YAMLError as e:
        err(f"the ConfigMap's config.yaml is not YAML: {e}")
        return errors
    if not isinstance(config, dict):
        err("the ConfigMap's config.yaml is not a mapping")
        return errors
    for key in unknown_config_keys(config, reference):
        err(f"config.yaml: unknown key {key} (not in server/config/server_config.h's reference)")
    for required in ("devices", "models"):
        if not config.get(required):
            err(f"config.yaml: {required} is required")

    # Ports.
    listen = address_port(config.get("listen", "0.0.0.0:50051"))
    metrics = address_port(config.get("metrics_listen")) if config.get("metrics_listen") else None
    if listen is None:
        err(f"config.yaml: listen {config.get('listen')!r} has no TCP port the probes could reach")
        return errors
    if listen[0] not in ("0.0.0.0", "[::]", ""):
        err(f"config.yaml: listen {config.get('listen')} is not all interfaces (0.0.0.0 or [::]): "
            "the kubelet's probes and the Services reach the pod's IP")
    if metrics is None:
        err("config.yaml: metrics_listen HOST:PORT is required in the pod (the ServiceMonitor scrapes it)")
    elif metrics[0] not in ("0.0.0.0", "[::]", ""):
        err(f"config.yaml: metrics_listen {config.get('metrics_listen')} is not all interfaces")
    grpc_port, metrics_port = listen[1], metrics[1] if metrics else None
    http = address_port((config.get("http") or {}).get("listen")) if config.get("http") else None
    http_port = http[1] if http else None

    ports = {p.get("name"): p for p in container.get("ports") or []}
    by_number = {p.get("containerPort"): p for p in container.get("ports") or []}
    if (ports.get("grpc") or {}).get("containerPort") != grpc_port:
        err(f"containerPort grpc is {(ports.get('grpc') or {}).get('containerPort')}, config.yaml listens on {grpc_port}")
    if metrics_port is not None and (ports.get("metrics") or {}).get("containerPort") != metrics_port:
        err(f"containerPort metrics is {(ports.get('metrics') or {}).get('containerPort')}, "
            f"config.yaml metrics_listen is on {metrics_port}")

    if http_port is not None and (ports.get("http") or {}).get("containerPort") != http_port:
        err(f"containerPort http is {(ports.get('http') or {}).get('containerPort')}, "
            f"config.yaml http.listen is on {http_port}")

    def container_port(target):
        """The container port number a Service targetPort / probe port (name or number) means."""
        if isinstance(target, str) and not target.isdigit():
            return (ports.get(target) or {}).get("containerPort")
        return int(target) if target is not None else None

    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(probe_name)
        if not probe:
            err(f"no {probe_name}")
            continue
        if "grpc" not in probe:
            err(f"{probe_name} is not a gRPC probe (the health service on the grpc port)")
            continue
        if container_port(probe["grpc"].get("port")) != grpc_port:
            err(f"{probe_name} probes port {probe['grpc'].get('port')}, config.yaml listens on {grpc_port}")
        if config.get("tls"):
            err(f"{probe_name}: the kubelet's gRPC probe speaks plaintext, config.yaml has tls")

    # Draining: preStop sleep, then SIGTERM and grace_period, within terminationGracePeriodSeconds.
    grace = duration_seconds(config.get("grace_period", "30s"))
    if grace is None:
        err(f"config.yaml: grace_period {config.get('grace_period')!r} does not parse")
        grace = 0
    sleep = prestop_sleep_seconds(container)
    if sleep is None:
        err("no lifecycle.preStop hook (a short sleep lets the endpoints update before SIGTERM)")
        sleep = 0
    termination = spec.get("terminationGracePeriodSeconds", 30)
    if grace + sleep > termination:
        err(f"terminationGracePeriodSeconds {termination} < grace_period {grace:g} s + preStop sleep {sleep:g} s: "
            "the kubelet would SIGKILL a draining server")

    # Services: the grpc port reaches listen, metrics reaches metrics_listen; one ClusterIP and one
    # headless Service for the pods.
    services = [s for s in by_kind.get("Service", []) if labels_match(s["spec"].get("selector"), pod_labels)]
    kinds = {"headless": 0, "cluster": 0}
    for service in services:
        sname = service["metadata"]["name"]
        kinds["headless" if service["spec"].get("clusterIP") == "None" else "cluster"] += 1
        for port in service["spec"].get("ports") or []:
            target = container_port(port.get("targetPort", port.get("port")))
            if target is None or target not in by_number:
                err(f"Service {sname} port {port.get('name')}: targetPort {port.get('targetPort')} is no container port")
            if port.get("name") == "grpc":
                if target != grpc_port:
                    err(f"Service {sname} port grpc targets {target}, config.yaml listens on {grpc_port}")
                if port.get("appProtocol") != "grpc":
                    err(f"Service {sname} port grpc: appProtocol should be grpc")
            if port.get("name") == "http" and http_port is not None and target != http_port:
                err(f"Service {sname} port http targets {target}, config.yaml http.listen is on {http_port}")
            if port.get("name") == "metrics" and target != metrics_port:
                err(f"Service {sname} port metrics targets {target}, config.yaml metrics_listen is on {metrics_port}")
        if not any(p.get("name") == "grpc" for p in service["spec"].get("ports") or []):
            err(f"Service {sname} has no port named grpc")
    if by_kind.get("Service") and (kinds["headless"] != 1 or kinds["cluster"] != 1):
        err(f"expected one ClusterIP and one headless Service selecting the pods, found {kinds}")
    for service in by_kind.get("Service", []):
        if service not in services:
            err(f"Service {service['metadata']['name']}'s selector matches no pod of the Deployment")

    # ServiceMonitor: its selector finds a Service whose named port targets metrics_listen.
    for monitor in by_kind.get("ServiceMonitor", []):
        mname = monitor["metadata"]["name"]
        selected = [s for s in services if labels_match(monitor["spec"].get("selector", {}).get("matchLabels"),
                                                        s["metadata"].get("labels"))]
        if not selected:
            err(f"ServiceMonitor {mname} selects no Service of the pods")
        for endpoint in monitor["spec"].get("endpoints") or []:
            if endpoint.get("path", "/metrics") != "/metrics":
                err(f"ServiceMonitor {mname} scrapes {endpoint.get('path')}, the exposer serves /metrics")
            targets = set()
            for service in selected:
                for port in service["spec"].get("ports") or []:
                    if port.get("name") == endpoint.get("port"):
                        targets.add(container_port(port.get("targetPort", port.get("port"))))
            if targets != {metrics_port}:
                err(f"ServiceMonitor {mname} port {endpoint.get('port')!r} reaches container port(s) "
                    f"{sorted(t for t in targets if t is not None) or 'none'}, config.yaml metrics_listen is on {metrics_port}")

    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"].get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment" or ref.get("name") != deployment["metadata"]["name"]:
            err(f"HorizontalPodAutoscaler {hpa['metadata']['name']} scales {ref}, not the Deployment")
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"].get("maxReplicas", 0):
            err(f"HorizontalPodAutoscaler {hpa['metadata']['name']}: minReplicas > maxReplicas")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not labels_match(pdb["spec"].get("selector", {}).get("matchLabels"), pod_labels):
            err(f"PodDisruptionBudget {pdb['metadata']['name']} selects no pod of the Deployment")

    # Models on a mounted volume (writable when create_demo writes them).
    for model in config.get("models") or []:
        directory = str(model.get("dir", ""))
        if not directory.startswith("/"):
            err(f"config.yaml: model {model.get('name')}: dir {directory!r} is relative to /etc/streamdit; "
                "use an absolute path under a mounted volume (/models)")
            continue
        holders = [m for m in mounts if not m.get("subPath") and
                   (directory == m["mountPath"].rstrip("/") or directory.startswith(m["mountPath"].rstrip("/") + "/"))]
        if not holders:
            err(f"config.yaml: model {model.get('name')}: dir {directory} is on no mounted volume")
        elif model.get("create_demo") and max(holders, key=lambda m: len(m["mountPath"])).get("readOnly"):
            err(f"config.yaml: model {model.get('name')} has create_demo, but {directory} is mounted read-only")

    # Devices: one nvidia.com/gpu per CUDA device, none without.
    cuda = [d for d in config.get("devices") or [] if str(d.get("name", "")).startswith("cuda")]
    gpus = int(((container.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
    if cuda and gpus < len(cuda):
        err(f"config.yaml has {len(cuda)} CUDA device(s), the container's nvidia.com/gpu limit is {gpus}")
    if not cuda and gpus:
        err(f"the container asks for {gpus} nvidia.com/gpu but config.yaml has no CUDA device")

    # Host RAM (the weight tier) and security.
    resources = container.get("resources") or {}
    if not (resources.get("requests") or {}).get("memory") or not (resources.get("limits") or {}).get("memory"):
        err("the container needs memory requests and limits (host RAM holds the weights)")
    pod_security = spec.get("securityContext") or {}
    security = container.get("securityContext") or {}
    if not (security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))):
        err("runAsNonRoot is not set")
    if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
        err("runAsUser is 0 (root)")
    if not security.get("readOnlyRootFilesystem"):
        err("readOnlyRootFilesystem is not set")
    return errors


# ---------------------------------------------------------------------------------------------
# Self-test: deliberate breaks must be reported.

def find(docs, kind):
    return next(d for d in docs if d["kind"] == kind)


def container_of(docs):
    return find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def set_config(docs, key, value):
    deployment = find(docs, "Deployment")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v.get("configMap"))
    config_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"])
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    config[key] = value
    config_map["data"]["config.yaml"] = yaml.safe_dump(config)


def port_named(ports, name):
    return next(p for p in ports if p.get("name") == name)


BREAKS = [
    ("grpc containerPort", lambda d: port_named(container_of(d)["ports"], "grpc").update(containerPort=50052)),
    ("readiness probe port", lambda d: container_of(d)["readinessProbe"]["grpc"].update(port=50052)),
    ("config listen port", lambda d: set_config(d, "listen", "0.0.0.0:50052")),
    ("config listen on loopback", lambda d: set_config(d, "listen", "127.0.0.1:50051")),
    ("metrics containerPort", lambda d: port_named(container_of(d)["ports"], "metrics").update(containerPort=9091)),
    ("config metrics_listen port", lambda d: set_config(d, "metrics_listen", "0.0.0.0:9091")),
    ("config without metrics_listen", lambda d: set_config(d, "metrics_listen", None)),
    ("ServiceMonitor port", lambda d: find(d, "ServiceMonitor")["spec"]["endpoints"][0].update(port="grpc")),
    ("Service grpc targetPort", lambda d: port_named(find(d, "Service")["spec"]["ports"], "grpc").update(targetPort=50052)),
    ("grace period longer than termination", lambda d: set_config(d, "grace_period", "2m")),
    ("terminationGracePeriodSeconds", lambda d: find(d, "Deployment")["spec"]["template"]["spec"].update(
        terminationGracePeriodSeconds=30)),
    ("no preStop", lambda d: container_of(d).pop("lifecycle")),
    ("unknown config key", lambda d: set_config(d, "listen_port", 50051)),
    ("no GPU limit for cuda:0", lambda d: container_of(d)["resources"]["limits"].pop("nvidia.com/gpu")),
    ("model outside the volumes", lambda d: set_config(d, "models", [{"name": "m", "dir": "/data/m"}])),
]


def self_test(docs, reference):
    failures = []
    for label, mutate in BREAKS:
        broken = copy.deepcopy(docs)
        try:
            mutate(broken)
        except (KeyError, IndexError, StopIteration, TypeError) as e:
            failures.append(f"self-test: cannot break the {label} ({type(e).__name__}: {e}): is it missing?")
            continue
        if not check_rendered("self-test", broken, reference):
            failures.append(f"self-test: breaking the {label} was not reported")
    return failures


# ---------------------------------------------------------------------------------------------

def kustomizations():
    roots = []
    for directory, _, files in os.walk(K8S):
        if any(f in files for f in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
            roots.append(directory)
    return sorted(roots)


def render(kubectl, directory):
    result = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip()
    return [d for d in yaml.safe_load_all(result.stdout) if d], None


def plain_manifests():
    """deploy/k8s/examples/*.yaml: applied with kubectl apply -f, validated like rendered objects."""
    out = []
    examples = os.path.join(K8S, "examples")
    for name in sorted(os.listdir(examples)) if os.path.isdir(examples) else []:
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(examples, name), encoding="utf-8") as f:
                out += [(os.path.relpath(os.path.join(examples, name), ROOT), d) for d in yaml.safe_load_all(f) if d]
    return out


# ---------------------------------------------------------------------------------------------
# Schema validation: kubernetes-validate for Kubernetes' own kinds, CRD_SCHEMAS for the others.

def kubernetes_definitions(version):
    """kubernetes-validate's strict definitions ($defs: ObjectMeta, LabelSelector, ...) for one
    Kubernetes version, the ones its own per-kind schemas reference."""
    return kubernetes_validate_utils.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)


def loose_objects(schema, path="#"):
    """Object schemas of a CRD schema that declare properties but would accept undeclared ones:
    the schema must say additionalProperties false wherever it lists fields (strict mode)."""
    found = []
    if isinstance(schema, dict):
        if "properties" in schema and schema.get("additionalProperties") is not False:
            found.append(path)
        for key, child in schema.items():
            found += loose_objects(child, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, child in enumerate(schema):
            found += loose_objects(child, f"{path}/{i}")
    return found


_CRD_VALIDATORS = {}


def crd_validator(schema_path, version):
    """A Draft 2020-12 validator of the CRD schema with Kubernetes' definitions of `version` merged
    into its $defs (its metadata and selectors are those Kubernetes types)."""
    key = (schema_path, version)
    if key not in _CRD_VALIDATORS:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        loose = loose_objects(schema)
        if loose:
            raise ValueError(f"{os.path.relpath(schema_path, ROOT)} is not strict: "
                             f"no additionalProperties false at {', '.join(loose)}")
        definitions = kubernetes_definitions(version)["$defs"]
        clashes = set(schema.get("$defs", {})) & set(definitions)
        if clashes:
            raise ValueError(f"{os.path.relpath(schema_path, ROOT)}: $defs {sorted(clashes)} "
                             "shadow Kubernetes definitions")
        schema["$defs"] = {**definitions, **schema.get("$defs", {})}
        jsonschema.Draft202012Validator.check_schema(schema)
        _CRD_VALIDATORS[key] = jsonschema.Draft202012Validator(schema)
    return _CRD_VALIDATORS[key]


def json_path(path):
    return "/" + "/".join(str(p) for p in path)


def schema_problems(obj):
    """Why `obj` is not valid against KUBERNETES_VERSIONS' schemas (empty when it is)."""
    problems = []
    if not isinstance(obj, dict) or not isinstance(obj.get("apiVersion"), str) \
            or not isinstance(obj.get("kind"), str):
        return ["not a Kubernetes object (no apiVersion and kind)"]
    crd_schema = CRD_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    for version in KUBERNETES_VERSIONS:
        where = f"Kubernetes {version}"
        if crd_schema:
            try:
                errors = sorted(crd_validator(crd_schema, version).iter_errors(obj),
                                key=lambda e: list(e.absolute_path))
            except (OSError, ValueError, jsonschema.SchemaError) as e:
                problems.append(f"{where}: {os.path.relpath(crd_schema, ROOT)}: {e}")
                continue
            problems += [f"{where}: {json_path(e.absolute_path)}: {e.message}" for e in errors]
            continue
        try:
            validated = kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{where}: {json_path(e.absolute_path)}: {e.message}")
            continue
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError,
                kubernetes_validate_utils.VersionNotSupportedError) as e:
            # An unknown apiVersion/kind is an error here, not the CLI's warning: a typo in a kind,
            # or an API version the cluster has removed, would otherwise pass unvalidated.
            problems.append(f"{where}: {e.message}")
            continue
        # kubernetes-validate falls back to the newest schemas not newer than the one asked for;
        # make sure the pinned version itself was used.
        if validated != kubernetes_validate_utils.major_minor(version):
            problems.append(f"{where}: kubernetes-validate used the {validated} schemas instead")
    return problems


def describe(obj):
    if not isinstance(obj, dict):
        return repr(obj)[:60]
    return f"{obj.get('apiVersion')} {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def validate_schemas(entries):
    """Validates every (source, object); prints one line per source, returns the problems."""
    errors, counts = [], {}
    for source, obj in entries:
        problems = schema_problems(obj)
        errors += [f"{source}: {describe(obj)}: {p}" for p in problems]
        counts.setdefault(source, [0, 0])[0 if not problems else 1] += 1
    versions = " and ".join(v.rsplit(".", 1)[0] for v in KUBERNETES_VERSIONS)
    for source, (valid, invalid) in counts.items():
        print(f"{source}: {valid} objects valid against the Kubernetes {versions} schemas "
              f"(strict){f', {invalid} INVALID' if invalid else ''}")
    return errors


def rename(mapping, old, new):
    mapping[new] = mapping.pop(old)


def kind_of(entries, kind):
    """The first object of `kind` among (source, object) entries (for the schema self-test)."""
    return next(obj for _, obj in entries if obj.get("kind") == kind)


def pod_container(entries):
    return kind_of(entries, "Deployment")["spec"]["template"]["spec"]["containers"][0]


# (what, kind, mutation): each broken copy must fail schema validation. Misspelled fields at
# several depths (unknown fields rejected), wrong types, a bad enum and pattern, an unknown kind,
# a removed API version; on every kind that deploy/k8s renders, the ServiceMonitor included.
SCHEMA_BREAKS = [
    ("misspelled container field readinesProbe", "Deployment",
     lambda o, e: rename(pod_container(e), "readinessProbe", "readinesProbe")),
    ("unknown field in a Deployment's metadata", "Deployment",
     lambda o, e: o["metadata"].update(label={"a": "b"})),
    ("containerPort as a string", "Deployment",
     lambda o, e: pod_container(e)["ports"][0].update(containerPort="grpc")),
    ("misspelled probe field in a gRPC probe", "Deployment",
     lambda o, e: pod_container(e)["livenessProbe"]["grpc"].update(prot=50051)),
    ("unknown kind Deploymnet", "Deployment", lambda o, e: o.update(kind="Deploymnet")),
    ("misspelled Service field selecter", "Service",
     lambda o, e: rename(o["spec"], "selector", "selecter")),
    ("a ConfigMap value that is no string", "ConfigMap", lambda o, e: o["data"].update(extra=1)),
    ("misspelled PodDisruptionBudget field", "PodDisruptionBudget",
     lambda o, e: o["spec"].update(maxUnavailble=1)),
    ("PodDisruptionBudget as policy/v1beta1 (removed in 1.25)", "PodDisruptionBudget",
     lambda o, e: o.update(apiVersion="policy/v1beta1")),
    ("misspelled HorizontalPodAutoscaler field", "HorizontalPodAutoscaler",
     lambda o, e: rename(o["spec"], "maxReplicas", "maxReplica")),
    ("misspelled PersistentVolumeClaim field", "PersistentVolumeClaim",
     lambda o, e: rename(o["spec"], "accessModes", "acessModes")),
    ("ServiceMonitor: misspelled endpoint field intreval", "ServiceMonitor",
     lambda o, e: rename(o["spec"]["endpoints"][0], "interval", "intreval")),
    ("ServiceMonitor: unknown spec field", "ServiceMonitor",
     lambda o, e: o["spec"].update(selektor={})),
    ("ServiceMonitor: misspelled metadata field", "ServiceMonitor",
     lambda o, e: rename(o["metadata"], "labels", "lables")),
    ("ServiceMonitor: scheme tcp", "ServiceMonitor",
     lambda o, e: o["spec"]["endpoints"][0].update(scheme="tcp")),
    ("ServiceMonitor: interval '15 seconds'", "ServiceMonitor",
     lambda o, e: o["spec"]["endpoints"][0].update(interval="15 seconds")),
    ("ServiceMonitor: no selector", "ServiceMonitor", lambda o, e: o["spec"].pop("selector")),
    ("ServiceMonitor: misspelled matchLabels", "ServiceMonitor",
     lambda o, e: rename(o["spec"]["selector"], "matchLabels", "matchLabel")),
]


def schema_self_test(entries):
    """Each SCHEMA_BREAKS mutation of a copy of `entries` must make its object invalid."""
    failures = []
    for label, kind, mutate in SCHEMA_BREAKS:
        broken = copy.deepcopy(entries)
        try:
            target = kind_of(broken, kind)
            mutate(target, broken)
        except (KeyError, IndexError, StopIteration, TypeError) as e:
            failures.append(f"schema self-test: cannot apply '{label}' ({type(e).__name__}: {e}): "
                            f"is the {kind} missing? update SCHEMA_BREAKS")
            continue
        if not schema_problems(target):
            failures.append(f"schema self-test: '{label}' passed schema validation")
    # The strictness guard of the CRD schemas: one that lost an additionalProperties false.
    for schema_path in CRD_SCHEMAS.values():
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        for definition in schema.get("$defs", {}).values():
            if "properties" in definition:
                definition.pop("additionalProperties", None)
                break
        if not loose_objects(schema):
            failures.append(f"schema self-test: {os.path.relpath(schema_path, ROOT)} with an "
                            "additionalProperties false removed was not reported as loose")
    return failures


def main():
    errors = []
    reference = config_reference()
    for key in ("listen", "metrics_listen", "grace_period", "devices", "models"):
        if key not in reference:
            errors.append(f"server/config/server_config.h: the configuration reference lost key {key} "
                          "(or its format changed; update config_reference() here)")

    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not kubectl:
        print("FAIL: kubectl is not installed (scripts/setup installs Debian's kubernetes-client)")
        return 1
    version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout.strip()
    print(f"kubectl: {kubectl} ({' '.join(version.split())[:160]})")

    entries = []
    rendered = {}
    for directory in kustomizations():
        name = os.path.relpath(directory, ROOT)
        docs, problem = render(kubectl, directory)
        if docs is None:
            errors.append(f"{name}: kubectl kustomize failed: {problem}")
            continue
        rendered[name] = docs
        print(f"{name}: {len(docs)} objects: " + ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs))
        entries += [(name, d) for d in docs]
        problems = check_rendered(name, docs, reference)
        errors += problems
        if not problems:
            print(f"{name}: ports, probes, draining, volumes and devices agree with its config.yaml")
    for overlay in ("deploy/k8s/overlays/cpu-demo", "deploy/k8s/overlays/gpu"):
        if overlay not in rendered:
            errors.append(f"{overlay}: missing")

    examples = plain_manifests()
    entries += examples
    errors += validate_schemas(entries)
    if "deploy/k8s/overlays/gpu" in rendered:
        # The gpu overlay renders every kind of deploy/k8s (the ServiceMonitor and HPA included);
        # the examples add the PersistentVolumeClaim.
        gpu_entries = [("deploy/k8s/overlays/gpu", d) for d in rendered["deploy/k8s/overlays/gpu"]]
        failures = schema_self_test(gpu_entries + examples)
        errors += failures
        if not failures:
            print(f"schema self-test: {len(SCHEMA_BREAKS)} deliberately broken objects were each "
                  "rejected")

    gpu = rendered.get("deploy/k8s/overlays/gpu")
    if gpu:
        failures = self_test(gpu, reference)
        errors += failures
        if not failures:
            print(f"self-test: {len(BREAKS)} deliberate breaks of overlays/gpu were each reported")

    if errors:
        print("\nFAIL:")
        for e in errors:
            print(f"  {e}")
        return 1
    print("check_k8s_manifests: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
