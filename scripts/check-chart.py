"""Renders Keyshard's Helm chart and kustomize base and checks what comes out.

Run by scripts/check-chart, which installs the pinned tools this needs. For each rendering:

- every manifest validates, strictly (no unknown field), against the Kubernetes API schemas of
  the oldest Kubernetes the chart supports and of the Helm client's version; a ServiceMonitor
  validates against the Prometheus Operator CRD's schema; any other kind is an error;
- no two manifests share a kind, namespace and name;
- every `KEYSHARD_*` name the manifests use is one the `keyshard` binary reads, and every name
  in a settings file is one it accepts there;
- every pod runs as non-root (the KMS plugin, which must create its socket in a root-owned
  host directory, as root with the same container hardening) with a read-only root filesystem
  and no capabilities, and every gateway and shard container has its liveness and readiness
  probes on the admin port;
- the values a user relies on come out as the values ask (the gateways' shard list and quota
  share, Secrets, hooks, the ServiceMonitor's targets, ...).

Bad values must fail to render with the message that names the problem, and the chart README's
table must document exactly the values that values.yaml has.
"""

import argparse
import base64
import glob
import os
import re
import subprocess
import sys

import kubernetes_validate
import jsonschema
import yaml
from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor

CHART = "helm/keyshard"
KUSTOMIZE = "deploy/kustomize"
RELEASE = "ks"
NAMESPACE = "kms"
# The chart's `kubeVersion` floor, and the Kubernetes version the pinned Helm was built for.
KUBERNETES_VERSIONS = ["1.30.0", "1.35.0"]
TEST_ROOT_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
# Variables the binary reads itself rather than through a flag.
PROCESS_VARIABLES = {"KEYSHARD_CONFIG", "KEYSHARD_LOG", "KEYSHARD_ROOT_KEY"}


class Checks:
    """Counts checks and collects failures, so that one run reports every problem."""

    def __init__(self):
        self.passed = 0
        self.failures = []

    def expect(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL {what}", file=sys.stderr)

    def equal(self, actual, expected, what):
        self.expect(actual == expected, f"{what}: got {actual!r}, expected {expected!r}")


def keyshard_settings():
    """Settings names from the binary's source: those with a flag (accepted in a settings file)
    and every variable it reads."""
    flagged, read = set(), set(PROCESS_VARIABLES)
    for path in glob.glob("crates/keyshard/src/**/*.rs", recursive=True):
        text = open(path, encoding="utf-8").read()
        flagged |= set(re.findall(r'env = "(KEYSHARD_[A-Z0-9_]+)"', text))
        read |= set(re.findall(r'"(KEYSHARD_[A-Z0-9_]+)"', text))
    return flagged, read | flagged


def servicemonitor_schema():
    """The ServiceMonitor JSON schema, strict like the Kubernetes ones: no unknown fields."""
    schema = ServiceMonitor.model_json_schema(by_alias=True)

    def close(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def run(command):
    return subprocess.run(command, capture_output=True, text=True, check=False)


def documents(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs, kind):
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs, kind, name, checks):
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    checks.equal(len(found), 1, f"{kind} {name} rendered once")
    return found[0] if found else {}


def settings_file(configmap):
    lines = configmap["data"]["keyshard.conf"].splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return dict(pairs)


def pod_specs(docs):
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield doc, doc["spec"]["template"]["spec"]


def validate(name, docs, checks, monitor_schema, settings):
    flagged, read = settings
    seen = set()
    for doc in docs:
        meta = doc.get("metadata", {})
        label = f"{name}: {doc.get('kind')} {meta.get('name')}"
        identity = (doc.get("kind"), meta.get("namespace"), meta.get("name"))
        checks.expect(identity not in seen, f"{label} is rendered once")
        seen.add(identity)
        if doc.get("apiVersion") == "monitoring.coreos.com/v1" and doc.get("kind") == "ServiceMonitor":
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                      for e in jsonschema.Draft202012Validator(monitor_schema).iter_errors(doc)]
            checks.expect(not errors, f"{label} against the ServiceMonitor CRD schema: {errors}")
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                checks.expect(True, label)
            except kubernetes_validate.ValidationError as err:
                path = ".".join(map(str, err.path))
                checks.expect(False, f"{label} against Kubernetes {version}: {path}: {err.message}")
            except kubernetes_validate.SchemaNotFoundError as err:
                checks.expect(False, f"{label}: {err.message}")

    for doc in by_kind(docs, "ConfigMap"):
        unknown = set(settings_file(doc)) - flagged
        checks.expect(not unknown, f"{name}: {doc['metadata']['name']} sets no unknown setting: {unknown}")
    for owner, spec in pod_specs(docs):
        label = f"{name}: {owner['kind']} {owner['metadata']['name']}"
        pod_context = spec.get("securityContext", {})
        if owner["kind"] == "DaemonSet":
            # The documented exception: root, for the hostPath socket directory.
            checks.equal((pod_context.get("runAsNonRoot"), pod_context.get("runAsUser")), (False, 0),
                         f"{label} runs as root")
        else:
            checks.equal(pod_context.get("runAsNonRoot"), True, f"{label} runAsNonRoot")
        checks.equal(pod_context.get("seccompProfile"), {"type": "RuntimeDefault"}, f"{label} seccomp profile")
        checks.equal(spec.get("automountServiceAccountToken"), False, f"{label} mounts no token")
        for container in spec["containers"]:
            where = f"{label} container {container['name']}"
            context = container.get("securityContext", {})
            checks.equal(context.get("readOnlyRootFilesystem"), True, f"{where} readOnlyRootFilesystem")
            checks.equal(context.get("allowPrivilegeEscalation"), False, f"{where} allowPrivilegeEscalation")
            checks.equal(context.get("capabilities", {}).get("drop"), ["ALL"], f"{where} drops capabilities")
            names = {env["name"] for env in container.get("env", []) if env["name"].startswith("KEYSHARD_")}
            checks.expect(names <= read, f"{where} uses only variables keyshard reads: {names - read}")
            if owner["kind"] in ("Deployment", "StatefulSet"):
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    checks.equal(container.get(probe, {}).get("httpGet"), {"path": path, "port": "admin"},
                                 f"{where} {probe}")


def env_of(spec):
    return {env["name"]: env.get("value", env.get("valueFrom")) for env in spec["containers"][0]["env"]}


def shard_list(prefix, count):
    return ",".join(
        f"{prefix}-shard-{i}.{prefix}-shard-headless.{NAMESPACE}.svc.cluster.local:8400" for i in range(count)
    )


def check_default(docs, checks):
    kinds = sorted(doc["kind"] for doc in docs)
    checks.equal(kinds, sorted(["ConfigMap"] * 2 + ["Deployment", "StatefulSet", "Job", "ServiceAccount"]
                               + ["Service"] * 3 + ["PodDisruptionBudget"] * 2 + ["NetworkPolicy"] * 3),
                 "default: kinds rendered")
    prefix = f"{RELEASE}-keyshard"
    gateway = settings_file(one(docs, "ConfigMap", f"{prefix}-gateway", checks))
    checks.equal(gateway.get("KEYSHARD_SHARDS"), shard_list(prefix, 3), "default: gateway shard list")
    checks.equal(gateway.get("KEYSHARD_GATEWAY_REPLICAS"), "2", "default: gateway quota share")
    checks.equal(gateway.get("KEYSHARD_LISTEN"), "0.0.0.0:8300", "default: gateway listen address")
    checks.equal(one(docs, "Deployment", f"{prefix}-gateway", checks)["spec"].get("replicas"), 2,
                 "default: gateway replicas")
    checks.expect("KEYSHARD_GRPC_LISTEN" not in gateway, "default: gateway serves no public gRPC API")
    shard_settings = settings_file(one(docs, "ConfigMap", f"{prefix}-shard", checks))
    for label, settings in (("gateway", gateway), ("shard", shard_settings)):
        tls = {name: value for name, value in settings.items() if "_TLS_" in name}
        checks.equal(tls, {"KEYSHARD_TLS_RELOAD_INTERVAL_SECONDS": "10"}, f"default: {label} speaks plaintext")
    checks.equal([p["name"] for p in one(docs, "Service", f"{prefix}-gateway", checks)["spec"]["ports"]], ["kms"],
                 "default: gateway Service has the KMS port only")
    shard = one(docs, "StatefulSet", f"{prefix}-shard", checks)
    checks.equal(shard["spec"]["serviceName"], f"{prefix}-shard-headless", "default: shard serviceName")
    checks.equal(shard["spec"]["replicas"], 3, "default: shard replicas")
    headless = one(docs, "Service", f"{prefix}-shard-headless", checks)
    checks.equal(headless["spec"].get("clusterIP"), "None", "default: shard Service is headless")
    env = env_of(shard["spec"]["template"]["spec"])
    checks.equal(env.get("KEYSHARD_DATABASE_URL"), {"secretKeyRef": {"name": "keyshard-database", "key": "url"}},
                 "default: shard database URL from the existing Secret")
    volumes = {v["name"]: v for v in shard["spec"]["template"]["spec"]["volumes"]}
    checks.equal(volumes.get("root-key", {}).get("secret", {}).get("secretName"), "keyshard-root-key",
                 "default: shard root key from the existing Secret")
    job = one(docs, "Job", f"{prefix}-migrate", checks)
    checks.equal(job["metadata"].get("annotations", {}).get("helm.sh/hook"), "pre-install,pre-upgrade",
                 "default: migration runs as a hook")
    checks.equal(job["spec"]["template"]["spec"]["containers"][0]["args"], ["migrate"],
                 "default: migration runs keyshard migrate")
    shard_policy = one(docs, "NetworkPolicy", f"{prefix}-shard", checks)
    grpc_rule = shard_policy["spec"]["ingress"][0]
    checks.equal(grpc_rule, {"ports": [{"port": "grpc", "protocol": "TCP"}],
                             "from": [{"podSelector": {"matchLabels": {
                                 "app.kubernetes.io/name": "keyshard", "app.kubernetes.io/instance": RELEASE,
                                 "app.kubernetes.io/component": "gateway"}}}]},
                 "default: shard gRPC port admits gateway pods only")


def check_full(docs, checks):
    prefix = f"{RELEASE}-keyshard"
    gateway = settings_file(one(docs, "ConfigMap", f"{prefix}-gateway", checks))
    checks.equal(gateway.get("KEYSHARD_SHARDS"), shard_list(prefix, 5), "full: gateway shard list")
    checks.equal(gateway.get("KEYSHARD_GATEWAY_REPLICAS"), "3", "full: quota share is the HPA minimum")
    checks.equal(gateway.get("KEYSHARD_QUOTAS"), "symmetric=20000,CreateKey=10", "full: quotas")
    checks.equal(gateway.get("KEYSHARD_ACCOUNT_ID"), "444455556666", "full: extra gateway setting")
    shard_settings = settings_file(one(docs, "ConfigMap", f"{prefix}-shard", checks))
    checks.equal(shard_settings.get("KEYSHARD_CACHE_CAPACITY"), "1000000", "full: cache capacity as an integer")
    checks.expect("replicas" not in one(docs, "Deployment", f"{prefix}-gateway", checks)["spec"],
                  "full: the HPA, not the Deployment, sets gateway replicas")
    hpa = one(docs, "HorizontalPodAutoscaler", f"{prefix}-gateway", checks)
    checks.equal((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]), (3, 12), "full: HPA bounds")
    shard = one(docs, "StatefulSet", f"{prefix}-shard", checks)["spec"]["template"]["spec"]
    env = env_of(shard)
    checks.equal(env.get("KEYSHARD_PREVIOUS_ROOT_KEY_FILES"), "/etc/keyshard/previous-root-key-0/root-key",
                 "full: previous root key file")
    volumes = {v["name"]: v.get("secret", {}) for v in shard["volumes"]}
    checks.equal(volumes.get("previous-root-key-0"),
                 {"secretName": "kms-root-key-2025", "defaultMode": 0o440, "items": [{"key": "key", "path": "root-key"}]},
                 "full: previous root key volume")
    checks.equal(env.get("KEYSHARD_DATABASE_URL"), {"secretKeyRef": {"name": "kms-postgres", "key": "connection-url"}},
                 "full: database URL from the named Secret")
    monitor = one(docs, "ServiceMonitor", prefix, checks)
    checks.equal(monitor["metadata"]["namespace"], "observability", "full: ServiceMonitor namespace")
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = sorted(
        doc["metadata"]["name"] for doc in by_kind(docs, "Service")
        if selector.items() <= doc["metadata"]["labels"].items()
        and any(port["name"] == "admin" for port in doc["spec"]["ports"])
    )
    matched = sorted(doc["metadata"]["name"] for doc in by_kind(docs, "Service")
                     if selector.items() <= doc["metadata"]["labels"].items())
    checks.equal(matched, [f"{prefix}-gateway-admin", f"{prefix}-shard-headless"],
                 "full: ServiceMonitor selects the two admin Services")
    checks.equal(scraped, matched, "full: every selected Service has the admin port")
    service = one(docs, "Service", f"{prefix}-gateway", checks)
    checks.equal([(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]],
                 [("kms", 443, "kms"), ("grpc", 9310, "grpc")],
                 "full: the gateway Service has the KMS and public gRPC ports, no admin port")
    check_full_kms_plugin(docs, checks)
    check_full_tls(docs, checks)
    policy = one(docs, "NetworkPolicy", f"{prefix}-shard", checks)
    checks.equal(policy["spec"]["egress"][0], {"ports": [{"port": 5432, "protocol": "TCP"}],
                                               "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]},
                 "full: shard egress to Postgres")


def check_full_kms_plugin(docs, checks):
    """The gateways' public gRPC API and the KMS plugin that calls it."""
    prefix = f"{RELEASE}-keyshard"
    gateway = settings_file(one(docs, "ConfigMap", f"{prefix}-gateway", checks))
    checks.equal(gateway.get("KEYSHARD_GRPC_LISTEN"), "0.0.0.0:9310", "full: gateway public gRPC listen address")
    deployment = one(docs, "Deployment", f"{prefix}-gateway", checks)["spec"]["template"]["spec"]
    checks.equal([(p["name"], p["containerPort"]) for p in deployment["containers"][0]["ports"]],
                 [("kms", 8300), ("grpc", 9310), ("admin", 8500)], "full: gateway container ports")
    daemonset = one(docs, "DaemonSet", f"{prefix}-kms-plugin", checks)
    spec = daemonset.get("spec", {}).get("template", {}).get("spec", {"containers": [{"env": []}]})
    container = spec["containers"][0]
    checks.equal(container.get("args"), ["kms-plugin"], "full: plugin runs keyshard kms-plugin")
    env = env_of(spec)
    checks.equal(env.get("KEYSHARD_KMS_PLUGIN_SOCKET"), "/var/run/kmsplugin/socket.sock", "full: plugin socket path")
    checks.equal(env.get("KEYSHARD_KMS_PLUGIN_KEY_ID"),
                 "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                 "full: plugin key id")
    checks.equal(env.get("KEYSHARD_ENDPOINT"), f"https://{prefix}-gateway.{NAMESPACE}.svc.cluster.local:9310",
                 "full: plugin calls the gateway Service's gRPC port over TLS")
    checks.equal(env.get("KEYSHARD_ENDPOINT_CA_FILE"), "/etc/keyshard/tls/ca.crt", "full: plugin's CA file")
    checks.equal(env.get("KEYSHARD_REGION"), "eu-west-1", "full: plugin region")
    for variable, optional in (("AWS_ACCESS_KEY_ID", None), ("AWS_SECRET_ACCESS_KEY", None),
                               ("AWS_SESSION_TOKEN", True)):
        expected = {"name": "kms-plugin-credentials", "key": variable}
        if optional:
            expected["optional"] = True
        checks.equal(env.get(variable), {"secretKeyRef": expected}, f"full: plugin {variable} from the Secret")
    checks.equal(container.get("volumeMounts"), [{"name": "socket-dir", "mountPath": "/var/run/kmsplugin"},
                                                 {"name": "tls-ca", "mountPath": "/etc/keyshard/tls",
                                                  "readOnly": True}],
                 "full: plugin mounts the socket directory and the gateways' CA")
    checks.equal(spec.get("volumes"), [{"name": "socket-dir", "hostPath": {"path": "/var/run/kmsplugin",
                                                                           "type": "DirectoryOrCreate"}},
                                       {"name": "tls-ca", "secret": {"secretName": "keyshard-gateway-ca",
                                                                     "defaultMode": 0o440,
                                                                     "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
                 "full: socket directory is the node's /var/run/kmsplugin, the CA from its Secret")
    checks.equal(spec.get("nodeSelector"), {"node-role.kubernetes.io/control-plane": ""},
                 "full: plugin runs on control-plane nodes")
    checks.equal(spec.get("tolerations"), [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                            "effect": "NoSchedule"}],
                 "full: plugin tolerates the control-plane taint")
    checks.equal(spec.get("priorityClassName"), "system-node-critical", "full: plugin priority class")
    plugin_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "keyshard",
                                                   "app.kubernetes.io/instance": RELEASE,
                                                   "app.kubernetes.io/component": "kms-plugin"}}}
    gateway_policy = one(docs, "NetworkPolicy", f"{prefix}-gateway", checks)
    checks.equal(gateway_policy["spec"]["ingress"][1],
                 {"ports": [{"port": "grpc", "protocol": "TCP"}],
                  "from": [{"namespaceSelector": {"matchLabels": {"keyshard-client": "true"}}}, plugin_pods]},
                 "full: gateway gRPC port admits kmsFrom and the plugin pods")
    plugin_policy = one(docs, "NetworkPolicy", f"{prefix}-kms-plugin", checks)
    checks.equal(plugin_policy["spec"].get("ingress"), None, "full: plugin takes no connections")
    checks.equal(plugin_policy["spec"]["egress"][0],
                 {"ports": [{"port": 9310, "protocol": "TCP"}],
                  "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "keyshard",
                                                          "app.kubernetes.io/instance": RELEASE,
                                                          "app.kubernetes.io/component": "gateway"}}}]},
                 "full: plugin egress to the gateways' gRPC port")


def check_full_tls(docs, checks):
    """TLS on the gateways' public ports and mutual TLS between gateways and shards."""
    prefix = f"{RELEASE}-keyshard"
    gateway = settings_file(one(docs, "ConfigMap", f"{prefix}-gateway", checks))
    checks.equal({name: value for name, value in gateway.items() if "_TLS_" in name}, {
        "KEYSHARD_TLS_CERT_FILE": "/etc/keyshard/tls/tls.crt",
        "KEYSHARD_TLS_KEY_FILE": "/etc/keyshard/tls/tls.key",
        "KEYSHARD_SHARD_TLS_CA_FILE": "/etc/keyshard/shard-tls/ca.crt",
        "KEYSHARD_SHARD_TLS_CERT_FILE": "/etc/keyshard/shard-tls/tls.crt",
        "KEYSHARD_SHARD_TLS_KEY_FILE": "/etc/keyshard/shard-tls/tls.key",
        "KEYSHARD_TLS_RELOAD_INTERVAL_SECONDS": "30",
    }, "full: gateway TLS settings")
    shard = settings_file(one(docs, "ConfigMap", f"{prefix}-shard", checks))
    checks.equal({name: value for name, value in shard.items() if "_TLS_" in name}, {
        "KEYSHARD_TLS_CERT_FILE": "/etc/keyshard/tls/tls.crt",
        "KEYSHARD_TLS_KEY_FILE": "/etc/keyshard/tls/tls.key",
        "KEYSHARD_TLS_CLIENT_CA_FILE": "/etc/keyshard/tls/ca.crt",
        "KEYSHARD_TLS_RELOAD_INTERVAL_SECONDS": "30",
    }, "full: shard TLS settings")
    for kind, name, mounts in (
        ("Deployment", f"{prefix}-gateway",
         {"tls": ("/etc/keyshard/tls", "keyshard-gateway-tls", ["tls.crt", "tls.key"]),
          "shard-tls": ("/etc/keyshard/shard-tls", "keyshard-gateway-client-tls", ["tls.crt", "tls.key", "ca.crt"])}),
        ("StatefulSet", f"{prefix}-shard",
         {"tls": ("/etc/keyshard/tls", "keyshard-shard-tls", ["tls.crt", "tls.key", "ca.crt"])}),
    ):
        spec = one(docs, kind, name, checks)["spec"]["template"]["spec"]
        volumes = {v["name"]: v.get("secret", {}) for v in spec["volumes"]}
        mounted = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        for volume, (path, secret, keys) in mounts.items():
            checks.equal(mounted.get(volume), path, f"full: {name} mounts {volume} at {path}")
            checks.equal(volumes.get(volume), {"secretName": secret, "defaultMode": 0o440,
                                               "items": [{"key": key, "path": key} for key in keys]},
                         f"full: {name} volume {volume} from {secret}")


def check_created_secrets(docs, checks):
    prefix = f"{RELEASE}-keyshard"
    root = one(docs, "Secret", f"{prefix}-root-key", checks)
    checks.equal(base64.b64decode(root.get("data", {}).get("root-key", "")).decode(), TEST_ROOT_KEY,
                 "created-secrets: root key Secret content")
    checks.equal(root.get("metadata", {}).get("annotations"), {"helm.sh/resource-policy": "keep"},
                 "created-secrets: root key Secret survives uninstall")
    database = one(docs, "Secret", f"{prefix}-database", checks)
    checks.expect("annotations" not in database.get("metadata", {}),
                  "created-secrets: database Secret is no hook when the migration is none")
    job = one(docs, "Job", f"{prefix}-migrate-1", checks)
    checks.equal(job.get("spec", {}).get("ttlSecondsAfterFinished"), 86400, "created-secrets: Job TTL")
    checks.equal(by_kind(docs, "NetworkPolicy") + by_kind(docs, "PodDisruptionBudget"), [],
                 "created-secrets: policies and budgets off")
    checks.equal(by_kind(docs, "ServiceAccount"), [], "created-secrets: no service account created")
    shard = one(docs, "StatefulSet", f"{prefix}-shard", checks)["spec"]["template"]["spec"]
    checks.equal(shard["serviceAccountName"], "keyshard", "created-secrets: named service account")
    checks.equal(env_of(shard).get("KEYSHARD_DATABASE_URL"),
                 {"secretKeyRef": {"name": f"{prefix}-database", "key": "url"}},
                 "created-secrets: database URL from the chart's Secret")


def check_kustomize(docs, checks):
    checks.expect(all("namespace" not in doc["metadata"] for doc in docs),
                  "kustomize: no manifest names a namespace")
    (gateway_conf,) = [doc for doc in by_kind(docs, "ConfigMap") if doc["metadata"]["name"].startswith("keyshard-gateway")]
    settings = settings_file(gateway_conf)
    (shard,) = by_kind(docs, "StatefulSet")
    (gateway,) = by_kind(docs, "Deployment")
    expected = ",".join(f"{shard['metadata']['name']}-{i}.{shard['spec']['serviceName']}:8400"
                        for i in range(shard["spec"]["replicas"]))
    checks.equal(settings.get("KEYSHARD_SHARDS"), expected, "kustomize: shard list matches the StatefulSet")
    checks.equal(settings.get("KEYSHARD_GATEWAY_REPLICAS"), str(gateway["spec"]["replicas"]),
                 "kustomize: quota share matches the gateway replicas")
    services = {doc["metadata"]["name"] for doc in by_kind(docs, "Service")}
    checks.expect(shard["spec"]["serviceName"] in services, "kustomize: the shards' headless Service exists")


EXPECTED_FAILURES = [
    (["--set", "rootKey.value=abc"], "/rootKey/value"),
    (["--set", "rootKey.existingSecret="], "set rootKey.existingSecret to the Secret holding the root key"),
    (["--set", "database.existingSecret="], "set database.existingSecret to the Secret holding the Postgres URL"),
    (["--set", "gateway.config.KEYSHARD_SHARDS=a:1"], "gateway.config: KEYSHARD_SHARDS is set by the chart"),
    (["--set", "shard.config.KEYSHARD_DATABASE_URL=postgres://x"], "shard.config: KEYSHARD_DATABASE_URL is set by the chart"),
    (["--set", "gateway.autoscaling.minReplicas=5", "--set", "gateway.autoscaling.maxReplicas=2"],
     "gateway.autoscaling.minReplicas is larger than maxReplicas"),
    (["--set", "gateway.replicass=3"], "additional properties 'replicass' not allowed"),
    (["--set", "kmsPlugin.enabled=true"], "kmsPlugin.enabled needs gateway.grpc.enabled"),
    (["--set", "kmsPlugin.enabled=true", "--set", "gateway.grpc.enabled=true"],
     "kmsPlugin.keyId: set it to the ARN of the key"),
    (["--set", "kmsPlugin.enabled=true", "--set", "gateway.grpc.enabled=true",
      "--set", "kmsPlugin.keyId=arn:aws:kms:eu-west-1:111122223333:key/k", "--set", "kmsPlugin.existingSecret=s"],
     "kmsPlugin.keyId names region eu-west-1, but the gateways serve region us-east-1"),
    (["--set", "kmsPlugin.enabled=true", "--set", "gateway.grpc.enabled=true",
      "--set", "kmsPlugin.keyId=arn:aws:kms:us-east-1:111122223333:key/k"],
     "kmsPlugin.existingSecret: set it to the Secret holding the plugin's AWS_ACCESS_KEY_ID"),
    (["--set", "kmsPlugin.keyId=alias/k"], "/kmsPlugin/keyId"),
    (["--set", "gateway.config.KEYSHARD_GRPC_LISTEN=0.0.0.0:1"], "gateway.config: KEYSHARD_GRPC_LISTEN is set by the chart"),
    (["--set", "tls.internal.enabled=true", "--set", "tls.internal.shardSecretName=s"],
     "tls.internal.enabled needs tls.internal.shardSecretName and tls.internal.gatewaySecretName"),
    (["--set", "gateway.config.KEYSHARD_TLS_CERT_FILE=/x"], "gateway.config: KEYSHARD_TLS_CERT_FILE is set by the chart"),
    (["--set", "shard.config.KEYSHARD_TLS_CLIENT_CA_FILE=/x"],
     "shard.config: KEYSHARD_TLS_CLIENT_CA_FILE is set by the chart"),
    (["--set", "tls.reloadIntervalSeconds=0"], "/tls/reloadIntervalSeconds"),
    (["--kube-version", "1.29.0"], "chart requires kubeVersion: >=1.30.0-0"),
]


# Values that are Kubernetes objects passed through whole: each is one row of the README.
OBJECT_VALUES = {"podSecurityContext", "securityContext", "resources", "startupProbe", "livenessProbe",
                 "readinessProbe", "nodeSelector"}


def values_paths(values, prefix=""):
    """The documented paths of values.yaml: every leaf, where an empty map or an object value is one."""
    for key, value in values.items():
        path = prefix + key
        if isinstance(value, dict) and value and key not in OBJECT_VALUES:
            yield from values_paths(value, path + ".")
        else:
            yield path


def check_readme(checks):
    values = yaml.safe_load(open(f"{CHART}/values.yaml", encoding="utf-8"))
    documented = re.findall(r"^\| `([^`]+)` \|", open(f"{CHART}/README.md", encoding="utf-8").read(), re.M)
    paths = list(values_paths(values))
    checks.equal(sorted(set(paths) - set(documented)), [], "chart README documents every value")
    checks.equal(sorted(set(documented) - set(paths)), [], "chart README documents no missing value")
    checks.equal(len(documented), len(set(documented)), "chart README documents each value once")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--helm", required=True)
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    checks = Checks()
    monitor_schema = servicemonitor_schema()
    settings = keyshard_settings()

    renders = [("default", [], check_default),
               ("full", ["-f", f"{CHART}/ci/full-values.yaml"], check_full),
               ("created-secrets", ["-f", f"{CHART}/ci/created-secrets-values.yaml"], check_created_secrets)]
    for name, values, check in renders:
        lint = run([args.helm, "lint", "--strict", CHART, *values])
        checks.expect(lint.returncode == 0, f"helm lint --strict ({name}): {lint.stdout}{lint.stderr}")
        template = run([args.helm, "template", RELEASE, CHART, "--namespace", NAMESPACE,
                        "--kube-version", KUBERNETES_VERSIONS[-1], *values])
        checks.expect(template.returncode == 0, f"helm template ({name}): {template.stderr}")
        if template.returncode != 0:
            continue
        with open(os.path.join(args.out, f"helm-{name}.yaml"), "w", encoding="utf-8") as out:
            out.write(template.stdout)
        docs = documents(template.stdout)
        validate(f"helm {name}", docs, checks, monitor_schema, settings)
        check(docs, checks)
        print(f"helm {name}: {len(docs)} manifests rendered and checked")

    kustomized = run([args.kubectl, "kustomize", KUSTOMIZE])
    checks.expect(kustomized.returncode == 0, f"kubectl kustomize: {kustomized.stderr}")
    if kustomized.returncode == 0:
        with open(os.path.join(args.out, "kustomize.yaml"), "w", encoding="utf-8") as out:
            out.write(kustomized.stdout)
        docs = documents(kustomized.stdout)
        validate("kustomize", docs, checks, monitor_schema, settings)
        check_kustomize(docs, checks)
        print(f"kustomize: {len(docs)} manifests rendered and checked")

    for values, message in EXPECTED_FAILURES:
        bad = run([args.helm, "template", RELEASE, CHART, "--namespace", NAMESPACE, *values])
        checks.expect(bad.returncode != 0 and message in bad.stderr,
                      f"helm template {' '.join(values)} fails with {message!r}; got {bad.returncode}: {bad.stderr}")
    check_readme(checks)

    print(f"check-chart: {checks.passed} passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
