#!/usr/bin/python3
"""Check berthd's ECS answers against botocore's model of the ECS API.

    shape_check.py [--model service-2.json] FILE|DIR...

Each FILE (every *.json in a DIR) is one recorded call, as the unit test
tests/unit/daemon/test_api_data.c writes them:

    {"operation": "DescribeClusters", "response": {...}}
    {"operation": "DescribeClusters", "error": {"__type": "...", "message": "...", "status": 400}}

A response must match the operation's output shape the way botocore's JSON
parser will read it: every member known to the shape (no unknown ones),
structures as objects, lists as arrays, strings (enum values among the
enum's), integers and longs as JSON integers, booleans, doubles as numbers,
timestamps as epoch seconds (numbers), required members present. An error's
__type must be an exception of the model (or one of the JSON protocol's own:
UnknownOperationException, SerializationException), with status 500 for
ServerException and 400 otherwise; the message must be a non-empty string.

The model is Debian's botocore (the one /usr/bin/aws uses) unless --model
names a service-2.json. Exit status: 0 all good, 1 mismatches (each printed
as FILE: operation: path: problem), 2 usage, 77 botocore is missing.
"""
import glob
import json
import os
import sys

PROTOCOL_ERRORS = {"UnknownOperationException", "SerializationException"}


def load_model(path, service="ecs"):
    try:
        from botocore.model import ServiceModel
    except ImportError:
        print("shape_check: botocore is not installed (python3-botocore)", file=sys.stderr)
        sys.exit(77)
    if path:
        with open(path) as f:
            data = json.load(f)
    else:
        from botocore.loaders import Loader
        data = Loader().load_service_model(service, "service-2")
    return ServiceModel(data, service_name=service)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def check(shape, value, path, problems):
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            problems.append("%s: expected object (%s), got %s" % (path, shape.name, type(value).__name__))
            return
        members = shape.members
        for key, v in value.items():
            if key not in members:
                problems.append("%s.%s: not a member of %s" % (path, key, shape.name))
                continue
            if v is None:
                problems.append("%s.%s: null (omit the member instead)" % (path, key))
                continue
            check(members[key], v, "%s.%s" % (path, key), problems)
        for req in shape.required_members:
            if req not in value:
                problems.append("%s: required member %s missing (%s)" % (path, req, shape.name))
    elif t == "list":
        if not isinstance(value, list):
            problems.append("%s: expected array, got %s" % (path, type(value).__name__))
            return
        for i, v in enumerate(value):
            check(shape.member, v, "%s[%d]" % (path, i), problems)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append("%s: expected object (map), got %s" % (path, type(value).__name__))
            return
        for k, v in value.items():
            check(shape.key, k, "%s{%s}" % (path, k), problems)
            check(shape.value, v, "%s[%r]" % (path, k), problems)
    elif t == "string":
        if not isinstance(value, str):
            problems.append("%s: expected string, got %s" % (path, type(value).__name__))
            return
        enum = shape.enum
        if enum and value not in enum:
            problems.append("%s: %r is not one of %s" % (path, value, ", ".join(enum)))
    elif t in ("integer", "long"):
        if not is_int(value):
            problems.append("%s: expected integer, got %s" % (path, type(value).__name__))
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append("%s: expected boolean, got %s" % (path, type(value).__name__))
    elif t in ("double", "float"):
        if not is_number(value):
            problems.append("%s: expected number, got %s" % (path, type(value).__name__))
    elif t == "timestamp":
        # JSON 1.1 services send epoch seconds; botocore also takes ISO strings,
        # but ECS does not use them
        if not is_number(value):
            problems.append("%s: expected epoch seconds, got %s" % (path, type(value).__name__))
    elif t == "blob":
        if not isinstance(value, str):
            problems.append("%s: expected base64 string, got %s" % (path, type(value).__name__))
    else:
        problems.append("%s: shape type %s not handled by shape_check" % (path, t))


def check_record(model, rec, problems):
    op_name = rec.get("operation")
    if op_name not in model.operation_names:
        typ = rec.get("error", {}).get("__type")
        # an unknown operation, or one newer than this model, may be refused
        if typ not in ("UnknownOperationException", "UnsupportedFeatureException"):
            problems.append("operation %r is not in the model" % op_name)
        return
    op = model.operation_model(op_name)
    if "error" in rec:
        err = rec["error"]
        typ = err.get("__type")
        exceptions = {s.name for s in model.error_shapes} if hasattr(model, "error_shapes") else set()
        # an operation of another service's API that berth has not built
        # is refused with berth's UnsupportedFeatureException (ECS's own
        # name for it; such a model has no word of its own)
        if typ == "UnsupportedFeatureException" and model.service_name != "ecs":
            pass
        elif typ not in exceptions and typ not in PROTOCOL_ERRORS:
            try:
                shape = model.shape_for(typ)
                if not shape.metadata.get("exception"):
                    raise KeyError(typ)
            except Exception:
                problems.append("error: __type %r is no exception of the model" % typ)
        if not isinstance(err.get("message"), str) or not err.get("message"):
            problems.append("error: message missing or empty")
        want = 500 if typ == "ServerException" else 400
        if err.get("status") != want:
            problems.append("error: %s with HTTP status %r (want %d)" % (typ, err.get("status"), want))
        return
    if "response" not in rec:
        problems.append("record has neither response nor error")
        return
    out = op.output_shape
    if out is None:
        if rec["response"] not in ({}, None):
            problems.append("response: the operation has no output, got %r" % rec["response"])
        return
    check(out, rec["response"], "response", problems)


def main(argv):
    model_path = None
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--model":
        model_path = args[1]
        args = args[2:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    model = load_model(model_path)
    files = []
    for a in args:
        if os.path.isdir(a):
            files.extend(sorted(glob.glob(os.path.join(a, "*.json"))))
        else:
            files.append(a)
    if not files:
        print("shape_check: no records found in %s" % " ".join(args), file=sys.stderr)
        return 1
    bad = 0
    others = {}
    for fn in files:
        with open(fn) as f:
            rec = json.load(f)
        problems = []
        # a record of another service's API names it ("servicediscovery");
        # --model is ECS's only
        svc = rec.get("service", "ecs")
        if svc != "ecs" and svc not in others:
            others[svc] = load_model(None, svc)
        check_record(model if svc == "ecs" else others[svc], rec, problems)
        for p in problems:
            print("%s: %s: %s" % (os.path.basename(fn), rec.get("operation"), p))
        bad += len(problems)
    print("shape_check: %d records, %d problems" % (len(files), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
