"""A small evaluator for Xero's ``where`` query filter (a subset of .NET LINQ/Dynamic LINQ syntax).

Supported: ``Field == "x"`` (``!=``, ``>``, ``>=``, ``<``, ``<=``), dotted fields
(``Contact.ContactID``), literals: "string", numbers, true/false/null, ``Guid("...")``,
``DateTime(2024,01,31[,h,m,s])``; string methods ``.Contains("x")``, ``.StartsWith("x")``,
``.EndsWith("x")``, ``.ToLower()``, ``.ToUpper()``; ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!``,
parentheses. Anything else raises WhereError (Xero answers such filters with a 400).
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from .wire import parse_date

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|>=|<=|&&|\|\||[()<>!,.=])'
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)


class WhereError(ValueError):
    pass


def _tokens(text):
    pos = 0
    out = []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WhereError(f"cannot parse where clause near '{text[pos:pos + 20]}'")
        pos = m.end()
        for kind in ("str", "num", "op", "name"):
            v = m.group(kind)
            if v is not None:
                if kind == "str":
                    # \" and \\ are the escapes; any other character (accents too) is itself
                    v = re.sub(r"\\(.)", r"\1", v[1:-1])
                out.append((kind, v))
                break
    return out


class _Parser:
    def __init__(self, text):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1].upper() != value.upper()):
            raise WhereError(f"expected {value or 'token'} in where clause")
        self.i += 1
        return tok

    def parse(self):
        expr = self.or_expr()
        if self.peek()[0] is not None:
            raise WhereError(f"unexpected '{self.peek()[1]}' in where clause")
        return expr

    def or_expr(self):
        left = self.and_expr()
        while self.peek()[1] and self.peek()[1].upper() in ("OR", "||"):
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.peek()[1] and self.peek()[1].upper() in ("AND", "&&"):
            self.take()
            right = self.not_expr()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def not_expr(self):
        if self.peek()[1] and self.peek()[1].upper() in ("NOT", "!"):
            self.take()
            inner = self.not_expr()
            return lambda r: not inner(r)
        return self.comparison()

    def comparison(self):
        if self.peek()[1] == "(":
            self.take("(")
            e = self.or_expr()
            self.take(")")
            return e
        left = self.operand()
        op = self.peek()[1]
        if op in ("==", "!=", ">", ">=", "<", "<=", "="):
            self.take()
            right = self.operand()
            return lambda r: _compare(op, left(r), right(r))
        return lambda r: bool(left(r))

    def operand(self):
        kind, val = self.peek()
        if kind == "str":
            self.take()
            return self.methods(lambda r, v=val: v)
        if kind == "num":
            self.take()
            d = Decimal(val)
            return lambda r: d
        if kind == "name":
            up = val.upper()
            if up in ("TRUE", "FALSE"):
                self.take()
                return lambda r, b=(up == "TRUE"): b
            if up == "NULL":
                self.take()
                return lambda r: None
            if up == "GUID" and self.peek(1)[1] == "(":
                self.take(); self.take("(")
                s = self.take()[1]
                self.take(")")
                return lambda r, s=s.lower(): s
            if up == "DATETIME" and self.peek(1)[1] == "(":
                self.take(); self.take("(")
                parts = [int(self.take()[1])]
                while self.peek()[1] == ",":
                    self.take(",")
                    parts.append(int(self.take()[1]))
                self.take(")")
                try:
                    value = dt.datetime(*parts, tzinfo=dt.timezone.utc) if len(parts) > 3 else dt.date(*parts)
                except (TypeError, ValueError) as exc:
                    raise WhereError(f"invalid DateTime in where clause: {exc}")
                return lambda r: value
            path = [self.take()[1]]
            while self.peek()[1] == "." and self.peek(1)[0] == "name" and self.peek(2)[1] != "(":
                self.take(".")
                path.append(self.take()[1])
            return self.methods(lambda r, p=path: _lookup(r, p))
        raise WhereError(f"unexpected '{val}' in where clause")

    def methods(self, getter):
        while self.peek()[1] == "." and self.peek(1)[0] == "name" and self.peek(2)[1] == "(":
            self.take(".")
            name = self.take()[1].lower()
            self.take("(")
            arg = None
            if self.peek()[1] != ")":
                arg = self.take()[1]
            self.take(")")
            if name == "tolower":
                getter = (lambda g: lambda r: (g(r) or "").lower() if isinstance(g(r), str) else g(r))(getter)
            elif name == "toupper":
                getter = (lambda g: lambda r: (g(r) or "").upper() if isinstance(g(r), str) else g(r))(getter)
            elif name in ("contains", "startswith", "endswith"):
                fn = {"contains": lambda s, a: a in s, "startswith": str.startswith, "endswith": str.endswith}[name]
                getter = (lambda g, a, f: lambda r: isinstance(g(r), str) and f(g(r), a))(getter, arg, fn)
            else:
                raise WhereError(f"unsupported method {name} in where clause")
        return getter


def _lookup(record, path):
    cur = record
    for p in path:
        if isinstance(cur, dict):
            # Xero field names are case-insensitive in where clauses
            if p in cur:
                cur = cur[p]
            else:
                low = p.lower()
                cur = next((v for k, v in cur.items() if k.lower() == low), None)
        else:
            return None
    return cur


def _coerce(a, b):
    if isinstance(b, (dt.date, dt.datetime)) and isinstance(a, str):
        d = parse_date(a)
        if d is not None:
            if isinstance(b, dt.datetime):
                a = dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc)
            else:
                a = d
    if isinstance(b, Decimal) and isinstance(a, (int, float)) and not isinstance(a, bool):
        a = Decimal(repr(a))
    if isinstance(a, str) and isinstance(b, str):
        # GUIDs compare case-insensitively
        if len(a) == 36 and len(b) == 36 and a.count("-") == 4:
            return a.lower(), b.lower()
    return a, b


def _compare(op, a, b):
    a, b = _coerce(a, b)
    b, a = _coerce(b, a)
    if op in ("==", "="):
        return a == b
    if op == "!=":
        return a != b
    try:
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
    except TypeError:
        return False
    return False


def compile_where(text: str):
    return _Parser(text).parse()
