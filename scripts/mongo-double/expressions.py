"""Aggregation expressions the PlantSync MongoDB TEST DOUBLE adds to mongomock (it is NOT MongoDB).

Real servers have them and mongomock 4.3 lacks them, or gets them wrong for PlantSync's pipelines:

- `$toHashedIndexKey` (MongoDB 7.0+): here a deterministic 64-bit hash (the first 8 bytes of MD5,
  little-endian, signed) of a canonical encoding of the value. It is NOT the server's hash: only its
  properties are emulated, the ones PlantSync relies on and a real server must confirm (docs/mongodb.md,
  "Digest domains"): equal values hash equally; numbers of equal value hash equally whatever their BSON
  type (int32, int64, double) and doubles are truncated to integers first, as a hashed index does; a
  document hashes its field names, their order and its values; null and a string, a date and an
  integer, binary data and a string differ.
- `$binarySize`: the byte length of binary data or a string; null for null or a missing field.
- `$toString`: null for null (mongomock says "None"); a double in its shortest round-trip form, whole
  doubles without a fraction ("52.52", "1").
- `$mod`: integers stay integers and take the dividend's sign (mongomock returns a float, which loses
  the low bits of a 64-bit hash).
- an array of expressions is evaluated element by element (mongomock returns it unevaluated).
"""

import datetime
import hashlib
import math
import struct

import bson
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.objectid import ObjectId
from mongomock import aggregate as mm_aggregate
from mongomock import OperationFailure

EPOCH = datetime.datetime(1970, 1, 1)
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def _number_key(value):
    """A number as the 64-bit integer a hashed index uses: doubles truncated toward zero, clamped."""
    if isinstance(value, Decimal128):
        value = float(value.to_decimal())
    if isinstance(value, float):
        if math.isnan(value):
            return 0
        if math.isinf(value):
            return INT64_MAX if value > 0 else INT64_MIN
        value = math.trunc(value)
    return max(INT64_MIN, min(INT64_MAX, int(value)))


def _canonical(value, out):
    if value is None:
        out += b"\x0a"
    elif isinstance(value, bool):
        out += b"\x08" + (b"\x01" if value else b"\x00")
    elif isinstance(value, (int, float, Decimal128)):
        out += b"\x12" + struct.pack("<q", _number_key(value))
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out += b"\x02" + struct.pack("<i", len(data)) + data
    elif isinstance(value, Binary):
        out += b"\x05" + struct.pack("<iB", len(value), value.subtype) + bytes(value)
    elif isinstance(value, bytes):
        out += b"\x05" + struct.pack("<iB", len(value), 0) + value
    elif isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        out += b"\x09" + struct.pack("<q", (value - EPOCH) // datetime.timedelta(milliseconds=1))
    elif isinstance(value, ObjectId):
        out += b"\x07" + value.binary
    elif isinstance(value, dict):
        out += b"\x03"
        for key, item in value.items():
            out += key.encode("utf-8") + b"\x00"
            _canonical(item, out)
        out += b"\x00"
    elif isinstance(value, (list, tuple)):
        out += b"\x04"
        for item in value:
            _canonical(item, out)
        out += b"\x00"
    else:
        out += b"\xff" + repr(value).encode("utf-8")


def hashed_index_key(value):
    """The double's `$toHashedIndexKey`: NOT MongoDB's hash (see the module docstring)."""
    out = bytearray(b"plantsync-test-double-hash-v1\x00")
    _canonical(value, out)
    return bson.int64.Int64(int.from_bytes(hashlib.md5(bytes(out)).digest()[:8], "little", signed=True))


def _to_string(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == math.trunc(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    return str(value)


def _binary_size(value):
    if value is None:
        return None
    if isinstance(value, (bytes, Binary)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    raise OperationFailure("$binarySize requires a string or BinData argument, found: %s" % type(value).__name__)


def _mod(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and not isinstance(b, bool):
        if b == 0:
            raise OperationFailure("can't $mod by zero")
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(a, b)


def install():
    """Patches mongomock's expression parser (idempotent)."""
    parser = mm_aggregate._Parser
    if getattr(parser, "_plantsync_patched", False):
        return
    original = parser.parse

    def value_or_null(self, expression):
        try:
            return self.parse(expression)
        except KeyError:
            return None

    def parse(self, expression):
        if isinstance(expression, list):
            return [value_or_null(self, e) for e in expression]
        if isinstance(expression, dict) and len(expression) == 1:
            (operator, argument), = expression.items()
            if operator == "$toHashedIndexKey":
                return hashed_index_key(value_or_null(self, argument))
            if operator == "$binarySize":
                return _binary_size(value_or_null(self, argument))
            if operator == "$toString":
                return _to_string(value_or_null(self, argument))
            if operator == "$mod":
                if not isinstance(argument, list) or len(argument) != 2:
                    raise OperationFailure("$mod must have exactly 2 parameters")
                return _mod(value_or_null(self, argument[0]), value_or_null(self, argument[1]))
        return original(self, expression)

    parser.parse = parse
    parser._plantsync_patched = True
