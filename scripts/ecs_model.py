"""Every request the endpoint receives, checked against the service's published model
(botocore's `data/<service>/<version>/service-2.json` in this virtualenv): required members,
unknown members, types, enums, lengths and ranges, patterns. ECS (every member), and the other
services the controller calls: Secrets Manager, DynamoDB, SQS, Application Auto Scaling (JSON:
every member), IAM, STS and
SSM (query protocol: the top-level members, which is where their names, ARNs and ids are; the
nested form keys `X.member.N` are not unflattened). A request the model does not allow is refused
with the code `LocalModelViolation` (no AWS code: the check is the endpoint's), so that a test
whose controller sent it fails. botocore's own ParamValidator checks required members, types and
minimums; the maximums, enums and patterns are checked here as well.
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/Welcome.html"""

import re
import unicodedata
from functools import lru_cache

# The services whose requests are checked; ECS through its own handler (ecs_behaviour.py).
CHECKED = (
    "ecs",
    "secretsmanager",
    "dynamodb",
    "sqs",
    "application-autoscaling",
    "iam",
    "sts",
    "ssm",
)


@lru_cache(maxsize=None)
def service_model(service="ecs"):
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def problems(operation, params, service="ecs"):
    """What the model does not allow in `params` of `operation`, as 'path: problem' lines."""
    model = service_model(service)
    if operation not in model.operation_names:
        return [f"{operation}: not an operation of the {service} model"]
    shape = model.operation_model(operation).input_shape
    found = []
    if shape is not None:
        check(shape, params, operation, found)
    found.extend(documented_problems(service, operation, params))
    return found


def documented_problems(service, operation, params):
    """Rules the model's documentation states in words, not in its shapes (quoted from the
    member's documentation in botocore's service-2.json)."""
    found = []
    if service == "application-autoscaling" and isinstance(params, dict):
        if operation in ("DescribeScalableTargets", "DescribeScalingPolicies", "DescribeScalingActivities"):
            # "If you specify a scalable dimension, you must also specify a resource ID."
            if "ScalableDimension" in params and not (params.get("ResourceId") or params.get("ResourceIds")):
                found.append(f"{operation}.ScalableDimension: given without a resource ID")
        limits = {"DescribeScalingPolicies": 10, "DescribeScalableTargets": 50}
        # "This value can be between 1 and 10" (DescribeScalingPolicies), "... 1 and 50"
        # (DescribeScalableTargets).
        top = limits.get(operation)
        value = params.get("MaxResults")
        if top and isinstance(value, int) and not 1 <= value <= top:
            found.append(f"{operation}.MaxResults: {value}, between 1 and {top}")
    return found


def query_problems(service, operation, querystring):
    """`problems` of a query-protocol request (IAM, STS), from its form fields: the top-level
    scalar members as the model types them; a list or structure member counts as present when
    any of its flattened keys (`Name.member.1`, `Name.Key`) is, and is not checked further."""
    model = service_model(service)
    if operation not in model.operation_names:
        return [f"{operation}: not an operation of the {service} model"]
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return []
    found = []
    fields = {k: v[0] if isinstance(v, list) and v else v for k, v in querystring.items()}
    present = {k.split(".", 1)[0] for k in fields}
    for name in shape.metadata.get("required", []):
        if name not in present:
            found.append(f"{operation}.{name}: required")
    for key, raw in fields.items():
        if key in ("Action", "Version") or "." in key:
            continue
        member = shape.members.get(key)
        if member is None:
            found.append(f"{operation}.{key}: not a member of {shape.name}")
            continue
        value = typed(member.type_name, raw)
        if value is not None:
            check(member, value, f"{operation}.{key}", found)
    return found


def typed(kind, raw):
    """A form field's text as the model's scalar type; None for what is not a scalar."""
    if kind == "string":
        return raw
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return None


def check(shape, value, path, found):
    kind = shape.type_name
    md = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            found.append(f"{path}: a structure was expected")
            return
        for name in md.get("required", []):
            if value.get(name) is None:
                found.append(f"{path}.{name}: required")
        for name, member in value.items():
            if name not in shape.members:
                found.append(f"{path}.{name}: not a member of {shape.name}")
            elif member is not None:
                check(shape.members[name], member, f"{path}.{name}", found)
    elif kind == "list":
        if not isinstance(value, list):
            found.append(f"{path}: a list was expected")
            return
        bounds(md, len(value), path, "items", found)
        for i, item in enumerate(value):
            check(shape.member, item, f"{path}[{i}]", found)
    elif kind == "map":
        if not isinstance(value, dict):
            found.append(f"{path}: a map was expected")
            return
        for k, v in value.items():
            check(shape.key, k, f"{path}.<key>", found)
            check(shape.value, v, f"{path}.{k}", found)
    elif kind == "string":
        if not isinstance(value, str):
            found.append(f"{path}: a string was expected")
            return
        bounds(md, len(value), path, "characters", found)
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        pattern = md.get("pattern")
        if pattern and not matches(pattern, value):
            found.append(f"{path}: {value!r} does not match {pattern}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            found.append(f"{path}: an integer was expected")
            return
        if "min" in md and value < md["min"]:
            found.append(f"{path}: {value} is below {md['min']}")
        if "max" in md and value > md["max"]:
            found.append(f"{path}: {value} is above {md['max']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            found.append(f"{path}: a boolean was expected")
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            found.append(f"{path}: a number was expected")


def bounds(md, size, path, unit, found):
    if "min" in md and size < md["min"]:
        found.append(f"{path}: {size} {unit}, at least {md['min']}")
    if "max" in md and size > md["max"]:
        found.append(f"{path}: {size} {unit}, at most {md['max']}")


# The model's patterns are Java regular expressions, matched against the whole value. Python's
# re has no \p{..}: the one class the ECS model writes with it (TagKey, TagValue) is checked by
# Unicode general category.
UNICODE_CLASS = re.compile(r"^\(?\[((?:\\p\{[LZN]\})+)([^\]]*)\]\*\)?$")


@lru_cache(maxsize=None)
def compiled(pattern):
    unicode_class = UNICODE_CLASS.match(pattern)
    if unicode_class:
        categories = set(re.findall(r"\\p\{([LZN])\}", unicode_class.group(1)))
        others = set(unicode_class.group(2).replace("\\", ""))
        return lambda value: all(unicodedata.category(c)[0] in categories or c in others for c in value)
    # Java writes characters beyond the BMP as surrogate pairs: "\uD800\uDC00-\uDBFF\uDFFF" is
    # U+10000 to U+10FFFF (Application Auto Scaling's XmlString patterns), a range Python's re
    # reads backwards.
    pattern = pattern.replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\U00010000-\\U0010FFFF")
    # Java's POSIX class \p{Print}: printable US-ASCII (Application Auto Scaling's PolicyName).
    pattern = pattern.replace("\\p{Print}", "[\\x20-\\x7E]")
    java = re.compile(pattern)
    return lambda value: java.fullmatch(value) is not None


def matches(pattern, value):
    return compiled(pattern)(value)
