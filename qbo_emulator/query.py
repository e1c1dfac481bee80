"""Intuit's query language, the subset the emulator understands.

    SELECT * | COUNT(*) | Field, Field FROM Entity
      [WHERE cond [AND cond ...]] [ORDERBY Field [ASC|DESC][, ...]]
      [STARTPOSITION n] [MAXRESULTS n]

cond: ``Field op value`` with op one of = < > <= >= != LIKE IN; values are 'quoted strings' (''
for a quote), numbers, true/false, or a (list, of, values) for IN. Field is a top-level property or a
dotted path (MetaData.LastUpdatedTime); a reference (CustomerRef) compares its ``value``. Intuit's
language has no OR and no parentheses other than IN's list: both are refused, as Intuit refuses them.
MAXRESULTS is at most 1000 (Intuit's maximum). Keywords are case-insensitive, values are compared
case-insensitively for strings (as Intuit does for names).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .wire import QBOError, parse_datetime

MAX_RESULTS = 1000
_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)
                      |(?P<punct>[(),*])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))""", re.X)


class QueryError(QBOError):
    def __init__(self, detail):
        super().__init__(4000, "Error parsing query", f"QueryParserError: {detail}", "")


def _tokens(text):
    pos = 0
    out = []
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise QueryError(f"Encountered \"{text[pos:pos + 10]}\" at column {pos + 1}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        out.append((kind, value))
    return out


class Query:
    def __init__(self, entity, fields, count, conditions, order, start, max_results):
        self.entity = entity
        self.fields = fields
        self.count = count
        self.conditions = conditions  # [(path, op, value)]
        self.order = order  # [(path, desc)]
        self.start = start
        self.max_results = max_results

    def mentions(self, field):
        return any(p.lower() == field.lower() for p, _op, _v in self.conditions)


def parse(text, entities):
    toks = _tokens(text or "")
    i = 0

    def peek(n=0):
        return toks[i + n] if i + n < len(toks) else (None, None)

    def word(expected=None):
        nonlocal i
        kind, value = peek()
        if kind != "word" or (expected and value.lower() != expected):
            raise QueryError(f"expected {expected or 'a name'} but found {value!r}")
        i += 1
        return value

    word("select")
    fields, count = [], False
    kind, value = peek()
    if kind == "punct" and value == "*":
        i += 1
    elif kind == "word" and value.lower() == "count":
        i += 1
        for expected in ("(", "*", ")"):
            if peek()[1] != expected:
                raise QueryError("COUNT takes (*)")
            i += 1
        count = True
    else:
        while True:
            fields.append(word())
            if peek()[1] == ",":
                i += 1
                continue
            break
    word("from")
    name = word()
    entity = next((e for e in entities if e.lower() == name.lower()), None)
    if entity is None:
        raise QueryError(f"Invalid context declaration : {name}")
    conditions = []
    order = []
    start, max_results = 1, 100
    while i < len(toks):
        kw = word().lower()
        if kw == "where":
            while True:
                path = word()
                kind, op = peek()
                if kind == "word" and op.lower() in ("in", "like"):
                    op = op.lower()
                elif kind != "op":
                    raise QueryError(f"expected an operator after {path}")
                i += 1
                if op == "in":
                    if peek()[1] != "(":
                        raise QueryError("IN takes a (list)")
                    i += 1
                    values = []
                    while True:
                        values.append(_value(peek()))
                        i += 1
                        sep = peek()[1]
                        i += 1
                        if sep == ")":
                            break
                        if sep != ",":
                            raise QueryError("bad IN list")
                    conditions.append((path, "in", values))
                else:
                    conditions.append((path, "!=" if op == "<>" else op, _value(peek())))
                    i += 1
                nxt = peek()
                if nxt[0] == "word" and nxt[1].lower() == "and":
                    i += 1
                    continue
                if nxt[0] == "word" and nxt[1].lower() == "or":
                    raise QueryError("OR is not supported in a query")
                break
        elif kw == "orderby" or (kw == "order" and peek()[1] and peek()[1].lower() == "by" and word()):
            while True:
                path = word()
                desc = False
                if peek()[0] == "word" and peek()[1].lower() in ("asc", "desc"):
                    desc = peek()[1].lower() == "desc"
                    i += 1
                order.append((path, desc))
                if peek()[1] == ",":
                    i += 1
                    continue
                break
        elif kw == "startposition":
            start = int(_value(peek()))
            i += 1
        elif kw == "maxresults":
            max_results = int(_value(peek()))
            i += 1
        else:
            raise QueryError(f"Encountered \"{kw}\"")
    if start < 1:
        raise QueryError("STARTPOSITION must be 1 or more")
    if not 1 <= max_results <= MAX_RESULTS:
        raise QueryError(f"MAXRESULTS must be between 1 and {MAX_RESULTS}")
    return Query(entity, fields, count, conditions, order, start, max_results)


def _value(tok):
    kind, value = tok
    if kind == "str":
        return value
    if kind == "num":
        return Decimal(value)
    if kind == "word" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise QueryError(f"expected a value but found {value!r}")


def get_path(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        key = next((k for k in cur if k.lower() == part.lower()), None)
        if key is None:
            return None
        cur = cur[key]
    if isinstance(cur, dict) and "value" in cur:
        return cur["value"]
    if isinstance(cur, dict) and "Address" in cur:  # PrimaryEmailAddr
        return cur["Address"]
    return cur


def _comparable(a, b):
    if isinstance(b, bool):
        return (a if isinstance(a, bool) else str(a).lower() == "true"), b
    if isinstance(b, Decimal):
        try:
            return Decimal(str(a)), b
        except (InvalidOperation, ValueError):
            return None, b
    a = "" if a is None else str(a)
    ta, tb = parse_datetime(a) if len(a) >= 10 and a[4:5] == "-" else None, \
        parse_datetime(b) if len(b) >= 10 and b[4:5] == "-" else None
    if ta is not None and tb is not None:
        return ta, tb
    return a.lower(), b.lower()


def matches(obj, conditions):
    for path, op, value in conditions:
        actual = get_path(obj, path)
        if op == "in":
            if not any(_cmp(actual, "=", v) for v in value):
                return False
        elif not _cmp(actual, op, value):
            return False
    return True


def _cmp(actual, op, value):
    if op == "like":
        pattern = "^" + ".*".join(re.escape(p) for p in str(value).lower().split("%")) + "$"
        return re.match(pattern, str(actual or "").lower(), re.S) is not None
    a, b = _comparable(actual, value)
    if a is None:
        return False
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    try:
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    except TypeError:
        return False


def sort_key(path):
    def key(obj):
        v = get_path(obj, path)
        if isinstance(v, str) and len(v) >= 10 and v[4:5] == "-":
            t = parse_datetime(v)
            if t is not None:
                return (0, t)
        try:
            return (0, Decimal(str(v))) if not isinstance(v, (str, bool)) and v is not None else (1, str(v or "").lower())
        except InvalidOperation:
            return (1, str(v).lower())
    return key
