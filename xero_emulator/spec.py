"""The official Xero OpenAPI spec, loaded once per process, compiled into fast validators.

We do not run openapi-core per request: unmarshalling a 50-invoice batch through it costs tens of
milliseconds. Instead each component schema the emulator needs is compiled (lazily, once) into a
plain Python closure that checks exactly the JSON-Schema keywords the Xero spec uses: ``type``,
``enum``, ``required``, ``maxLength``, ``format`` (uuid, date, date-time), ``items``,
``properties`` and ``$ref`` (recursive schemas such as Invoice -> Payment -> Invoice are resolved
through a cache). The spec uses no ``allOf``/``oneOf``/``anyOf``/``nullable``/``pattern``/
``minimum`` (checked at load time), so nothing else is needed; OpenAPI 3.0 without ``nullable``
means JSON ``null`` is not a valid value for any property, and we reject it.

Where the spec comes from (``spec_dir()``; the first that applies wins):

1. ``$XERO_OPENAPI_DIR`` when set: used as it is (no checksum), so a developer can try another
   release; it must hold ``xero_accounting.yaml``.
2. The cache, ``$XDG_CACHE_HOME/coworks_xero/xero-openapi/16.1.0`` (``~/.cache`` when
   ``XDG_CACHE_HOME`` is unset), when every pinned file there has its pinned sha256.
3. ``xero_emulator/openapi/``, the pinned release committed with the emulator (MIT, its LICENSE
   beside it), when every file has its pinned sha256: a clone stands alone, offline.
4. ``<repo root>/../shared/xero-openapi``, an optional offline copy, when it exists and every
   pinned file in it has its pinned sha256. Nothing requires it.
5. Otherwise the pinned release is downloaded into the cache (standard library only) from
   ``$XERO_OPENAPI_URL`` (default: raw.githubusercontent.com at the pinned commit of
   XeroAPI/Xero-OpenAPI, tag 16.1.0). Each file is checked against its sha256 before anything is
   moved into the cache (temporary files, then ``os.replace``); a mismatch deletes what was
   downloaded and raises ``SpecUnavailable`` with a one-line message.

The files are ``xero_accounting.yaml``, ``xero-identity.yaml``, ``xero-webhooks.yaml`` and the
release's MIT ``LICENSE``, kept beside them. ``python -m xero_emulator.spec fetch`` (run by
``scripts/setup.sh``) makes sure a copy is available; ``python -m xero_emulator.spec where`` prints
the directory in use and where it came from.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.request

import yaml

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")

_lock = threading.Lock()
_cache: dict[str, "Spec"] = {}


# -- where the spec comes from ------------------------------------------------------------------
SPEC_RELEASE = "16.1.0"
SPEC_COMMIT = "e952d0bda3628facbf7afc5990ad6a0e7e77bd1e"
SPEC_REPOSITORY = "XeroAPI/Xero-OpenAPI"
SPEC_FILES = {
    "xero_accounting.yaml": "140f64f8e6bd2d8524b8ffdbffd08589d417efa5466ba57bfa04939a69ff6db8",
    "xero-identity.yaml": "d95f4204d8ec369dac2bb1ee6e6b8cfb88f845a09cbcba630475dd34c73cf2bd",
    "xero-webhooks.yaml": "822244b387a8e26ca948abd338cbee419b6167408ad615582802346587ed7eac",
    "LICENSE": "bba099837eebad6285316c845c2897dd7df620ee7da7003e3120381c125f1084",
}
DEFAULT_SPEC_URL = f"https://raw.githubusercontent.com/{SPEC_REPOSITORY}/{SPEC_COMMIT}/"
DOWNLOAD_TIMEOUT = 60  # seconds per file


class SpecUnavailable(RuntimeError):
    """The spec cannot be found or fetched; the message is one line saying what to do."""


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/coworks_xero/xero-openapi/<release>`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "coworks_xero", "xero-openapi", SPEC_RELEASE)


def bundled_dir() -> str:
    """The pinned release committed with the emulator: ``xero_emulator/openapi``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi")


def shared_dir() -> str:
    """The optional offline copy beside the repository: ``<repo root>/../shared/xero-openapi``."""
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.normpath(os.path.join(repo_root, "..", "shared", "xero-openapi"))


def spec_url() -> str:
    url = os.environ.get("XERO_OPENAPI_URL") or DEFAULT_SPEC_URL
    return url if url.endswith("/") else url + "/"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_verified: dict[str, tuple] = {}  # directory -> the files' (size, mtime) when last verified


def is_verified(directory: str) -> bool:
    """Whether every pinned file is in ``directory`` with its pinned sha256 (memoised on stat)."""
    try:
        stamp = tuple((st.st_size, st.st_mtime_ns, st.st_ino) for st in
                      (os.stat(os.path.join(directory, name)) for name in SPEC_FILES))
    except OSError:
        return False
    if _verified.get(directory) == stamp:
        return True
    if all(_sha256(os.path.join(directory, name)) == sha for name, sha in SPEC_FILES.items()):
        _verified[directory] = stamp
        return True
    return False


def _help_line(reason: str) -> str:
    return (f"xero_emulator: the Xero OpenAPI spec {SPEC_RELEASE} is not available ({reason}); it comes "
            f"from $XERO_OPENAPI_DIR, else the cache {cache_dir()}, else {shared_dir()}, else a download "
            f"from {spec_url()}: with no network, point at a copy of {SPEC_REPOSITORY} {SPEC_RELEASE} "
            f"with XERO_OPENAPI_DIR=/path/to/xero-openapi (or XERO_OPENAPI_URL=http://host/dir/)")


def download(directory: str | None = None, base_url: str | None = None) -> str:
    """Download the pinned files into ``directory`` (the cache), verified; returns the directory.

    Everything goes to a temporary directory beside it first; only when every file has its pinned
    sha256 are the files moved in (``os.replace``, atomic per file). On any failure nothing is
    left behind and ``SpecUnavailable`` is raised."""
    directory = directory or cache_dir()
    base_url = base_url or spec_url()
    if not base_url.endswith("/"):
        base_url += "/"
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".download-", dir=parent)
    try:
        for name, expected in SPEC_FILES.items():
            url = base_url + name
            target = os.path.join(staging, name)
            digest = hashlib.sha256()
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp, open(target, "wb") as out:
                    for block in iter(lambda: resp.read(1 << 16), b""):
                        digest.update(block)
                        out.write(block)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise SpecUnavailable(_help_line(f"downloading {url} failed: {reason}")) from None
            if digest.hexdigest() != expected:
                raise SpecUnavailable(
                    f"xero_emulator: refused {url}: its sha256 is {digest.hexdigest()}, the pinned "
                    f"{SPEC_RELEASE} file has {expected}; nothing was kept in {directory}")
        os.makedirs(directory, exist_ok=True)
        for name in SPEC_FILES:
            os.replace(os.path.join(staging, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            os.rmdir(parent)  # only when empty, i.e. a failed first download leaves no trace
        except OSError:
            pass
    if not is_verified(directory):  # e.g. another process replaced a file meanwhile
        raise SpecUnavailable(f"xero_emulator: the files in {directory} do not match the pinned checksums")
    return directory


def locate(fetch: bool = True) -> tuple[str, str]:
    """(directory, source) of the spec; ``source`` is env, cache, bundled, shared or download."""
    env = os.environ.get("XERO_OPENAPI_DIR")
    if env:
        if not os.path.isfile(os.path.join(env, "xero_accounting.yaml")):
            raise SpecUnavailable(f"xero_emulator: XERO_OPENAPI_DIR={env} has no xero_accounting.yaml; point it "
                                  f"at a copy of {SPEC_REPOSITORY} {SPEC_RELEASE}, or unset it to use the cache")
        return env, "env"
    cache = cache_dir()
    if is_verified(cache):
        return cache, "cache"
    bundled = bundled_dir()
    if os.path.isdir(bundled) and is_verified(bundled):
        return bundled, "bundled"
    shared = shared_dir()
    if os.path.isdir(shared) and is_verified(shared):
        return shared, "shared"
    if not fetch:
        raise SpecUnavailable(_help_line("not downloaded yet: run python -m xero_emulator.spec fetch"))
    return download(cache), "download"


def spec_dir() -> str:
    """The directory holding the spec, downloading the pinned release first if need be."""
    return locate()[0]


def get_spec(directory: str | None = None) -> "Spec":
    directory = directory or spec_dir()
    with _lock:
        spec = _cache.get(directory)
        if spec is None:
            spec = _cache[directory] = Spec(directory)
        return spec


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


class Operation:
    __slots__ = ("path", "method", "operation_id", "params", "body_schema", "body_binary", "body_required",
                 "scopes", "regex", "template")

    def __init__(self, path, method, op, spec):
        self.path = path
        self.template = path
        self.method = method.upper()
        self.operation_id = op.get("operationId")
        self.params = []
        for p in op.get("parameters", []):
            if "$ref" in p:
                p = spec.resolve(p["$ref"])
            self.params.append(p)
        request_body = op.get("requestBody", {})
        content = request_body.get("content", {})
        body = content.get("application/json", {}).get("schema")
        self.body_schema = body
        # Attachments: the spec declares the body as raw bytes (application/octet-stream)
        self.body_binary = body is None and "application/octet-stream" in content
        self.body_required = bool(request_body.get("required"))
        scopes = []
        for sec in op.get("security", []):
            scopes.extend(sec.get("OAuth2", []))
        self.scopes = scopes
        pattern = "^" + re.sub(r"\{[^}]+\}", r"([^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        self.regex = re.compile(pattern, re.IGNORECASE)


class Spec:
    """One loaded copy of the accounting + identity specs."""

    def __init__(self, directory: str):
        path = os.path.join(directory, "xero_accounting.yaml")
        with open(path, "rb") as fh:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            self.doc = yaml.load(fh, Loader=loader)
        with open(os.path.join(directory, "xero-identity.yaml"), "rb") as fh:
            self.identity = yaml.load(fh, Loader=loader)
        self.webhooks_path = os.path.join(directory, "xero-webhooks.yaml")
        self.schemas = self.doc["components"]["schemas"]
        self._compiled: dict[str, object] = {}
        self.operations: list[Operation] = []
        for p, item in self.doc["paths"].items():
            for method, op in item.items():
                if method in ("get", "put", "post", "delete", "patch"):
                    self.operations.append(Operation(p, method, op, self))
        # literal paths before templated ones so /Contacts/{ContactNumber} and /Contacts/{ContactID}
        # resolve deterministically (we decide by uuid-ness in the router anyway)
        self.operations.sort(key=lambda o: o.path.count("{"))
        self.version = self.doc.get("info", {}).get("version")

    # -- refs -------------------------------------------------------------------------------
    def resolve(self, ref: str):
        node = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def find_operation(self, method: str, path: str):
        method = method.upper()
        matched_path = False
        for op in self.operations:
            m = op.regex.match(path)
            if m:
                matched_path = True
                if op.method == method:
                    return op, m.groups()
        return None, matched_path

    # -- compiled validators -----------------------------------------------------------------
    def validator_for(self, schema_or_name):
        """Return fn(value) -> list of error strings."""
        if isinstance(schema_or_name, str):
            fn = self._compile_ref("#/components/schemas/" + schema_or_name)
        else:
            fn = self._compile(schema_or_name)

        def validate(value):
            errors: list[str] = []
            fn(value, "", errors)
            return errors

        return validate

    def _compile_ref(self, ref):
        fn = self._compiled.get(ref)
        if fn is not None:
            return fn
        holder = {}

        def lazy(value, where, errors):
            holder["fn"](value, where, errors)

        self._compiled[ref] = lazy  # break recursion
        real = self._compile(self.resolve(ref), name=ref.rsplit("/", 1)[-1])
        holder["fn"] = real
        self._compiled[ref] = real
        return real

    def _compile(self, schema, name=None):
        if "$ref" in schema:
            ref_fn = self._compile_ref(schema["$ref"])
            return ref_fn
        checks = []
        stype = schema.get("type")
        if stype:
            tcheck = _TYPE_CHECKS[stype]

            def check_type(value, where, errors, tcheck=tcheck, stype=stype):
                if not tcheck(value):
                    errors.append(f"{where or 'body'}: expected {stype}, got {_type_name(value)}")
                    return False
                return True
        else:
            check_type = None
        enum = schema.get("enum")
        if enum is not None:
            enum_set = set(enum)

            def check_enum(value, where, errors):
                if value not in enum_set:
                    errors.append(f"{where or 'body'}: '{value}' is not one of {sorted(enum_set)}")
            checks.append(check_enum)
        max_len = schema.get("maxLength")
        if max_len is not None:
            def check_len(value, where, errors):
                if isinstance(value, str) and len(value) > max_len:
                    errors.append(f"{where or 'body'}: longer than {max_len} characters")
            checks.append(check_len)
        fmt = schema.get("format")
        if fmt in ("uuid", "date", "date-time") and stype == "string":
            rx = {"uuid": _UUID_RE, "date": _DATE_RE, "date-time": _DATETIME_RE}[fmt]

            def check_fmt(value, where, errors, rx=rx, fmt=fmt):
                if isinstance(value, str) and not rx.match(value):
                    errors.append(f"{where or 'body'}: '{value}' is not a valid {fmt}")
            checks.append(check_fmt)
        required = schema.get("required") or []
        props = schema.get("properties")
        prop_fns = None
        if props:
            prop_fns = {}
            for pname, psub in props.items():
                # a property that is both $ref and type (e.g. CurrencyCode) is validated by the ref
                prop_fns[pname] = self._compile(psub)
        items = schema.get("items")
        items_fn = self._compile(items) if items else None

        def validate(value, where, errors):
            if value is None:
                errors.append(f"{where or 'body'}: null is not allowed")
                return
            if check_type is not None and not check_type(value, where, errors):
                return
            for c in checks:
                c(value, where, errors)
            if isinstance(value, dict):
                for r in required:
                    if r not in value:
                        errors.append(f"{(where + '.') if where else ''}{r}: is required")
                if prop_fns:
                    for k, v in value.items():
                        f = prop_fns.get(k)
                        if f is not None:
                            f(v, f"{where}.{k}" if where else k, errors)
            elif isinstance(value, list) and items_fn is not None:
                for i, v in enumerate(value):
                    items_fn(v, f"{where}[{i}]", errors)

        return validate

    # -- parameters --------------------------------------------------------------------------
    @staticmethod
    def check_param(param, raw: str):
        """Validate a query/header/path parameter given as a string. Returns (value, error)."""
        schema = param.get("schema", {})
        if "$ref" in schema:
            schema = {}
        stype = schema.get("type", "string")
        name = param["name"]
        try:
            if stype == "integer":
                value = int(raw)
            elif stype == "number":
                value = float(raw)
            elif stype == "boolean":
                low = raw.lower()
                if low not in ("true", "false"):
                    raise ValueError
                value = low == "true"
            elif stype == "array":
                value = [x for x in raw.split(",")]
            else:
                value = raw
        except ValueError:
            return None, f"{name}: '{raw}' is not a valid {stype}"
        enum = schema.get("enum")
        if enum and value not in enum:
            return None, f"{name}: '{raw}' is not one of {enum}"
        fmt = schema.get("format")
        if fmt == "uuid" and stype == "string" and not _UUID_RE.match(raw):
            return None, f"{name}: '{raw}' is not a valid uuid"
        if fmt == "date-time" and stype == "string" and not _DATETIME_RE.match(raw):
            # If-Modified-Since: the SDK sends ISO 8601; RFC 1123 dates are accepted by Xero too
            from email.utils import parsedate_to_datetime
            try:
                parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                return None, f"{name}: '{raw}' is not a valid date-time"
        return value, None


def is_uuid(value) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.match(value))


# -- command line --------------------------------------------------------------------------------
def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m xero_emulator.spec",
                                     description=f"The Xero OpenAPI spec {SPEC_RELEASE} the emulator validates against.")
    parser.add_argument("command", choices=["fetch", "where"],
                        help="fetch: make sure a verified copy is available (download it if need be); "
                             "where: print the directory in use and where it comes from")
    args = parser.parse_args(argv)
    try:
        directory, source = locate(fetch=args.command == "fetch")
    except SpecUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.command == "where" or source == "download":
        label = {"env": "$XERO_OPENAPI_DIR", "cache": "the cache", "bundled": "the copy committed with the emulator",
                 "shared": "the shared copy",
                 "download": f"downloaded from {spec_url()}"}[source]
        print(f"xero_emulator: Xero OpenAPI spec {SPEC_RELEASE} at {directory} ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
