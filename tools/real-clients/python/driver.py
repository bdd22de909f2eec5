"""Scenario driver for the C++ RocketMQ clients from PyPI, used exactly as installed (no patching):
`rocketmq` 0.4.4 (rocketmq-client-cpp 1.x) and `rocketmq-python-cvs` 2.1.0.3 (rocketmq-client-cpp
2.1.0). Both ship the same Python API over their own bundled librocketmq.so.

`python driver.py <scenario>` runs one scenario (s1 s3 s4 s5 s6 s7 s8, see ../README.md) against the
NameServer in $NAMESRV and appends what happened as JSON lines to $EVENTS: one "send" event per send,
one "recv" event per delivered message, "mark" events between phases. It judges nothing; ../check.py
turns the events into PASS/FAIL lines. Every wait is bounded by $DEADLINE_SECS, and a watchdog thread
ends the process if the native library hangs.
"""

import json
import os
import subprocess
import sys
import threading
import time

from rocketmq.client import Message, MessageModel, Producer, PushConsumer, SendStatus

SCENARIO = sys.argv[1]
NAMESRV = os.environ["NAMESRV"]
TOPIC = os.environ["TOPIC"]
GROUP = os.environ["GROUP"]
RUN = os.environ["RUN_ID"]
DEADLINE = time.time() + int(os.environ.get("DEADLINE_SECS", "90"))
LOG_DIR = os.environ.get("CPP_LOG_DIR")
GET_CONSUMER_LIST_BY_GROUP = 38

_events = open(os.environ["EVENTS"], "a", encoding="utf-8")
_events_lock = threading.Lock()


def emit(ev):
    ev = dict(ev, t=int(time.time() * 1000))
    with _events_lock:
        _events.write(json.dumps(ev) + "\n")
        _events.flush()


def body_of(kind, i):
    return "%s-%s-%d-%s" % (SCENARIO, kind, i, RUN)


def pattern_body(size):
    """Deterministic printable body of `size` bytes (the same generator in every driver)."""
    out = bytearray(size)
    x = size & 0xFFFFFFFF
    for i in range(size):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = 97 + ((x >> 16) % 26)
    return bytes(out)


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")


def wait_until(pred):
    while not pred() and time.time() < DEADLINE:
        time.sleep(0.1)
    return pred()


def new_producer():
    p = Producer(GROUP + "_pg", timeout=5000)
    p.set_namesrv_addr(NAMESRV)
    if LOG_DIR and hasattr(p, "set_log_root_path"):
        p.set_log_root_path(LOG_DIR)
    p.start()
    return p


def make_message(kind, i, tags, body=None):
    m = Message(TOPIC)
    m.set_keys("k-%d" % i)
    m.set_tags(tags)
    m.set_property("idx", str(i))
    m.set_body(body if body is not None else body_of(kind, i))
    return m


def send_event(kind, i, result=None, err=None):
    if err is not None:
        emit({"ev": "send", "kind": kind, "i": i, "ok": False, "err": err})
        return
    emit({"ev": "send", "kind": kind, "i": i, "ok": result.status == SendStatus.OK,
          "status": result.status.name, "msgId": result.msg_id, "queueOffset": result.offset})


def sync_send(p, kind, i, tags, body=None):
    try:
        send_event(kind, i, p.send_sync(make_message(kind, i, tags, body)))
    except Exception as e:  # the binding raises on any client-side failure
        send_event(kind, i, err=repr(e))


def consumer_child(name, group, expression, broadcast):
    """Child-process body: one push consumer that records every delivery until told to stop.

    Each consumer runs in its own process because C++ 2.1.0 can crash (SIGSEGV) inside
    PushConsumer.shutdown(), right after shutting down its message-trace producer; in a shared
    process that would also kill the other consumer and the producer of the scenario."""
    model = MessageModel.BROADCASTING if broadcast else MessageModel.CLUSTERING
    consumer = PushConsumer(group, message_model=model)
    consumer.set_namesrv_addr(NAMESRV)
    consumer.set_instance_name("%s_%d" % (name, os.getpid()))
    if LOG_DIR and hasattr(consumer, "set_log_root_path"):
        consumer.set_log_root_path(LOG_DIR)

    def on_message(msg):
        rec = {"ev": "recv", "c": name, "tags": text(msg.tags), "keys": text(msg.keys),
               "idx": text(msg.get_property("idx")), "queueId": msg.queue_id,
               "queueOffset": msg.queue_offset, "msgId": msg.id, "clOffset": msg.commit_log_offset}
        body = msg.body or b""
        if SCENARIO == "s8":
            i = int(rec["idx"])
            rec.update({"i": i, "len": len(body), "bodyOk": body == pattern_body(i)})
        else:
            rec["body"] = text(body)
        emit(rec)

    # The C++ consumer has no CONSUME_FROM_FIRST_OFFSET setter: a new group starts at
    # CONSUME_FROM_LAST_OFFSET, which the broker answers with offset 0 while the queue head is
    # still in memory (real-clients Q3).
    consumer.subscribe(TOPIC, on_message, expression)
    consumer.start()
    sys.stdin.read()  # EOF: the parent asks us to stop (or died)
    consumer.shutdown()
    emit({"ev": "mark", "name": name + "-shutdown-returned"})
    os._exit(0)


class Recorder:
    """A push consumer in a child process (see consumer_child); deliveries are read back from
    the events file, which parent and children append to line by line."""

    def __init__(self, name, expression="*", group=None, broadcast=False):
        self.name = name
        self.child = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), SCENARIO, "--consume", name, group or GROUP,
             expression, "1" if broadcast else "0"], stdin=subprocess.PIPE)

    def count(self, prefix=""):
        seen = set()
        with open(os.environ["EVENTS"], encoding="utf-8") as f:
            for line in f:
                if '"recv"' not in line:
                    continue
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue  # a line still being written
                if ev.get("c") == self.name:
                    key = str(ev.get("i")) if SCENARIO == "s8" else ev.get("body", "")
                    if key.startswith(prefix):
                        seen.add(key)
        return len(seen)

    def stop(self):
        self.child.stdin.close()
        try:
            code = self.child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.child.kill()
            code = self.child.wait()
        # A negative code is the signal that ended the client process (e.g. -11, SIGSEGV).
        emit({"ev": "mark", "name": self.name + "-stopped", "exit": code})


def s1():
    n = 1000
    p = new_producer()
    for i in range(n):
        if time.time() > DEADLINE:
            break
        sync_send(p, "sync", i, "TagA")
    p.shutdown()
    c = Recorder("c1")
    wait_until(lambda: c.count() >= n)
    time.sleep(2)
    c.stop()


def s3():
    n = 300
    p = new_producer()
    for i in range(n):
        sync_send(p, "sync", i, ("TagA", "TagB", "TagC")[i % 3])
    p.shutdown()
    c = Recorder("c1", "TagA || TagB")
    wait_until(lambda: c.count() >= 2 * n // 3)
    time.sleep(2)
    c.stop()


def consumers_online(group):
    """Client ids the broker lists for `group` (GET_CONSUMER_LIST_BY_GROUP); [] on any error."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import check  # the suite's stdlib-only remoting helper
    try:
        conn = check.Remoting(os.environ["BROKER_ADDR"])
        try:
            reply, body = conn.request(GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": group})
        finally:
            conn.close()
        if reply.get("code") != 0:
            return []
        return json.loads(body or b"{}").get("consumerIdList") or []
    except (OSError, ValueError):
        return []


def s4():
    n = 100
    # c2 starts first and c1 joins once the broker lists c2. The reverse order trips a bug of
    # C++ 2.1.0 (see ../README.md, "C++ 2.1.0 and re-acquired queues"): a consumer that was alone
    # for a moment starts pulls on every queue, drops half of them when the second consumer
    # joins, and when it gets those queues back after the other one stops, it discards every
    # answer to their pulls as "dropped". With this order the consumer that stays (c1) never
    # held the queues it takes over.
    c2 = Recorder("c2")
    wait_until(lambda: len(consumers_online(GROUP)) >= 1)
    time.sleep(2)  # c2 re-balanced onto all queues
    c1 = Recorder("c1")
    wait_until(lambda: len(consumers_online(GROUP)) >= 2)
    time.sleep(6)  # both re-balanced before anything exists
    p = new_producer()
    emit({"ev": "mark", "name": "phase1"})
    for i in range(n):
        sync_send(p, "p1", i, "TagA")
    wait_until(lambda: c1.count() + c2.count() >= n)
    time.sleep(7)  # past the 5 s periodic offset persist, so c2's progress is committed
    c2.stop()
    emit({"ev": "mark", "name": "phase2"})
    for i in range(n):
        sync_send(p, "p2", i, "TagA")
    p.shutdown()
    wait_until(lambda: c1.count("s4-p2-") >= n)
    time.sleep(2)
    c1.stop()


def s5():
    n = 100
    p = new_producer()
    for i in range(n):
        sync_send(p, "a", i, "TagA")
    emit({"ev": "mark", "name": "run1"})
    r1 = Recorder("run1")
    wait_until(lambda: r1.count() >= n)
    time.sleep(int(os.environ.get("KEEP_RUNNING_SECS", "1")))
    r1.stop()
    for i in range(n):
        sync_send(p, "b", i, "TagA")
    p.shutdown()
    emit({"ev": "mark", "name": "run2"})
    r2 = Recorder("run2")
    wait_until(lambda: r2.count() >= n)
    time.sleep(2)
    r2.stop()
    emit({"ev": "mark", "name": "fresh"})
    fresh = Recorder("fresh", group=GROUP + "_fresh")
    wait_until(lambda: fresh.count() >= 2 * n)
    time.sleep(2)
    fresh.stop()


def s6():
    n = 50
    p = new_producer()
    for i in range(n):
        sync_send(p, "sync", i, "TagA")
    done = threading.Semaphore(0)

    def on_ok(i):
        def cb(result):
            send_event("async", i, result)
            done.release()
        return cb

    def on_err(i):
        def cb(exc):
            send_event("async", i, err=repr(exc))
            done.release()
        return cb

    for i in range(2 * n):
        p.send_async(make_message("async", i, "TagA"), on_ok(i), on_err(i))
    for _ in range(2 * n):
        if not done.acquire(timeout=max(0.0, DEADLINE - time.time())):
            break
    for i in range(2 * n):
        try:
            p.send_oneway(make_message("oneway", i, "TagA"))
            emit({"ev": "send", "kind": "oneway", "i": i, "ok": True})
        except Exception as e:
            send_event("oneway", i, err=repr(e))
    for i in range(n):
        # hashing_queue_selector: arg % queue count, so arg 1 selects queue 1 every time.
        try:
            send_event("ordered", i, p.send_orderly(make_message("ordered", i, "TagA"), 1))
        except Exception as e:
            send_event("ordered", i, err=repr(e))
    p.shutdown()
    emit({"ev": "unsupported", "kinds": ["batch"],
          "why": "C++ flags a batch \"1\", which Java parses as false and stores as one message (Q4)"})
    expected = n + 2 * n + 2 * n + n
    c = Recorder("c1")
    wait_until(lambda: c.count() >= expected)
    time.sleep(2)
    c.stop()


def s7():
    n = 100
    c1 = Recorder("c1", broadcast=True)
    c2 = Recorder("c2", broadcast=True)
    time.sleep(5)
    p = new_producer()
    for i in range(n):
        sync_send(p, "sync", i, "TagA")
    p.shutdown()
    wait_until(lambda: c1.count() >= n and c2.count() >= n)
    time.sleep(2)
    c1.stop()
    c2.stop()


def s8():
    sizes = [int(s) for s in os.environ.get("S8_SIZES", "5000,100000").split(",")]
    p = new_producer()
    for size in sizes:
        sync_send(p, "big", size, "TagA", pattern_body(size))
    p.shutdown()
    c = Recorder("c1")
    wait_until(lambda: c.count() >= len(sizes))
    time.sleep(2)
    c.stop()


def watchdog():
    time.sleep(max(0.0, DEADLINE - time.time()) + 20)
    emit({"ev": "mark", "name": "hard-timeout"})
    os._exit(3)


if __name__ == "__main__":
    threading.Thread(target=watchdog, daemon=True).start()
    if len(sys.argv) == 7 and sys.argv[2] == "--consume":
        consumer_child(sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6] == "1")
    scenarios = {"s1": s1, "s3": s3, "s4": s4, "s5": s5, "s6": s6, "s7": s7, "s8": s8}
    if SCENARIO not in scenarios:
        sys.stderr.write("unknown scenario %s\n" % SCENARIO)
        os._exit(2)
    try:
        scenarios[SCENARIO]()
        emit({"ev": "mark", "name": "done"})
        code = 0
    except Exception as e:
        emit({"ev": "error", "err": repr(e)})
        code = 1
    # os._exit: the C++ 2.1.0 library can crash in its static destructors at interpreter exit
    # (seen against other brokers); the events are already flushed.
    os._exit(code)
