#!/usr/bin/env python3
"""Consistency checks for plugin-api/hl7-schema/data/*.json.

    python3 plugin-api/hl7-schema/gen/check.py [DATA_DIR]

Needs only the Python standard library.  Exits non-zero if any check fails.
"""

import gzip
import json
import os
import re
import sys

DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
VERSIONS = ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def walk(items, fn, path=()):
    for it in items:
        fn(it, path)
        if "g" in it:
            walk(it["items"], fn, path + (it["g"],))


def item_name(it):
    return it.get("g") or it.get("n") or it.get("s")


def find(items, name):
    for it in items:
        if item_name(it) == name:
            return it
    return None


def check_version(v, d):
    errs_before = len(failures)
    check(d.get("version") == v, "%s: version field is %r" % (v, d.get("version")))
    for key in ("events", "messages", "segments", "types", "tables"):
        check(isinstance(d.get(key), dict), "%s: %s missing" % (v, key))
    segs, types, msgs = d["segments"], d["types"], d["messages"]

    # every segment referenced by a structure exists; sibling names unique
    def per_item(it, path):
        if "s" in it and not it.get("any"):
            check(it["s"] in segs, "%s: %s references unknown segment %s" % (v, "/".join(path), it["s"]))
        check(isinstance(it.get("min"), int) and isinstance(it.get("max"), int),
              "%s: %s/%s has no min/max" % (v, "/".join(path), item_name(it)))
        if "g" in it:
            names = [item_name(x) for x in it["items"]]
            check(len(names) == len(set(names)), "%s: duplicate sibling names under %s/%s: %s" % (v, "/".join(path), it["g"], names))
            check(len(it["items"]) > 0, "%s: empty group %s" % (v, it["g"]))
    for m, mm in msgs.items():
        names = [item_name(x) for x in mm["items"]]
        check(len(names) == len(set(names)), "%s: duplicate top-level names in %s: %s" % (v, m, names))
        walk(mm["items"], per_item, (m,))

    # every field / component type exists; names are the stripped descriptions
    for s, sd in segs.items():
        for i, f in enumerate(sd["fields"]):
            check(f["type"] in types, "%s: %s-%d type %s not in types" % (v, s, i + 1, f["type"]))
            check(f["name"] == re.sub(r"[^A-Za-z0-9]", "", f["desc"] or ""), "%s: %s-%d name/desc mismatch" % (v, s, i + 1))
            check(f["opt"] in ("R", "O", "C", "B", "X", "W"), "%s: %s-%d opt %r" % (v, s, i + 1, f["opt"]))
            check(isinstance(f["rep"], int) and (f["rep"] == -1 or f["rep"] >= 1), "%s: %s-%d rep %r" % (v, s, i + 1, f["rep"]))
    for t, td in types.items():
        for i, c in enumerate(td["components"]):
            check(c["type"] in types, "%s: %s.%d type %s not in types" % (v, t, i + 1, c["type"]))
            check(c["name"] == re.sub(r"[^A-Za-z0-9]", "", c["desc"] or ""), "%s: %s.%d name/desc mismatch" % (v, t, i + 1))
    for k, s in d["events"].items():
        check(s in msgs, "%s: event %s -> unknown structure %s" % (v, k, s))
        check(re.match(r"^[A-Z0-9]{3}\^([A-Z0-9]{3}|\*|[A-Za-z0-9]+)$", k) is not None, "%s: odd event key %r" % (v, k))
    for t, td in d["tables"].items():
        check(re.match(r"^\d{4}$", t) is not None and isinstance(td.get("values"), dict), "%s: bad table %r" % (v, t))
    return len(failures) == errs_before


def specific():
    out = []
    d = json.load(open(os.path.join(DATA, "2.5.json")))
    adt = d["messages"]["ADT_A01"]["items"]
    required = [item_name(x) for x in adt if x["min"] >= 1][:3]
    out.append(("2.5 ADT_A01 starts MSH, EVN, PID (required items; optional SFT between MSH and EVN: %s)"
                % [item_name(x) for x in adt[:4]], required == ["MSH", "EVN", "PID"]))
    out.append(("2.5 segments.PID.fields[4].name == 'PatientName'", d["segments"]["PID"]["fields"][4]["name"] == "PatientName"))
    out.append(("2.5 segments.MSH.fields[5].name == 'ReceivingFacility'", d["segments"]["MSH"]["fields"][5]["name"] == "ReceivingFacility"))
    hd1 = d["types"]["HD"]["components"][0]["name"]
    out.append(("2.5 types.HD component 1 name is namespaceID, compared case-insensitively (source spells it %r)" % hd1,
                hd1.lower() == "namespaceid"))
    oru = d["messages"]["ORU_R01"]["items"]
    pr = find(oru, "PIDgrpgrp")
    ok = (pr is not None and pr["hl7"] == "ORU_R01.PATIENT_RESULT" and find(pr["items"], "PIDgrp") is not None
          and find(pr["items"], "PIDgrp")["hl7"] == "ORU_R01.PATIENT")
    out.append(("2.5 ORU_R01 PIDgrpgrp (ORU_R01.PATIENT_RESULT) -> PIDgrp (ORU_R01.PATIENT)", ok))
    orc = find(pr["items"], "ORCgrp") if pr else None
    obx = find(orc["items"], "OBXgrp") if orc else None
    out.append(("2.5 ORU_R01 PIDgrpgrp -> ORCgrp (ORDER_OBSERVATION) -> OBXgrp (OBSERVATION)",
                bool(orc and obx and orc["hl7"] == "ORU_R01.ORDER_OBSERVATION" and obx["hl7"] == "ORU_R01.OBSERVATION")))
    out.append(("2.5 events['ADT^A04'] == 'ADT_A01'", d["events"].get("ADT^A04") == "ADT_A01"))

    # names published in InterSystems documentation or named in the brief
    d = json.load(open(os.path.join(DATA, "2.3.1.json")))
    out.append(("2.3.1 HD.1 name == 'namespaceID' (exact case)", d["types"]["HD"]["components"][0]["name"] == "namespaceID"))
    out.append(("2.3.1 XPN.1 name == 'familylastname' (exact case)", d["types"]["XPN"]["components"][0]["name"] == "familylastname"))
    d = json.load(open(os.path.join(DATA, "2.3.json")))
    orm = d["messages"]["ORM_O01"]["items"]
    g = find(orm, "ORCgrp")
    g = g and find(g["items"], "OBRuniongrp")
    g = g and find(g["items"], "OBXgrp")
    out.append(("2.3 ORM_O01 path ORCgrp(1).OBRuniongrp.OBXgrp(3).NTE(1) exists (IRIS docs example)", bool(g and find(g["items"], "NTE"))))
    out.append(("2.3 NTE field 2 name == 'SourceofComment' (IRIS docs example)", d["segments"]["NTE"]["fields"][1]["name"] == "SourceofComment"))
    out.append(("2.3 PID field 3 name == 'PatientIDInternalID' and CX.5 == 'identifiertypecode' (IRIS docs example)",
                d["segments"]["PID"]["fields"][2]["name"] == "PatientIDInternalID"
                and d["types"]["CX"]["components"][4]["name"] == "identifiertypecode"))
    return out


def main():
    total = total_gz = 0
    print("%-7s %9s %9s %5s %5s %5s %5s %5s %6s" % ("version", "bytes", "gzip-9", "msgs", "segs", "types", "tabls", "evts", "result"))
    for v in VERSIONS:
        path = os.path.join(DATA, v + ".json")
        if not check(os.path.exists(path), "%s: file missing" % v):
            continue
        raw = open(path, "rb").read()
        gz = len(gzip.compress(raw, 9))
        total += len(raw)
        total_gz += gz
        d = json.loads(raw)
        ok = check_version(v, d)
        print("%-7s %9d %9d %5d %5d %5d %5d %5d %6s" % (v, len(raw), gz, len(d["messages"]), len(d["segments"]),
                                                       len(d["types"]), len(d["tables"]), len(d["events"]), "ok" if ok else "FAIL"))
    print("%-7s %9d %9d" % ("total", total, total_gz))
    print()
    for what, ok in specific():
        check(ok, what)
        print("%-4s %s" % ("ok" if ok else "FAIL", what))
    print()
    if failures:
        for f in failures[:50]:
            print("FAIL:", f)
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
