#!/usr/bin/env python3
"""Generate HIE's HL7 v2 schema data (plugin-api/hl7-schema/data/<version>.json).

Sources (both MIT licensed, installed from their ordinary registries):

  * hl7apy 1.3.5 (PyPI)          -- message structures and segment groups with
                                    HL7 group names, segment field lists with
                                    data types, cardinality and table numbers,
                                    data type components, per-version table
                                    code lists (2.3.1+).  Covers 2.1 .. 2.8.2
                                    (no 2.7.1).  Names are UPPER_CASE only.
  * hl7-dictionary 1.0.1 (npm)   -- descriptions in their original case,
                                    optionality (R/O/C/W), repetition counts,
                                    maximum lengths, table numbers, per-event
                                    message definitions, and table values
                                    (one version-independent table set).
                                    Covers 2.1 .. 2.7.1 (2.7.1 == 2.7,
                                    2.5.1 segments differ from 2.5 slightly).

Usage (see gen/README.md):

    python3 -m venv /tmp/hl7gen/venv
    /tmp/hl7gen/venv/bin/pip install hl7apy==1.3.5
    npm install --prefix /tmp/hl7gen/npm hl7-dictionary@1.0.1
    /tmp/hl7gen/venv/bin/python plugin-api/hl7-schema/gen/generate.py \
        --hl7-dictionary /tmp/hl7gen/npm/node_modules/hl7-dictionary

The output is deterministic for a given pair of package versions.
"""

import argparse
import collections
import difflib
import importlib
import json
import os
import re
import subprocess
import sys

HL7APY_VERSION = "1.3.5"
HL7DICT_VERSION = "1.0.1"

# (output version, hl7apy module, hl7-dictionary version or None)
VERSIONS = [
    ("2.1", "v2_1", "2.1"),
    ("2.2", "v2_2", "2.2"),
    ("2.3", "v2_3", "2.3"),
    ("2.3.1", "v2_3_1", "2.3.1"),
    ("2.4", "v2_4", "2.4"),
    ("2.5", "v2_5", "2.5"),
    ("2.5.1", "v2_5_1", "2.5.1"),
    ("2.6", "v2_6", "2.6"),
    ("2.7", "v2_7", "2.7"),
    # hl7apy has no 2.7.1; hl7-dictionary's 2.7.1 is byte-identical to its 2.7.
    ("2.7.1", "v2_7", "2.7.1"),
    ("2.8", "v2_8", None),
    ("2.8.1", "v2_8_1", None),
    ("2.8.2", "v2_8_2", None),
]
DICT_VERSIONS = ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1"]
ORDER = [v for v, _, _ in VERSIONS]

# Versions whose data type component descriptions are written in lower case in
# the HL7 standard (and therefore in IRIS: 2.3 CX.5 "identifiertypecode",
# 2.3.1 HD.1 "namespaceID", XPN.1 "familylastname").  hl7-dictionary title-cases
# them ("Namespace ID", "Family+last Name"), so we lower-case them again.
LOWERCASE_COMPONENT_VERSIONS = {"2.1", "2.2", "2.3", "2.3.1", "2.4"}

# hl7-dictionary's 2.3.1 and 2.4 descriptions were capitalised word by word
# ("Date/Time Of Birth", XPN.1 "Family+last Name" shows the naive split on
# spaces); HL7's own style (2.3, 2.5, IRIS's 2.3 "SourceofComment") keeps
# these connecting words in lower case, so field descriptions of these two
# versions get them back in lower case (never the first word).
RECASE_SMALL_WORDS_VERSIONS = {"2.3.1", "2.4"}
SMALL_WORDS = {"of", "and", "or", "the", "for", "to", "in", "on", "at", "by", "with",
               "from", "per", "a", "an", "as", "if", "is", "into", "than", "vs"}


def lower_small_words(desc):
    first = [True]

    def f(m):
        w = m.group(0)
        if first[0]:
            first[0] = False
            return w
        return w.lower() if w.lower() in SMALL_WORDS and w[0].isupper() and w[1:].islower() else w
    return WORD.sub(f, desc)


# hl7-dictionary's numeric optionality codes.
OPT_CODES = {1: "O", 2: "R", 3: "C", 4: "W"}

# Descriptions of primitive types hl7-dictionary does not describe.
PRIMITIVE_DESC = {
    "CM": "Composite", "DT": "Date", "DTM": "Date/Time", "FT": "Formatted Text Data",
    "GTS": "General Timing Specification", "ID": "Coded values for HL7 tables",
    "IS": "Coded value for user-defined tables", "NM": "Numeric", "SI": "Sequence ID",
    "ST": "String Data", "TM": "Time", "TN": "Telephone Number", "TX": "Text Data",
    "varies": "Variable Datatype", "WD": "Withdrawn Field", "SNM": "String of Telephone Number Digits",
    "TX_CHALLENGE": "Text Data (challenge)",
}

# Name of the k-th (k >= 2) sibling that would get a name already used in the
# same parent: ROL, ROLi2; PD1, PD1i2; TQ1grp, TQ1grpi2.  IRIS's own spelling
# is not verified (see docs/hl7-schemas.md, "Duplicate sibling names"); the
# loader is asked to accept "ROL2" as an alias of "ROLi2".
def dup_name(base, k):
    return "%si%d" % (base, k)


def log(*a):
    print(*a, file=sys.stderr)


# ---------------------------------------------------------------- loading

def load_hl7dict(path):
    pkg = json.load(open(os.path.join(path, "package.json")))
    if pkg.get("version") != HL7DICT_VERSION:
        raise SystemExit("hl7-dictionary %s found, %s expected" % (pkg.get("version"), HL7DICT_VERSION))
    js = "process.stdout.write(JSON.stringify(require(process.argv[1])))"
    out = subprocess.run(["node", "-e", js, os.path.abspath(path)], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def check_hl7apy():
    from importlib import metadata
    v = metadata.version("hl7apy")
    if v != HL7APY_VERSION:
        raise SystemExit("hl7apy %s found, %s expected" % (v, HL7APY_VERSION))


def children_of(ref):
    """hl7apy stores a structure as ('sequence'|'choice', children); a few
    entries (2.1 ORO) are the bare children tuple."""
    if not ref:
        return "sequence", ()
    if isinstance(ref[0], str):
        return ref[0], (ref[1] if len(ref) > 1 else ())
    return "sequence", ref


# ---------------------------------------------------------------- names

def norm(s):
    return re.sub(r"[^A-Z0-9]", "", (s or "").upper())


def strip_name(desc):
    return re.sub(r"[^A-Za-z0-9]", "", desc or "")


WORD = re.compile(r"[A-Za-z0-9]+")


class Casing:
    """Most frequent spelling of each word in the title-cased descriptions."""

    def __init__(self, hd):
        cnt = collections.defaultdict(collections.Counter)
        for v in ("2.5", "2.5.1", "2.6", "2.7", "2.2", "2.3", "2.3.1", "2.4"):
            x = hd["definitions"][v]
            texts = [s.get("desc", "") for s in x["segments"].values()]
            texts += [f.get("desc", "") for s in x["segments"].values() for f in s["fields"]]
            texts += [c.get("desc", "") for t in x["fields"].values() for c in t.get("subfields", [])]
            weight = 3 if v in ("2.5", "2.5.1", "2.6", "2.7") else 1
            for t in texts:
                for w in WORD.findall(t or ""):
                    cnt[w.upper()][w] += weight
        self.best = {k: c.most_common(1)[0][0] for k, c in cnt.items()}

    def word(self, up, local):
        if up in local:
            return local[up]
        if up in self.best:
            return self.best[up]
        if len(up) <= 3 and not up.isdigit():
            return up
        return up.capitalize()


def reconstruct(long_name, local_desc, casing):
    """Description from hl7apy's UPPER_CASE long name, cased word by word."""
    local = {}
    for w in WORD.findall(local_desc or ""):
        local.setdefault(w.upper(), w)
    toks = [t for t in long_name.split("_") if t]
    return " ".join(casing.word(t, local) for t in toks)


def lower_words(desc):
    return WORD.sub(lambda m: m.group(0) if (m.group(0).isupper() and len(m.group(0)) >= 2)
                    else m.group(0).lower(), desc)


def titleish(desc):
    """True unless the description is in sentence case ("Date/time of
    message"): the words after the first, longer than three letters, are
    mostly capitalised."""
    words = [w for w in WORD.findall(desc or "")[1:] if len(w) > 3 and w.isalpha()]
    return not words or sum(w[0].isupper() for w in words) * 2 > len(words)


def recase(desc, casing):
    """Normalise white space; give a sentence-case description (2.1's
    "Date/time of message") the usual title case word by word."""
    desc = re.sub(r"\s+", " ", desc).strip()
    if titleish(desc):
        return desc
    return WORD.sub(lambda m: casing.best.get(m.group(0).upper(), m.group(0)), desc)


def choose_desc(long_name, candidates, casing, own, typ=None):
    """candidates: descriptions of the same item in this and nearby versions,
    best first; own: this version's hl7-dictionary description (or "").
    Returns (desc, how)."""
    if not long_name:
        return (candidates[0] if candidates else None), "dict"
    names = [long_name]
    toks = long_name.split("_")
    if typ and len(toks) > 1 and toks[-1] == typ.upper():
        # hl7apy appends the data type to some names (2.4 CX.2 CHECK_DIGIT_ST)
        names.append("_".join(toks[:-1]))
    for ln in names:
        n = norm(ln)
        for c in candidates:
            if c and norm(c) == n:
                return recase(c, casing), "exact"
    if own and difflib.SequenceMatcher(None, norm(long_name), norm(own)).ratio() >= 0.88:
        # spelling differences / typos in hl7apy (FAMILIY_NAME, EVENT_OCCURED)
        return recase(own, casing), "similar"
    return reconstruct(long_name, own if titleish(own) else "", casing), "rebuilt"


def version_neighbours(v, available):
    """Versions of `available` ordered by closeness to v (later first on ties);
    2.1's own descriptions are sentence case, so 2.2's come first for 2.1."""
    i = ORDER.index(v)
    vs = sorted((a for a in available if a != v),
                key=lambda a: (abs(ORDER.index(a) - i), -ORDER.index(a)))
    if v == "2.1":
        return ["2.2", "2.1"] + [a for a in vs if a != "2.2"]
    return ([v] if v in available else []) + vs


# ---------------------------------------------------------------- build

class Builder:
    def __init__(self, hd, casing):
        self.hd = hd
        self.casing = casing
        self.tables354 = self._parse_0354(hd["tables"].get("354", {}).get("values", {}))
        self.stats = collections.Counter()

    @staticmethod
    def _parse_0354(values):
        out = {}
        for struct, evs in values.items():
            code = struct.split("_")[0]
            if evs.strip().lower() == "varies":
                out["%s^*" % code] = struct
                continue
            for e in re.split(r"[,. ]+", evs):
                e = e.strip()
                if e:
                    out["%s^%s" % (code, e)] = struct
        return out

    # -- descriptions from hl7-dictionary ------------------------------------
    def dict_seg_field(self, dv, seg, i):
        if dv is None:
            return None
        s = self.hd["definitions"][dv]["segments"].get(seg)
        if not s or i >= len(s["fields"]):
            return None
        return s["fields"][i]

    def dict_comp(self, dv, typ, i):
        if dv is None:
            return None
        t = self.hd["definitions"][dv]["fields"].get(typ)
        if not t or i >= len(t.get("subfields", [])):
            return None
        return t["subfields"][i]

    def build(self, v, mod_name, dv):
        m = importlib.import_module("hl7apy." + mod_name)
        self.v, self.m, self.dv = v, m, dv
        self.near = version_neighbours(v, DICT_VERSIONS)
        self.used_types = set()
        self.used_tables = set()
        out = {"version": v}
        segments = self.build_segments()
        messages = self.build_messages(set(segments))
        types = self.build_types()
        out["events"] = self.build_events(messages)
        out["messages"] = messages
        out["segments"] = segments
        out["types"] = types
        out["tables"] = self.build_tables()
        return out

    # -- segments ------------------------------------------------------------
    def build_segments(self):
        m, dv = self.m, self.dv
        res = {}
        names = set(m.SEGMENTS)
        if dv:
            names |= set(self.hd["definitions"][dv]["segments"])
        for seg in sorted(names):
            if seg == "ANYHL7SEGMENT":
                continue
            _, fl = children_of(m.SEGMENTS.get(seg, ()))
            dseg = self.hd["definitions"][dv]["segments"].get(seg) if dv else None
            fields = []
            if fl:
                dcount = len(dseg["fields"]) if dseg else -1
                for i, fe in enumerate(fl):
                    # Look the field up by its own name: hl7apy's segments.py
                    # sometimes embeds the wrong field (2.8.x PID_4 -> PID_3,
                    # 2.7 DG1_7..14 -> DG1_4, 2.6 IN1_40/41 -> IN1_39).
                    fref, card = m.FIELDS.get(fe[0], fe[1]), fe[2]
                    fields.append(self.field(seg, i, fref, card, dcount == len(fl)))
            elif dseg:  # hl7apy lists no fields (withdrawn QRD/QRF/URD/URS in 2.7)
                self.stats["segments_from_dict_only"] += 1
                for i, f in enumerate(dseg["fields"]):
                    fields.append(self.dict_only_field(f))
            desc = None
            for nv in self.near:
                s = self.hd["definitions"][nv]["segments"].get(seg)
                if s and s.get("desc"):
                    desc = s["desc"]
                    break
            res[seg] = {"desc": desc, "fields": fields}
        return res

    def field(self, seg, i, fref, card, counts_match):
        long_name, typ, table = fref[3], fref[2], fref[4]
        own = self.dict_seg_field(self.dv, seg, i)
        own_ok = own is not None and (counts_match or norm(own["desc"]) == norm(long_name))
        cands = []
        for nv in self.near:
            f = self.dict_seg_field(nv, seg, i)
            if f:
                cands.append(f["desc"])
        desc, how = choose_desc(long_name, cands, self.casing, own["desc"] if own_ok else "", typ)
        self.stats["field_name_" + how] += 1
        if self.v in RECASE_SMALL_WORDS_VERSIONS:
            desc = lower_small_words(desc)
        typ = self.type_ref(typ)
        mn, mx = card
        opt = None
        if own_ok:
            opt = OPT_CODES.get(own.get("opt"))
        if mx == 0 or typ == "WD":
            opt = "W"
        if opt is None:
            opt = "R" if mn >= 1 else "O"
        # hl7apy's cardinality is the structural truth; hl7-dictionary only
        # refines an unbounded hl7apy count to a numeric HL7 limit.
        if mx == -1:
            drep = own.get("rep") if own_ok else None
            rep = drep if isinstance(drep, int) and drep > 1 else -1
        elif mx <= 1:
            rep = 1
        else:
            rep = mx
        ln = own.get("len") if own_ok else None
        tab = self.table_ref(table)
        if tab is None and own_ok and own.get("table"):
            tab = "%04d" % int(own["table"])
        if tab:
            self.used_tables.add(tab)
        return {"name": strip_name(desc), "desc": desc, "type": typ, "opt": opt,
                "rep": rep, "len": ln, "table": tab}

    def dict_only_field(self, f):
        typ = self.type_ref(f["datatype"])
        tab = "%04d" % int(f["table"]) if f.get("table") else None
        if tab:
            self.used_tables.add(tab)
        return {"name": strip_name(f["desc"]), "desc": f["desc"], "type": typ,
                "opt": OPT_CODES.get(f.get("opt"), "O"),
                "rep": -1 if f.get("rep") == 0 else f.get("rep", 1),
                "len": f.get("len"), "table": tab}

    def table_ref(self, t):
        if not t:
            return None
        mt = re.match(r"HL7(\d+)$", t)
        return mt.group(1).zfill(4) if mt else t

    def type_ref(self, t):
        if t is None:
            return "varies"
        if t == "VARIES":
            t = "varies"
        if t.endswith("_SIMPLE"):
            # hl7apy splits e.g. CQ into CQ and CQ_SIMPLE (flattened for use as
            # a component); HL7 and IRIS call both CQ.
            t = t[: -len("_SIMPLE")]
        self.used_types.add(t)
        return t

    # -- types ---------------------------------------------------------------
    def build_types(self):
        m = self.m
        res = {}
        todo = sorted(self.used_types)
        seen = set()
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            struct = m.DATATYPES_STRUCTS.get(t)
            desc = None
            for nv in self.near:
                dt = self.hd["definitions"][nv]["fields"].get("VARIES" if t == "varies" else t)
                if dt and dt.get("desc"):
                    desc = dt["desc"]
                    break
            if not struct:
                res[t] = {"desc": desc or PRIMITIVE_DESC.get(t), "components": []}
                continue
            comps = []
            dtype = self.hd["definitions"][self.dv]["fields"].get(t) if self.dv else None
            dcount = len(dtype.get("subfields", [])) if dtype else -1
            for i, ce in enumerate(struct):
                cref = ce[1]
                long_name, ctyp, table = cref[3], cref[2], cref[4]
                ctyp = self.type_ref(ctyp)
                if ctyp not in seen:
                    todo.append(ctyp)
                own = self.dict_comp(self.dv, t, i)
                own_ok = own is not None and (dcount == len(struct) or norm(own["desc"]) == norm(long_name))
                cands = []
                for nv in self.near:
                    c = self.dict_comp(nv, t, i)
                    if c:
                        cands.append(c["desc"])
                cdesc, how = choose_desc(long_name, cands, self.casing, own["desc"] if own_ok else "", ctyp)
                if self.v in LOWERCASE_COMPONENT_VERSIONS:
                    cdesc = lower_words(cdesc)
                self.stats["component_name_" + how] += 1
                tab = self.table_ref(table)
                if tab is None and own_ok and own.get("table"):
                    tab = "%04d" % int(own["table"])
                if tab:
                    self.used_tables.add(tab)
                comp = {"name": strip_name(cdesc), "desc": cdesc, "type": ctyp,
                        "len": own.get("len") if own_ok else None, "table": tab}
                if own_ok and OPT_CODES.get(own.get("opt")):
                    comp["opt"] = OPT_CODES[own["opt"]]
                comps.append(comp)
            res[t] = {"desc": desc, "components": comps}
        return dict(sorted(res.items()))

    # -- messages ------------------------------------------------------------
    def build_messages(self, segnames):
        m = self.m
        res = {}
        for name in sorted(m.MESSAGES):
            kind, kids = children_of(m.MESSAGES[name])
            items = self.items(name, kids, segnames)
            desc = None
            for nv in self.near:
                x = self.hd["definitions"][nv]["messages"].get(name)
                if x and x.get("desc"):
                    desc = x["desc"]
                    break
            res[name] = {"desc": desc, "items": items}
        return res

    def items(self, msg, kids, segnames):
        out = []
        used = collections.Counter()
        for ke in kids:
            kname, kref, card, kkind = ke[0], ke[1], ke[2], ke[3]
            mn, mx = card
            if kkind == "SEG" and kname == "ANYHL7SEGMENT":
                # "Hxx" in the HL7 abstract syntax: any segment may stand here
                el = {"s": "Hxx", "any": True, "min": mn, "max": mx}
                base = "Hxx"
            elif kkind == "SEG":
                el = {"s": kname, "min": mn, "max": mx}
                base = kname
                if kname not in segnames:
                    self.stats["unknown_segment_ref"] += 1
            else:
                gkind, gkids = children_of(kref)
                sub = self.items(msg, gkids, segnames)
                if not sub:
                    # hl7apy has an empty group (2.4 QBP_Q13.QBP); the HL7
                    # definition lets any segments ("Hxx") stand there.
                    sub = [{"s": "Hxx", "any": True, "min": 0, "max": -1}]
                    self.stats["empty_group_given_Hxx"] += 1
                choice = gkind == "choice"
                if choice and any(s["min"] == 0 for s in sub):
                    # hl7apy marks a few plain sequences as choices (e.g. 2.6
                    # EHC_E01 INVOICE_INFORMATION); a real HL7 choice has only
                    # required, non-repeating alternatives.
                    choice = False
                    self.stats["choice_demoted_to_sequence"] += 1
                first = sub[0].get("n") or sub[0].get("s") or sub[0].get("g") if sub else "EMPTY"
                base = first + ("union" if choice else "grp")
                hl7 = kname
                if kname.startswith(msg + "_"):
                    hl7 = msg + "." + kname[len(msg) + 1:]
                if choice and (kname.endswith("_SUPPGRP") or kname.endswith("_CHOICE")):
                    hl7 = None  # hl7apy-made name; HL7 v2.xml has no element for it
                el = {"g": base, "hl7": hl7, "min": mn, "max": mx}
                if choice:
                    el["choice"] = True
                el["items"] = sub
            used[base] += 1
            if used[base] > 1:
                nm = dup_name(base, used[base])
                self.stats["duplicate_sibling_renamed"] += 1
                if "g" in el:
                    el["g"] = nm
                else:
                    el["n"] = nm
            out.append(el)
        return out

    # -- events --------------------------------------------------------------
    def dict_signature(self, nodes):
        return tuple((n["name"], n.get("min"), n.get("max"),
                      self.dict_signature(n.get("children", []))) for n in nodes)

    def build_events(self, messages):
        structs = set(messages)
        self.unresolved = []
        self.ambiguous = []
        ev = {}
        how = collections.Counter()
        if self.dv:
            dmsgs = self.hd["definitions"][self.dv]["messages"]
            sig = {k: self.dict_signature(x["segments"]["segments"]) for k, x in dmsgs.items()}
            bysig = collections.defaultdict(list)
            for k in dmsgs:
                if k in structs:
                    bysig[sig[k]].append(k)
            for k in sorted(dmsgs):
                if "_" in k:
                    code, evt = k.split("_", 1)
                    key = "%s^%s" % (code, evt)
                else:
                    key = "%s^*" % k
                if k in structs:
                    ev[key] = k
                    how["identity"] += 1
                    continue
                same = bysig.get(sig[k], [])
                cand = [s for s in same if s.split("_")[0] == k.split("_")[0]]
                t354 = self.tables354.get(key)
                if t354 in structs and (not cand or t354 in cand):
                    ev[key] = t354
                    how["table0354"] += 1
                elif len(cand) == 1 or (not cand and len(same) == 1):
                    ev[key] = (cand or same)[0]
                    how["same_tree"] += 1
                elif cand:
                    ev[key] = sorted(cand)[0]
                    how["same_tree_ambiguous"] += 1
                    self.ambiguous.append("%s->%s%s" % (key, ev[key], sorted(cand)))
                else:
                    how["unresolved"] += 1
                    self.unresolved.append(key)
        else:
            prev = self.prev_events or {}
            for s in structs:
                if "_" in s:
                    code, evt = s.split("_", 1)
                    ev.setdefault("%s^%s" % (code, evt), s)
                    how["identity"] += 1
            for key, s in list(self.tables354.items()) + list(prev.items()):
                if s in structs and key not in ev:
                    ev[key] = s
                    how["table0354_or_previous"] += 1
        for s in sorted(structs):
            # every structure named TYPE_EVENT also answers MSH-9 TYPE^EVENT
            if "_" in s and ("%s^%s" % tuple(s.split("_", 1))) not in ev:
                ev["%s^%s" % tuple(s.split("_", 1))] = s
                how["identity_extra"] += 1
        if "ACK" in structs:
            ev.setdefault("ACK^*", "ACK")
        for k, s in ev.items():
            assert s in structs, (self.v, k, s)
        self.stats.update({"events_" + k: c for k, c in how.items()})
        return dict(sorted(ev.items()))

    # -- tables --------------------------------------------------------------
    def build_tables(self):
        dt = self.hd["tables"]
        at = getattr(self.m, "TABLES", None)
        res = {}
        for tab in sorted(self.used_tables | {"0354", "0076", "0003"}):
            src = dt.get(str(int(tab))) if tab.isdigit() else None
            dvals = (src or {}).get("values", {})
            if at is not None and ("HL7" + tab) in at:
                tdesc, codes = at["HL7" + tab][0], at["HL7" + tab][1]
                values = {c: dvals.get(c, "") for c in codes}
                if not values:
                    continue
                res[tab] = {"desc": tdesc or (src or {}).get("desc"), "values": values}
            elif dvals:
                res[tab] = {"desc": src.get("desc"), "values": dict(dvals)}
        return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hl7-dictionary", required=True, help="path of the installed hl7-dictionary package")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
    ap.add_argument("--only", help="comma-separated versions to build")
    ap.add_argument("-v", "--verbose", action="store_true", help="list unresolved/ambiguous events")
    args = ap.parse_args()
    check_hl7apy()
    hd = load_hl7dict(args.hl7_dictionary)
    casing = Casing(hd)
    b = Builder(hd, casing)
    os.makedirs(args.out, exist_ok=True)
    prev_events = None
    only = set(args.only.split(",")) if args.only else None
    for v, mod, dv in VERSIONS:
        b.prev_events = prev_events
        b.stats = collections.Counter()
        data = b.build(v, mod, dv)
        prev_events = data["events"]
        if only and v not in only:
            continue
        path = os.path.join(args.out, v + ".json")
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
            f.write("\n")
        log("%-6s messages=%d segments=%d types=%d tables=%d events=%d %s" % (
            v, len(data["messages"]), len(data["segments"]), len(data["types"]),
            len(data["tables"]), len(data["events"]), dict(sorted(b.stats.items()))))
        if args.verbose:
            log("       unresolved events:", " ".join(b.unresolved))
            log("       ambiguous events:", " ".join(b.ambiguous))


if __name__ == "__main__":
    main()
