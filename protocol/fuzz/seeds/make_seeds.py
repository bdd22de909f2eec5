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
