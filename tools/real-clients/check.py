#!/usr/bin/env python3
"""Verdicts and a minimal admin for the real-client suite (Python standard library only).

The client drivers (node/driver.js, python/driver.py, rust/src/main.rs) only record what happened
as JSON lines ("send", "recv", "mark", "error", "unsupported" events). This module owns every
judgement, so all clients are held to the same rules:

    check.py verdict CLIENT SCENARIO EVENTS   prints one "PASS|FAIL|SKIP CLIENT Sn detail" line per
                                              check of that scenario; exit 0 even on FAIL
    check.py create-topic TOPIC               UPDATE_AND_CREATE_TOPIC (17) on $BROKER_ADDR, then waits
                                              (bounded) until $NAMESRV routes the topic
    check.py free-ports N                     prints N free TCP ports on 127.0.0.1

It speaks the remoting protocol itself (JSON headers) to resolve msgIds with VIEW_MESSAGE_BY_ID
(33): an offset msgId names the broker address and commitlog offset directly; a client-generated
UNIQ_KEY (the C++ clients report only that) is resolved through the commitlog offset at which the
same body was delivered, and the record found there must carry that UNIQ_KEY.
"""

import json
import os
import socket
import struct
import sys
import time
import zlib

# Remoting limits for this tool's own reads: a frame larger than this is a broken reply.
FRAME_BYTES_MAX = 16 * 1024 * 1024
REQUEST_TIMEOUT_SECS = 10

UPDATE_AND_CREATE_TOPIC = 17
VIEW_MESSAGE_BY_ID = 33
GET_ROUTEINFO_BY_TOPIC = 105

MAGIC_V1 = 0xDAA320A7
MAGIC_V2 = 0xDAA320AB
SYSFLAG_COMPRESSED = 0x1
SYSFLAG_BORNHOST_V6 = 0x10
SYSFLAG_STOREHOST_V6 = 0x20


class Remoting:
    """One TCP connection speaking request/response remoting frames with JSON headers."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=REQUEST_TIMEOUT_SECS)
        self.opaque = 0

    def close(self):
        self.sock.close()

    def _read_exact(self, n):
        chunks, got = [], 0
        while got < n:
            chunk = self.sock.recv(min(n - got, 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed by peer")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def request(self, code, ext_fields, body=b""):
        self.opaque += 1
        header = json.dumps({"code": code, "language": "PYTHON", "version": 399, "opaque": self.opaque,
                             "flag": 0, "extFields": {k: str(v) for k, v in ext_fields.items()},
                             "serializeTypeCurrentRPC": "JSON"}).encode()
        frame = struct.pack(">II", 4 + len(header) + len(body), len(header)) + header + body
        self.sock.sendall(frame)
        while True:
            (length,) = struct.unpack(">I", self._read_exact(4))
            if length < 4 or length > FRAME_BYTES_MAX:
                raise ValueError("bad frame length %d" % length)
            frame = self._read_exact(length)
            (mark,) = struct.unpack(">I", frame[:4])
            if mark >> 24 != 0:
                raise ValueError("reply header is not JSON (serialize type %d)" % (mark >> 24))
            header_len = mark & 0xFFFFFF
            if header_len > length - 4:
                raise ValueError("header length %d exceeds frame" % header_len)
            reply = json.loads(frame[4:4 + header_len])
            if reply.get("opaque") == self.opaque:
                return reply, frame[4 + header_len:]


def decode_record(data):
    """Decode one CommitLog record (v1 or v2): (topic, body, properties, queue id, queue offset)."""
    (total, magic, _crc, queue_id, _flag, queue_offset, _phys, sysflag) = struct.unpack_from(">iIiiiqqi", data, 0)
    if magic not in (MAGIC_V1, MAGIC_V2) or total > len(data):
        raise ValueError("not a message record (magic %08x, size %d of %d)" % (magic, total, len(data)))
    pos = 40 + 8  # born timestamp
    pos += 20 if sysflag & SYSFLAG_BORNHOST_V6 else 8
    pos += 8  # store timestamp
    pos += 20 if sysflag & SYSFLAG_STOREHOST_V6 else 8
    pos += 4 + 8  # reconsume times, prepared transaction offset
    (body_len,) = struct.unpack_from(">i", data, pos)
    pos += 4
    body = data[pos:pos + body_len]
    pos += body_len
    if magic == MAGIC_V2:
        (topic_len,) = struct.unpack_from(">H", data, pos)
        pos += 2
    else:
        topic_len = data[pos]
        pos += 1
    topic = data[pos:pos + topic_len].decode("utf-8", "replace")
    pos += topic_len
    (props_len,) = struct.unpack_from(">H", data, pos)
    pos += 2
    props = {}
    for pair in data[pos:pos + props_len].decode("utf-8", "replace").split("\x02"):
        if "\x01" in pair:
            name, value = pair.split("\x01", 1)
            props[name] = value
    if sysflag & SYSFLAG_COMPRESSED:
        body = zlib.decompress(body)
    return topic, body, props, queue_id, queue_offset


def decode_offset_msg_id(msg_id):
    """An IPv4 offset msgId: 8 hex ip, 8 hex port, 16 hex commitlog offset. None if it is not one."""
    if not msg_id or len(msg_id) != 32:
        return None
    try:
        raw = bytes.fromhex(msg_id)
    except ValueError:
        return None
    ip = ".".join(str(b) for b in raw[:4])
    (port, offset) = struct.unpack(">iq", raw[4:])
    return "%s:%d" % (ip, port), offset


# ---------------------------------------------------------------------------------------------
# Events and verdicts


def load_events(path):
    events = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        events.append({"ev": "garbled", "line": line[:200]})
    return events


class Verdicts:
    def __init__(self, client, events):
        self.client = client
        self.events = events
        self.lines = []
        problems = [e for e in events if e["ev"] == "error"]
        marks = [e["name"] for e in events if e["ev"] == "mark"]
        self.trouble = ""
        if problems:
            self.trouble += " driver error: %s;" % problems[0]["err"][:300]
        if "hard-timeout" in marks:
            self.trouble += " driver hit its hard timeout;"
        elif "done" not in marks:
            self.trouble += " driver did not finish;"
        # Not a failure: the scenarios demand nothing of a client's own shutdown. Shown because
        # C++ 2.1.0 dies of SIGSEGV inside PushConsumer.shutdown() (see README).
        self.note = "".join(" [%s exited with signal %d at shutdown]" % (e["name"][:-len("-stopped")], -e["exit"])
                            for e in events if e["ev"] == "mark" and isinstance(e.get("exit"), int) and e["exit"] < 0)

    def add(self, label, ok, detail):
        verdict = "PASS" if ok and not self.trouble else "FAIL"
        self.lines.append("%s %s %s %s%s%s" % (verdict, self.client, label, detail, self.trouble, self.note))

    def skip(self, label, why):
        self.lines.append("SKIP %s %s %s" % (self.client, label, why))

    def sends(self, kind=None):
        return [e for e in self.events if e["ev"] == "send" and (kind is None or e.get("kind") == kind)]

    def recvs(self, consumer=None, between=None):
        """Deliveries, optionally to one consumer and optionally between two marks."""
        out, active = [], between is None
        for e in self.events:
            if e["ev"] == "mark" and between is not None:
                if e["name"] == between[0]:
                    active = True
                elif e["name"] == between[1]:
                    active = False
            if e["ev"] == "recv" and active and (consumer is None or e.get("c") == consumer):
                out.append(e)
        return out


def once_check(recvs, expected):
    """(ok, detail) for: every expected body delivered exactly once and nothing else."""
    counts = {}
    for r in recvs:
        counts[r.get("body")] = counts.get(r.get("body"), 0) + 1
    missing = [b for b in expected if b not in counts]
    dups = sum(c - 1 for b, c in counts.items() if c > 1)
    extra = [b for b in counts if b not in expected]
    ok = not missing and not dups and not extra
    detail = "%d/%d received, %d duplicate, %d unexpected" % (len(expected) - len(missing), len(expected), dups, len(extra))
    if missing:
        detail += " (first missing %s)" % missing[0]
    if extra:
        detail += " (first unexpected %s)" % extra[0]
    return ok, detail


def sends_ok(v, kind, n):
    sends = v.sends(kind)
    ok = sum(1 for s in sends if s.get("ok"))
    errors = [s.get("err") or s.get("status") for s in sends if not s.get("ok")]
    detail = "%d/%d sent ok" % (ok, n)
    if errors:
        detail += " (first failure: %s)" % str(errors[0])[:200]
    return ok == n and len(sends) == n, detail


def index_of(body):
    """The message index a driver put in a body `<scenario>-<kind>-<i>-<run>`, or -1."""
    parts = (body or "").split("-")
    return int(parts[2]) if len(parts) >= 4 and parts[2].isdigit() else -1


def fields_check(recvs):
    """Tags, keys and the idx user property as the drivers set them: k-<i>, idx=<i>."""
    bad = []
    for r in recvs:
        i = str(index_of(r.get("body")))
        if r.get("keys") != "k-%s" % i or r.get("idx") != i or not r.get("tags"):
            bad.append(r)
    return bad


def resolve_msg_ids(v, sends, recvs, broker_addr):
    """Count the sends whose msgId VIEW_MESSAGE_BY_ID resolves to a record of the same body."""
    by_body = {}
    for r in recvs:
        by_body.setdefault(r.get("body"), r)
    conn = Remoting(broker_addr)
    resolved, failures = 0, []
    try:
        for s in sends:
            expected_body = "s1-sync-%d-%s" % (s["i"], os.environ["RUN_ID"])
            msg_id = s.get("msgId") or ""
            target = decode_offset_msg_id(s.get("offsetMsgId") or "") or decode_offset_msg_id(msg_id)
            want_uniq = None
            if target is None or target[0] != broker_addr:
                # A client-generated UNIQ_KEY: find the commitlog offset the body was delivered from.
                delivered = by_body.get(expected_body)
                if delivered is None:
                    failures.append("%s: not an offset msgId and body never delivered" % msg_id)
                    continue
                target, want_uniq = (broker_addr, int(delivered["clOffset"])), msg_id
            reply, body = conn.request(VIEW_MESSAGE_BY_ID, {"offset": target[1], "topic": os.environ["TOPIC"]})
            if reply.get("code") != 0:
                failures.append("%s: VIEW_MESSAGE_BY_ID code %s %s" % (msg_id, reply.get("code"), reply.get("remark")))
                continue
            _topic, record_body, props, _q, _qo = decode_record(body)
            if record_body.decode("utf-8", "replace") != expected_body:
                failures.append("%s: record body %r" % (msg_id, record_body[:60]))
            elif want_uniq is not None and props.get("UNIQ_KEY") != want_uniq:
                failures.append("%s: record UNIQ_KEY %s" % (msg_id, props.get("UNIQ_KEY")))
            else:
                resolved += 1
    finally:
        conn.close()
    return resolved, failures


def verdict_s1(v, broker_addr):
    n = 1000
    recvs = v.recvs("c1")
    sent_ok, detail = sends_ok(v, "sync", n)
    try:
        resolved, failures = resolve_msg_ids(v, v.sends("sync"), recvs, broker_addr)
    except (OSError, ValueError) as e:
        resolved, failures = 0, ["VIEW_MESSAGE_BY_ID: %r" % e]
    detail += ", %d/%d msgIds resolved by VIEW_MESSAGE_BY_ID" % (resolved, n)
    if failures:
        detail += " (first: %s)" % failures[0][:200]
    v.add("S1", sent_ok and resolved == n, detail)
    expected = {"s1-sync-%d-%s" % (i, os.environ["RUN_ID"]) for i in range(n)}
    ok, detail = once_check(recvs, expected)
    bad = fields_check(recvs)
    bad_tags = [r for r in recvs if r.get("tags") != "TagA"]
    detail += ", %d with wrong tags/keys/properties" % len(bad + bad_tags)
    if bad or bad_tags:
        detail += " (first %s)" % json.dumps((bad + bad_tags)[0])[:200]
    v.add("S2", ok and not bad and not bad_tags, detail)


def verdict_s3(v):
    n, run = 300, os.environ["RUN_ID"]
    tags = ("TagA", "TagB", "TagC")
    expected = {"s3-sync-%d-%s" % (i, run) for i in range(n) if i % 3 != 2}
    recvs = v.recvs("c1")
    sent, sdetail = sends_ok(v, "sync", n)
    ok, detail = once_check(recvs, expected)
    wrong = [r for r in recvs if r.get("tags") != tags[index_of(r.get("body")) % 3]]
    v.add("S3", sent and ok and not wrong,
          "%s; `TagA || TagB`: %s, %d with a wrong tag" % (sdetail, detail, len(wrong)))


def verdict_s4(v):
    n, run = 100, os.environ["RUN_ID"]
    p1 = {"s4-p1-%d-%s" % (i, run) for i in range(n)}
    p2 = {"s4-p2-%d-%s" % (i, run) for i in range(n)}
    all_recvs = v.recvs()
    sent1, _ = sends_ok(v, "p1", n)
    sent2, _ = sends_ok(v, "p2", n)
    ok, detail = once_check(all_recvs, p1 | p2)
    phase1 = v.recvs(between=("phase1", "c2-stopped"))
    q1 = sorted({r["queueId"] for r in phase1 if r["c"] == "c1"})
    q2 = sorted({r["queueId"] for r in phase1 if r["c"] == "c2"})
    shared = bool(q1) and bool(q2) and not set(q1) & set(q2)
    after = [r for r in v.recvs(between=("phase2", "c1-stopped")) if r["body"] in p2]
    handed = {r["body"] for r in after if r["c"] == "c1"}
    stopped_at = [e.get("t") for e in v.events if e["ev"] == "mark" and e["name"] == "c2-stopped"]
    last_at = max((r.get("t") or 0 for r in after), default=None)
    took = ""
    if stopped_at and stopped_at[0] and last_at:
        took = " within %.1f s" % ((last_at - stopped_at[0]) / 1000.0)
    v.add("S4", sent1 and sent2 and ok and shared and handed == p2,
          "phase 1: c1 queues %s, c2 queues %s; after c2 stopped c1 got %d/%d%s; overall %s"
          % (q1, q2, len(handed), n, took, detail))


def verdict_s5(v):
    n, run = 100, os.environ["RUN_ID"]
    a = {"s5-a-%d-%s" % (i, run) for i in range(n)}
    b = {"s5-b-%d-%s" % (i, run) for i in range(n)}
    sent = sends_ok(v, "a", n)[0] and sends_ok(v, "b", n)[0]
    ok1, d1 = once_check(v.recvs("run1"), a)
    ok2, d2 = once_check(v.recvs("run2"), b)
    ok3, d3 = once_check(v.recvs("fresh"), a | b)
    v.add("S5", sent and ok1 and ok2 and ok3,
          "first run %s; resumed run (only the new messages) %s; new group from first offset %s" % (d1, d2, d3))


S6_COUNTS = {"sync": 50, "async": 100, "oneway": 100, "batch": 100, "ordered": 50}


def verdict_s6(v):
    run = os.environ["RUN_ID"]
    unsupported = {}
    for e in v.events:
        if e["ev"] == "unsupported":
            for k in e["kinds"]:
                unsupported[k] = e["why"]
    recvs = v.recvs("c1")
    for kind, n in S6_COUNTS.items():
        label = "S6-" + kind
        if kind in unsupported:
            v.skip(label, unsupported[kind])
            continue
        expected = {"s6-%s-%d-%s" % (kind, i, run) for i in range(n)}
        mine = [r for r in recvs if r.get("body", "").startswith("s6-%s-" % kind)]
        sent, sdetail = sends_ok(v, kind, n)
        ok, detail = once_check(mine, expected)
        if kind == "oneway":
            sdetail = "%d/%d oneway calls returned" % (len(v.sends(kind)), n)
        extra_ok, extra = True, ""
        if kind == "ordered":
            # Where the broker put each message: its SendResult when the client reports the queue
            # (ali-ons, rust), else the first delivery. A message redelivered through %RETRY%
            # (rust re-queues a batch when its own consume task fails) carries the retry queue's
            # position, so deliveries are only the fallback.
            placed = sorted((s for s in v.sends(kind) if s.get("queueId") is not None), key=lambda s: s["i"])
            if len(placed) != n:
                first = {}
                for r in mine:
                    first.setdefault(index_of(r["body"]), r)
                placed = [first[i] for i in sorted(first)]
            queues = sorted({r["queueId"] for r in placed})
            offsets = [int(r["queueOffset"]) for r in placed]
            in_order = all(x < y for x, y in zip(offsets, offsets[1:]))
            extra_ok = queues == [1] and in_order
            extra = ", queues %s, queue offsets in send order: %s" % (queues, in_order)
        v.add(label, sent and ok and extra_ok, "%s, %s%s" % (sdetail, detail, extra))


def verdict_s7(v):
    n, run = 100, os.environ["RUN_ID"]
    expected = {"s7-sync-%d-%s" % (i, run) for i in range(n)}
    sent, sdetail = sends_ok(v, "sync", n)
    ok1, d1 = once_check(v.recvs("c1"), expected)
    ok2, d2 = once_check(v.recvs("c2"), expected)
    v.add("S7", sent and ok1 and ok2, "%s; broadcasting c1 %s; c2 %s" % (sdetail, d1, d2))


def verdict_s8(v):
    sizes = [int(s) for s in os.environ["S8_SIZES"].split(",")]
    sent, sdetail = sends_ok(v, "big", len(sizes))
    recvs = v.recvs("c1")
    parts, ok = [], sent
    for size in sizes:
        got = [r for r in recvs if r.get("i") == size]
        good = len(got) == 1 and got[0].get("bodyOk") and got[0].get("len") == size
        ok = ok and good
        parts.append("%d B %s" % (size, "identical" if good else "BAD (%d deliveries %s)" % (len(got), json.dumps(got)[:120])))
    v.add("S8", ok and len(recvs) == len(sizes), "%s; %s" % (sdetail, ", ".join(parts)))


def cmd_verdict(client, scenario, events_path):
    v = Verdicts(client, load_events(events_path))
    broker_addr = os.environ["BROKER_ADDR"]
    {"s1": lambda: verdict_s1(v, broker_addr), "s3": lambda: verdict_s3(v), "s4": lambda: verdict_s4(v),
     "s5": lambda: verdict_s5(v), "s6": lambda: verdict_s6(v), "s7": lambda: verdict_s7(v),
     "s8": lambda: verdict_s8(v)}[scenario]()
    print("\n".join(v.lines), flush=True)


def cmd_create_topic(topic):
    conn = Remoting(os.environ["BROKER_ADDR"])
    try:
        reply, _ = conn.request(UPDATE_AND_CREATE_TOPIC, {
            "topic": topic, "defaultTopic": "TBW102", "readQueueNums": 4, "writeQueueNums": 4, "perm": 6,
            "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0, "order": "false"})
    finally:
        conn.close()
    if reply.get("code") != 0:
        sys.exit("UPDATE_AND_CREATE_TOPIC %s: code %s %s" % (topic, reply.get("code"), reply.get("remark")))
    deadline = time.time() + 30
    while time.time() < deadline:
        conn = Remoting(os.environ["NAMESRV"])
        try:
            reply, _ = conn.request(GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
        finally:
            conn.close()
        if reply.get("code") == 0:
            return
        time.sleep(0.2)
    sys.exit("the NameServer has no route for %s 30 s after it was created" % topic)


def cmd_free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "verdict":
        cmd_verdict(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "create-topic":
        cmd_create_topic(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "free-ports":
        cmd_free_ports(int(sys.argv[2]))
    else:
        sys.exit(__doc__)
