#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz corpus (protocol/fuzz/corpus/<target>/seed-*).

Seeds are frames and headers shaped like what real clients send (real-clients.md, protocol.md
§1.3): the fuzzer mutates from these. Re-run after changing; the corpus is committed.
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")

def frame(header: bytes, body: bytes = b"", ser: int = 0) -> bytes:
    return struct.pack(">iI", 4 + len(header) + len(body), (ser << 24) | len(header)) + header + body

def binary_header(code, lang, version, opaque, flag, remark=None, ext=None) -> bytes:
    out = struct.pack(">hBhii", code, lang, version, opaque, flag)
    r = (remark or "").encode()
    out += struct.pack(">i", len(r)) + r
    area = b""
    for k, v in (ext or {}).items():
        kb, vb = k.encode(), v.encode()
        area += struct.pack(">h", len(kb)) + kb + struct.pack(">i", len(vb)) + vb
    return out + struct.pack(">i", len(area)) + area

JAVA_SEND_V2 = (
    b'{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0",'
    b'"g":"1700000000000","h":"0","i":"KEYS\\u0001k1\\u0002TAGS\\u0001TagA\\u0002WAIT\\u0001true\\u0002",'
    b'"j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":17,'
    b'"serializeTypeCurrentRPC":"JSON","version":479}'
)
CPP_SEND_V1 = (
    b'{"code":10,"extFields":{"AccessKey":"","OnsChannel":"ALIYUN","Signature":"x","batch":"1",'
    b'"bornTimestamp":"1700000000000","defaultTopic":"TBW102","defaultTopicQueueNums":4,"flag":0,'
    b'"producerGroup":"py_test_pg","properties":"KEYS\\u0001key-0\\u0002TAGS\\u0001TagA\\u0002",'
    b'"queueId":0,"reconsumeTimes":0,"sysFlag":0,"topic":"PyTestTopic","unitMode":"0"},'
    b'"flag":0,"language":"CPP","opaque":3,"remark":"","version":63}\n'
)
CPP_SEND_V2 = (
    b'{"code":310,"extFields":{"a":"g","b":"T","c":"TBW102","d":4,"e":0,"f":0,"g":"1700000000000",'
    b'"h":0,"i":"TAGS\\u0001TagA\\u0002","j":0,"k":"0","l":16,"m":"0"},"flag":0,"language":"CPP",'
    b'"opaque":9,"version":333}\n'
)
ALI_ONS_CREATE = (
    b'{"code":17,"language":"JAVA","opaque":2,"flag":0,"version":121,"extFields":{"topic":"NodeTestTopic",'
    b'"defaultTopic":"TBW102","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG",'
    b'"topicSysFlag":0,"order":false}}'
)
GO_HEARTBEAT = b'{"code":34,"flag":0,"language":"GO","opaque":1,"remark":"","version":317}'
CPP_HEARTBEAT_BODY = (
    b'{"clientID":"127.0.0.1@1234","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,'
    b'"groupName":"g","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1795298845132",'
    b'"topic":"%RETRY%g"},{"subString":"*","subVersion":"1795298845133","topic":"T"}]}]}\n'
)
RESPONSE = (
    b'{"code":0,"extFields":{"msgId":"7F00000100002A9F0000000000001F40","queueId":"1","queueOffset":"0",'
    b'"MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":17,'
    b'"serializeTypeCurrentRPC":"JSON","version":409}'
)

def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

headers = {"java-send-v2": JAVA_SEND_V2, "cpp-send-v1": CPP_SEND_V1, "cpp-send-v2": CPP_SEND_V2,
           "ali-ons-create-topic": ALI_ONS_CREATE, "go-heartbeat": GO_HEARTBEAT, "response": RESPONSE}
for name, h in headers.items():
    write("header_json", name, h)
    write("frame", name, frame(h, b"hello body" if "send" in name else b""))
write("frame", "cpp-heartbeat", frame(GO_HEARTBEAT.replace(b'"GO"', b'"CPP"'), CPP_HEARTBEAT_BODY))
bin_send = binary_header(310, 0, 409, 5, 0, None, {"a": "PG", "b": "T", "e": "-1", "i": "TAGS\x01A\x02"})
bin_resp = binary_header(0, 0, 409, 5, 1, "ok", {"queueOffset": "12"})
write("header_binary", "send", bin_send)
write("header_binary", "response", bin_resp)
write("frame", "binary-send", frame(bin_send, b"payload", ser=1))
write("frame", "two-frames", frame(JAVA_SEND_V2, b"x") + frame(bin_resp, ser=1))
write("frame", "oversize-length", struct.pack(">iI", 0x7FFFFFF0, 10))
write("frame", "header-beyond-frame", struct.pack(">iI", 8, 100) + b"\0" * 4)

# --- message codecs -------------------------------------------------------------------------
def batch_entry(flag: int, body: bytes, props: str) -> bytes:
    p = props.encode()
    total = 20 + len(body) + 2 + len(p)
    return struct.pack(">iiiii", total, 0, 0, flag, len(body)) + body + struct.pack(">h", len(p)) + p

write("batch_body", "two", batch_entry(0, b"hello", "TAGS\x01A\x02UNIQ_KEY\x01X\x02") + batch_entry(7, b"", ""))
write("batch_body", "cpp-like", batch_entry(0, b"msg-0", "KEYS\x01key-0\x02TAGS\x01TagA\x02UNIQ_KEY\x01" + "0" * 32 + "\x02"))
write("batch_body", "bad-total", struct.pack(">iiiii", 100, 0, 0, 0, 5) + b"hello")

def stored_record(topic: str, body: bytes, props: str, queue_offset=0, phys=0, v2=False) -> bytes:
    t, p = topic.encode(), props.encode()
    import zlib
    crc = zlib.crc32(body) & 0x7FFFFFFF
    magic = 0xDAA320AB if v2 else 0xDAA320A7
    head = struct.pack(">iIiiiqqiq", 0, magic, crc, 1, 0, queue_offset, phys, 0, 1700000000000)
    head += bytes([127, 0, 0, 1]) + struct.pack(">i", 50000)          # born host
    head += struct.pack(">q", 1700000000001)
    head += bytes([127, 0, 0, 1]) + struct.pack(">i", 10911)          # store host
    head += struct.pack(">iq", 0, 0)
    rec = head + struct.pack(">i", len(body)) + body
    rec += (struct.pack(">h", len(t)) if v2 else bytes([len(t)])) + t
    rec += struct.pack(">h", len(p)) + p
    return struct.pack(">i", len(rec)) + rec[4:]

r1 = stored_record("TopicTest", b"body-1", "TAGS\x01TagA\x02UNIQ_KEY\x01AB\x02")
r2 = stored_record("T" * 130, b"x" * 40, "", queue_offset=1, phys=len(r1), v2=True)
write("stored_records", "two", r1 + r2)
write("stored_records", "blank-tail", r1 + struct.pack(">iI", 8, 0xCBD43194))
write("stored_records", "torn", (r1 + r2)[:-7])
write("offset_msg_id", "ipv4", b"0A00000100002A9F0000000000001F40")
write("offset_msg_id", "ipv6", b"00000000000000000000000000000001" + b"00002A9F" + b"0000000000001F40")
write("offset_msg_id", "lowercase", b"7f00000100002a9f0000000000000000")

# --- JSON bodies -----------------------------------------------------------------------------
JAVA_HEARTBEAT = (
    b'{"clientID":"192.168.0.2@12345#123456789","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",'
    b'"consumeType":"CONSUME_PASSIVELY","groupName":"CG","messageModel":"CLUSTERING","unitMode":false,'
    b'"subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA",'
    b'"subVersion":1700000000000,"tagsSet":["TagA"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],'
    b'"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%CG"}]}],'
    b'"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"PG"},{"groupName":"CLIENT_INNER_PRODUCER"}],'
    b'"withoutSub":false}'
)
ALI_HEARTBEAT = (
    b'{"clientID":"127.0.0.1@c1","producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"consumerDataSet":'
    b'[{"groupName":"node_test_cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING",'
    b'"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"topic":"T","subString":"*",'
    b'"classFilterMode":false,"tagsSet":[],"codeSet":[],"subVersion":1700000000000}],"unitMode":false}]}'
)
ROUTE_FASTJSON = (
    b'{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a",'
    b'"cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":'
    b'[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}'
)
ROUTE_STANDARD = ROUTE_FASTJSON.replace(b'{0:', b'{"0":').replace(b',1:', b',"1":')
CONSUME_STATS = (
    b'{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:'
    b'{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000,"pullOffset":95}}}'
)
OFFSETS_PRETTY = b'{\n\t"offsetTable":{\n\t\t"TopicTest@CG":{0:12,1:9\n\t\t}\n\t}\n}'
write("heartbeat_body", "java", JAVA_HEARTBEAT)
write("heartbeat_body", "cpp", CPP_HEARTBEAT_BODY)
write("heartbeat_body", "ali-ons", ALI_HEARTBEAT)
write("route_json", "fastjson", ROUTE_FASTJSON)
write("route_json", "standard", ROUTE_STANDARD)
for name, body in {"consume-stats": CONSUME_STATS, "offsets-pretty": OFFSETS_PRETTY, "route": ROUTE_FASTJSON,
                   "single-quotes": b"{'a':'b',c:[1,2.5e3,true,null]}"}.items():
    write("json_body", name, body)
