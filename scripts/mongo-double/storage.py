"""In-memory databases of the PlantSync MongoDB TEST DOUBLE (not a MongoDB server).

Query matching, update operators and the aggregation framework are mongomock's (PyPI); this module
adds what mongomock lacks for a server: single-field indexes used to narrow the candidates of a query
(so a 100k-document collection stays fast), unique-index enforcement reported as E11000, and
cursors. Only what PlantSync's tests need is claimed to behave like MongoDB; see docs/mongodb.md.
"""

import bisect
import copy
import itertools

import mongomock
from mongomock import aggregate as mm_aggregate
from mongomock import filtering

import expressions

# Real servers' expressions that mongomock lacks ($toHashedIndexKey, $binarySize, …): expressions.py.
expressions.install()


class CommandError(Exception):
    def __init__(self, code, code_name, message):
        super().__init__(message)
        self.code = code
        self.code_name = code_name
        self.message = message


class DuplicateKey(CommandError):
    def __init__(self, ns, index_name, value):
        super().__init__(
            11000, "DuplicateKey",
            "E11000 duplicate key error collection: %s index: %s dup key: { %s }" % (ns, index_name, value))


def _hashable(value):
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return value
    try:
        hash(value)
        return value
    except TypeError:
        return ("repr", repr(value))


def _get_path(doc, path):
    current = doc
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return None
    return current


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Index:
    """A single-field index: value -> set of document keys, plus a lazily sorted list of numeric values."""

    def __init__(self, spec):
        self.spec = spec
        self.name = spec["name"]
        self.field = next(iter(spec["key"]))
        self.unique = bool(spec.get("unique"))
        self.entries = {}
        self._sorted = None

    def key_of(self, doc):
        return _hashable(_get_path(doc, self.field))

    def add(self, key, doc):
        value = self.key_of(doc)
        self.entries.setdefault(value, set()).add(key)
        self._sorted = None

    def remove(self, key, doc):
        value = self.key_of(doc)
        keys = self.entries.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.entries[value]
        self._sorted = None

    def sorted_numbers(self):
        if self._sorted is None:
            self._sorted = sorted(v for v in self.entries if _is_number(v))
        return self._sorted


class Collection:
    def __init__(self, db_name, name):
        self.ns = "%s.%s" % (db_name, name)
        self.name = name
        self.docs = {}  # _id (hashable) -> document, in insertion order
        self.indexes = {"_id_": Index({"v": 2, "key": {"_id": 1}, "name": "_id_"})}

    # --- indexes -------------------------------------------------------------------------------
    def create_index(self, spec):
        name = spec["name"]
        if name in self.indexes:
            return False
        if len(spec["key"]) != 1:
            raise CommandError(67, "CannotCreateIndex", "the test double supports single-field indexes only")
        index = Index(dict(spec, v=2))
        for key, doc in self.docs.items():
            if index.unique and index.entries.get(index.key_of(doc)):
                raise DuplicateKey(self.ns, name, "%s: %r" % (index.field, _get_path(doc, index.field)))
            index.add(key, doc)
        self.indexes[name] = index
        return True

    def index_specs(self):
        return [dict(ix.spec, v=2) for ix in self.indexes.values()]

    # --- candidate selection -------------------------------------------------------------------
    def _index_for(self, field):
        for index in self.indexes.values():
            if index.field == field:
                return index
        return None

    def candidates(self, query):
        """(document keys that may match `query`, field they are sorted by ascending or None)."""
        for field, condition in (query or {}).items():
            if field.startswith("$"):
                continue
            index = self._index_for(field)
            if index is None:
                continue
            if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
                if set(condition) <= {"$gte", "$gt", "$lt", "$lte"} and all(_is_number(v) for v in condition.values()):
                    numbers = index.sorted_numbers()
                    lo = 0
                    hi = len(numbers)
                    if "$gte" in condition:
                        lo = max(lo, bisect.bisect_left(numbers, condition["$gte"]))
                    if "$gt" in condition:
                        lo = max(lo, bisect.bisect_right(numbers, condition["$gt"]))
                    if "$lt" in condition:
                        hi = min(hi, bisect.bisect_left(numbers, condition["$lt"]))
                    if "$lte" in condition:
                        hi = min(hi, bisect.bisect_right(numbers, condition["$lte"]))
                    entries = index.entries
                    keys = (k for i in range(lo, hi) for k in sorted(entries.get(numbers[i], ()), key=repr))
                    return keys, field
                if set(condition) == {"$in"} and isinstance(condition["$in"], list):
                    values = sorted({_hashable(v) for v in condition["$in"]},
                                    key=lambda v: (0, v, "") if _is_number(v) else (1, 0, repr(v)))
                    keys = [k for v in values for k in index.entries.get(v, ())]
                    ordered = field if all(_is_number(v) for v in values) else None
                    return keys, ordered
                continue
            if isinstance(condition, (dict, list)) or condition is None:
                continue
            return list(index.entries.get(_hashable(condition), ())), field
        return list(self.docs.keys()), None

    def matching(self, query, with_order=False):
        keys, ordered_by = self.candidates(query)

        def generate():
            for key in keys:
                doc = self.docs.get(key)
                if doc is not None and filtering.filter_applies(query or {}, doc):
                    yield key, doc

        return (generate(), ordered_by) if with_order else generate()

    # --- writes --------------------------------------------------------------------------------
    def _check_unique(self, key, doc):
        for index in self.indexes.values():
            if not index.unique and index.name != "_id_":
                continue
            others = index.entries.get(index.key_of(doc), set()) - {key}
            if others:
                raise DuplicateKey(self.ns, index.name, "%s: %r" % (index.field, _get_path(doc, index.field)))

    def put(self, key, doc):
        old = self.docs.get(key)
        self._check_unique(key, doc)
        if old is not None:
            for index in self.indexes.values():
                index.remove(key, old)
        self.docs[key] = doc
        for index in self.indexes.values():
            index.add(key, doc)

    def remove(self, key):
        old = self.docs.pop(key)
        for index in self.indexes.values():
            index.remove(key, old)


class Server:
    """All databases of the double. mongomock supplies matching, updates and aggregation."""

    def __init__(self):
        self.databases = {}
        # A scratch mongomock collection applies update documents with mongomock's own semantics.
        self._scratch = mongomock.MongoClient().scratch.scratch
        self._scratch_db = self._scratch.database

    def collection(self, db, name, create=True):
        colls = self.databases.setdefault(db, {}) if create else self.databases.get(db, {})
        if name not in colls:
            if not create:
                return None
            colls[name] = Collection(db, name)
        return colls[name]

    def drop_database(self, db):
        self.databases.pop(db, None)

    def drop_collection(self, db, name):
        return self.databases.get(db, {}).pop(name, None) is not None

    # --- operations ----------------------------------------------------------------------------
    def insert(self, coll, doc):
        if "_id" not in doc:
            doc = dict(_id=mongomock.ObjectId(), **doc)
        key = _hashable(doc["_id"])
        if key in coll.docs:
            raise DuplicateKey(coll.ns, "_id_", "_id: %r" % (doc["_id"],))
        coll.put(key, copy.deepcopy(doc))
        return doc["_id"]

    def _apply(self, doc, query, update, upsert):
        """Applies `update` to `doc` (None: build the upserted document) with mongomock."""
        if isinstance(update, list):
            return self._apply_pipeline(doc, query, update)
        self._scratch.delete_many({})
        is_replacement = not any(k.startswith("$") for k in update)
        if doc is not None:
            self._scratch.insert_one(copy.deepcopy(doc))
            selector = {"_id": doc["_id"]}
        else:
            selector = query
        if is_replacement:
            result = self._scratch.replace_one(selector, update, upsert=upsert)
        else:
            result = self._scratch.update_one(selector, update, upsert=upsert)
        target = doc["_id"] if doc is not None else result.upserted_id
        return self._scratch.find_one({"_id": target})

    def _apply_pipeline(self, doc, query, pipeline):
        """An update with an aggregation pipeline, as MongoDB 4.2+ runs it: the stages (mongomock's)
        transform the stored document, or for an upsert a document seeded from the query's equality
        conditions; `_id` may not change. Run directly on the document, without mongomock's collection
        (which copies and re-walks every document several times: 40x slower for PlantSync's writes)."""
        if doc is not None:
            base = copy.deepcopy(doc)
        else:
            base = {"_id": query["_id"] if "_id" in query and not isinstance(query["_id"], dict) else mongomock.ObjectId()}
            for key, value in query.items():
                if key.startswith("$") or "." in key or key == "_id":
                    continue
                if isinstance(value, dict) and any(k.startswith("$") for k in value):
                    continue
                base[key] = copy.deepcopy(value)
        [new] = mm_aggregate.process_pipeline([base], self._scratch_db, pipeline, None)
        if "_id" not in new:
            new = dict(_id=base["_id"], **new)
        elif new["_id"] != base["_id"]:
            raise CommandError(66, "ImmutableField", "the (immutable) field '_id' was found to have been altered")
        return new

    @staticmethod
    def _is_replacement(update):
        return isinstance(update, dict) and not any(k.startswith("$") for k in update)

    def _replace(self, doc, query, replacement):
        """A replacement as MongoDB does it: keeps `_id`; an upsert takes `_id` from the query's equality."""
        if doc is not None:
            _id = doc["_id"]
        elif "_id" in replacement:
            _id = replacement["_id"]
        elif "_id" in query and not isinstance(query["_id"], dict):
            _id = query["_id"]
        else:
            _id = mongomock.ObjectId()
        if "_id" in replacement and doc is not None and replacement["_id"] != _id:
            raise CommandError(66, "ImmutableField", "the (immutable) field '_id' was found to have been altered")
        new = {"_id": _id}
        new.update((k, v) for k, v in replacement.items() if k != "_id")
        return new

    def update(self, coll, query, update, upsert, multi):
        """Returns (matched, modified, upserted_id or None)."""
        replacement = self._is_replacement(update)
        if replacement and multi:
            raise CommandError(9, "FailedToParse", "multi update is not supported for replacement-style update")
        matches = list(coll.matching(query))
        if not multi:
            matches = matches[:1]
        if matches:
            modified = 0
            for key, doc in matches:
                new = self._replace(doc, query, update) if replacement else self._apply(doc, query, update, False)
                if new != doc:
                    coll.put(key, new)
                    modified += 1
            return len(matches), modified, None
        if not upsert:
            return 0, 0, None
        new = self._replace(None, query, update) if replacement else self._apply(None, query, update, True)
        coll.put(_hashable(new["_id"]), new)
        return 0, 0, new["_id"]

    def delete(self, coll, query, limit):
        keys = [key for key, _ in coll.matching(query)]
        if limit:
            keys = keys[:limit]
        for key in keys:
            coll.remove(key)
        return len(keys)

    def find(self, coll, query, projection=None, sort=None, skip=0, limit=0):
        matches, ordered_by = coll.matching(query or {}, with_order=True)
        docs = (doc for _, doc in matches)
        if sort and not (len(sort) == 1 and sort.get(ordered_by) == 1):
            docs = list(docs)
            for field, direction in reversed(list(sort.items())):
                docs.sort(key=lambda d, f=field: filtering.resolve_sort_key(f, d), reverse=direction == -1)
        stop = skip + abs(limit) if limit else None
        docs = list(itertools.islice(docs, skip, stop))
        if projection:
            simple = project_simple(docs, projection)
            if simple is not None:
                return simple
            self._scratch.delete_many({})
            if docs:
                self._scratch.insert_many([copy.deepcopy(d) for d in docs])
            order = {_hashable(d["_id"]): i for i, d in enumerate(docs)}
            projected = list(self._scratch.find({}, projection))
            if all("_id" in p for p in projected):
                projected.sort(key=lambda p: order[_hashable(p["_id"])])
            return projected
        # Stored documents are never mutated in place (writes store new dicts), so they can be shared.
        return docs

    def aggregate(self, coll, pipeline):
        first = pipeline[0] if pipeline else {}
        if "$match" in first:
            source = [copy.deepcopy(doc) for _, doc in coll.matching(first["$match"])]
            rest = pipeline[1:]
        else:
            source = [copy.deepcopy(doc) for doc in coll.docs.values()]
            rest = pipeline
        return list(mm_aggregate.process_pipeline(source, self._scratch_db, rest, None))


def project_simple(docs, projection):
    """Inclusion or exclusion projections of plain (dotted) field paths; None for anything else."""
    values = {k: v for k, v in projection.items()}
    if not all(isinstance(v, (bool, int)) and not isinstance(v, dict) for v in values.values()):
        return None
    include_id = bool(values.pop("_id", 1))
    if not values:
        return [_exclude(d, ["_id"]) if not include_id else d for d in docs]
    flags = {bool(v) for v in values.values()}
    if len(flags) != 1:
        return None
    paths = [k.split(".") for k in values]
    if flags == {True}:
        out = []
        for d in docs:
            new = {"_id": d["_id"]} if include_id and "_id" in d else {}
            for path in paths:
                _copy_path(d, new, path)
            out.append(new)
        return out
    excluded = list(values) + ([] if include_id else ["_id"])
    return [_exclude(d, excluded) for d in docs]


def _copy_path(source, target, path):
    head = path[0]
    if not isinstance(source, dict) or head not in source:
        return
    if len(path) == 1:
        target[head] = source[head]
    elif isinstance(source[head], dict):
        sub = target.setdefault(head, {})
        _copy_path(source[head], sub, path[1:])


def _exclude(doc, paths):
    new = dict(doc)
    for path in paths:
        parts = path.split(".")
        container = new
        for i, part in enumerate(parts):
            if not isinstance(container, dict) or part not in container:
                break
            if i == len(parts) - 1:
                del container[part]
            else:
                container[part] = dict(container[part]) if isinstance(container[part], dict) else container[part]
                container = container[part]
    return new
