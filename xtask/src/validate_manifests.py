"""Validate Kubernetes manifests strictly: cargo xtask test's chart and Flux checks.

usage: python3 validate_manifests.py kube VERSION:FILE...
       python3 validate_manifests.py crd VERSIONS CRD_FILE... -- FILE...

kube: every object in each FILE against kubernetes-validate's strict schemas for
Kubernetes VERSION (e.g. 1.29.0), with kubernetes-validate's own function, in one
process: its schema files are read once instead of once per object (about five times
faster than its command line). An object of a kind it has no schema for is an error.

crd: every object in each FILE against the openAPIV3Schema of the CustomResourceDefinition
(from CRD_FILE) serving its apiVersion and kind, as the apiserver would: unknown fields
are errors unless the schema preserves them, `nullable` allows null. CEL rules
(x-kubernetes-validations) are not evaluated. Objects of Kubernetes' own kinds are
checked as `kube` does for each of VERSIONS (comma-separated); a kustomize
Kustomization's resources must exist. Anything else is an error.

Prints one line per problem; exits 1 if there is any.
"""

import copy
import functools
import json
import sys

import jsonschema
import yaml

META_KEYS = {"name", "namespace", "labels", "annotations"}


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML's safe loader (libyaml's parser where present), refusing duplicate keys:
    PyYAML keeps the last silently, the apiserver refuses them."""

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key %r" % (key,), key_node.start_mark)
            keys.add(key)
        return super().construct_mapping(node, deep)


def load(path):
    with open(path) as f:
        text = f.read()
    try:
        return parse(text)
    except yaml.YAMLError as e:
        sys.exit("%s: not valid YAML: %s" % (path, e))


@functools.lru_cache(maxsize=None)
def parse(text):
    """The documents of a YAML stream; the same rendering for another version is parsed once."""
    return [doc for doc in yaml.load_all(text, Loader=Loader) if doc]


def name_of(obj):
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "?")
    return "%s %s" % (obj.get("kind", "?"), "%s/%s" % (ns, name) if ns else name)


@functools.lru_cache(maxsize=None)
def kubernetes_validate():
    import kubernetes_validate.utils as utils

    # kubernetes-validate reads (and parses) two schema files per object and version.
    utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)
    return utils


SEEN = set()


def once(obj, version):
    """`obj` with the parts already validated for `version` left out, or None when it
    all was: charts render the same objects with several values files, and a CRD
    served in three versions has the same schema three times."""
    key = (version, json.dumps(obj, sort_keys=True))
    if key in SEEN:
        return None
    SEEN.add(key)
    if obj.get("kind") != "CustomResourceDefinition":
        return obj
    obj = copy.deepcopy(obj)
    for served in (obj.get("spec") or {}).get("versions") or []:
        schema = served.get("schema")
        key = (version, json.dumps(schema, sort_keys=True))
        if key in SEEN:
            served["schema"] = {"openAPIV3Schema": {"type": "object"}}
        SEEN.add(key)
    return obj


def kube_object(path, obj, version):
    """Problems of one object for one Kubernetes version, as kubernetes-validate --strict."""
    utils = kubernetes_validate()
    obj = once(obj, version)
    if obj is None:
        return []
    try:
        utils.validate(obj, version, strict=True)
    except utils.ValidationError as e:
        where = ".".join(str(p) for p in e.path)
        return ["%s: %s: Kubernetes %s: %s: %s"
                % (path, name_of(obj), version, where or "(root)", e.message)]
    except (utils.SchemaNotFoundError, utils.InvalidSchemaError) as e:
        return ["%s: %s: Kubernetes %s: %s" % (path, name_of(obj), version, e.message)]
    except utils.VersionNotSupportedError:
        return ["kubernetes-validate has no schemas for Kubernetes %s: upgrade its pin "
                "in xtask/src/tools.rs" % version]
    return []


def kube(pairs):
    problems = []
    for pair in pairs:
        version, path = pair.split(":", 1)
        for obj in load(path):
            problems += kube_object(path, obj, version)
    for line in problems:
        print(line)
    return 1 if problems else 0


def strict(schema):
    """A CRD's structural schema as JSON Schema, with the apiserver's rules on fields."""
    schema = dict(schema)
    for key in ("properties", "patternProperties"):
        if key in schema:
            schema[key] = {k: strict(v) for k, v in schema[key].items()}
    for key in ("items", "not"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict(schema[key])
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = strict(schema["additionalProperties"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in schema:
            schema[key] = [strict(s) for s in schema[key]]
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    if (schema.get("type") == "object" and "properties" in schema
            and "additionalProperties" not in schema and not preserve):
        schema["additionalProperties"] = False
    return schema


def crd_schemas(crd_files):
    """(apiVersion, kind) -> (JSON Schema, namespaced) for every served version."""
    served = {}
    for path in crd_files:
        for crd in load(path):
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                # metadata is checked below: the apiserver owns its schema.
                schema.get("properties", {}).pop("metadata", None)
                schema.get("properties", {}).pop("status", None)
                schema = strict(schema)
                schema["properties"]["metadata"] = {"type": "object"}
                key = ("%s/%s" % (spec["group"], version["name"]), spec["names"]["kind"])
                served[key] = (schema, spec["scope"] == "Namespaced")
    return served


def kustomization(path, obj):
    """A kustomize Kustomization that only lists resources, each of which exists."""
    import os

    problems = []
    extra = set(obj) - {"apiVersion", "kind", "resources"}
    if extra:
        problems.append("%s: Kustomization: only resources are expected, found %s"
                        % (path, ", ".join(sorted(extra))))
    for resource in obj.get("resources") or []:
        if not os.path.exists(os.path.join(os.path.dirname(path), resource)):
            problems.append("%s: Kustomization: resource %s does not exist" % (path, resource))
    return problems


def crd(versions, crd_files, files):
    served = crd_schemas(crd_files)
    problems = 0
    for path in files:
        for obj in load(path):
            key = (obj.get("apiVersion"), obj.get("kind"))
            if key not in served:
                if key == ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
                    lines = kustomization(path, obj)
                elif "." not in key[0].split("/")[0] or key[0].split("/")[0].endswith(".k8s.io"):
                    lines = [line for v in versions for line in kube_object(path, obj, v)]
                else:
                    lines = ["%s: %s: no CRD in %s serves %s %s"
                             % (path, name_of(obj), ", ".join(crd_files), *key)]
                for line in lines:
                    print(line)
                problems += len(lines)
                continue
            schema, namespaced = served[key]
            meta = obj.get("metadata") or {}
            unknown = set(meta) - META_KEYS
            if unknown or not meta.get("name") or namespaced != bool(meta.get("namespace")):
                print("%s: %s: metadata needs a name%s and only %s (found %s)"
                      % (path, name_of(obj), ", a namespace" if namespaced else "",
                         ", ".join(sorted(META_KEYS)), ", ".join(sorted(meta))))
                problems += 1
            validator = jsonschema.Draft7Validator(schema)
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
                where = ".".join(str(p) for p in error.path)
                print("%s: %s: %s: %s" % (path, name_of(obj), where or "(root)", error.message))
                problems += 1
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "kube":
        return kube(argv[1:])
    if len(argv) >= 4 and argv[0] == "crd" and "--" in argv:
        split = argv.index("--")
        return crd(argv[1].split(","), argv[2:split], argv[split + 1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
