'use strict';
// Scenario driver for the npm client ali-ons 3.12.0, used exactly as installed (no patching).
//
// `node driver.js <scenario>` runs one scenario (s1 s3 s4 s5 s6 s7 s8, see ../README.md) against
// the NameServer in $NAMESRV and writes what happened as JSON lines to $EVENTS: one "send" event
// per send attempt, one "recv" event per delivered message, "mark" events between phases. The
// driver judges nothing; ../check.py turns the events into PASS/FAIL lines, so the verdict logic
// is the same for every client. Every wait is bounded by $DEADLINE_SECS; a hard timer exits.
const fs = require('fs');
const { Producer, Consumer, Message } = require('ali-ons');

const scenario = process.argv[2];
const nameSrv = process.env.NAMESRV;
const topic = process.env.TOPIC;
const group = process.env.GROUP;
const run = process.env.RUN_ID;
const deadline = Date.now() + 1000 * parseInt(process.env.DEADLINE_SECS || '90', 10);
const events = fs.openSync(process.env.EVENTS, 'a');
// nameSrv set: ali-ons never uses HTTP, but its constructor asserts an httpclient object exists.
const httpclient = { request() { throw new Error('http not used when nameSrv is set'); } };
const common = { httpclient, nameSrv, clientIP: '127.0.0.1' };

const sleep = ms => new Promise(r => setTimeout(r, ms));
function emit(ev) { fs.writeSync(events, JSON.stringify({ t: Date.now(), ...ev }) + '\n'); }
function bodyOf(kind, i) { return `${scenario}-${kind}-${i}-${run}`; }

// Deterministic printable body of `size` bytes (same generator in every driver, see README).
function patternBody(size) {
  const out = Buffer.alloc(size);
  let x = size >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = 97 + ((x >>> 16) % 26);
  }
  return out;
}

async function waitUntil(pred) {
  while (!pred() && Date.now() < deadline) await sleep(100);
  return pred();
}

async function newProducer() {
  const p = new Producer({ ...common, producerGroup: `${group}_pg`, instanceName: `p${process.pid}` });
  await p.ready();
  return p;
}

async function syncSend(producer, kind, i, tags, body) {
  const msg = new Message(topic, tags, body === undefined ? bodyOf(kind, i) : body);
  msg.keys = [`k-${i}`];
  msg.properties.idx = String(i);
  try {
    const r = await producer.send(msg);
    emit({ ev: 'send', kind, i, ok: r.sendStatus === 'SEND_OK', status: r.sendStatus, msgId: r.msgId,
      queueId: r.messageQueue ? r.messageQueue.queueId : null, queueOffset: r.queueOffset });
  } catch (e) {
    emit({ ev: 'send', kind, i, ok: false, err: String(e && e.message) });
  }
}

// A push consumer that records every delivery. `opts` are ali-ons options (group, model, ...).
async function startConsumer(name, expression, opts = {}) {
  const seen = new Map();
  const c = new Consumer({ ...common, consumerGroup: group, instanceName: `${name}_${process.pid}`,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceInterval: 2000, ...opts });
  // Quirk 9: a new group's QUERY_CONSUMER_OFFSET for %RETRY% is reported as an error event; harmless.
  c.on('error', e => process.stderr.write(`consumer ${name} error: ${e && e.message}\n`));
  c.subscribe(topic, expression, async msg => {
    const body = msg.body;
    const rec = { ev: 'recv', c: name, tags: msg.tags || '', keys: msg.keys || '',
      idx: msg.properties ? msg.properties.idx : undefined, queueId: msg.queueId, queueOffset: msg.queueOffset,
      msgId: msg.msgId, clOffset: msg.commitLogOffset };
    if (scenario === 's8') {
      const i = parseInt(msg.properties.idx, 10);
      rec.i = i; rec.len = body.length; rec.bodyOk = body.equals(patternBody(i));
      seen.set(String(i), (seen.get(String(i)) || 0) + 1);
    } else {
      rec.body = body.toString();
      seen.set(rec.body, (seen.get(rec.body) || 0) + 1);
    }
    emit(rec);
  });
  await c.ready();
  return { name, c, seen };
}

async function stop(consumer) {
  await consumer.c.close();
  emit({ ev: 'mark', name: `${consumer.name}-stopped` });
}

const scenarios = {
  // S1 + S2: 1,000 sync sends with tags, keys and a user property; one clustering consumer.
  async s1() {
    const n = 1000;
    const p = await newProducer();
    for (let i = 0; i < n && Date.now() < deadline; i++) await syncSend(p, 'sync', i, 'TagA');
    await p.close();
    const c = await startConsumer('c1', '*');
    await waitUntil(() => c.seen.size >= n);
    await sleep(2000);
    await stop(c);
  },
  // S3: TagA/TagB/TagC round robin; a consumer of `TagA || TagB`.
  async s3() {
    const n = 300;
    const p = await newProducer();
    for (let i = 0; i < n && Date.now() < deadline; i++) await syncSend(p, 'sync', i, ['TagA', 'TagB', 'TagC'][i % 3]);
    await p.close();
    const c = await startConsumer('c1', 'TagA || TagB');
    await waitUntil(() => c.seen.size >= (2 * n) / 3);
    await sleep(2000);
    await stop(c);
  },
  // S4: two consumers of one group share the queues; stopping one hands its queues over.
  async s4() {
    const n = 100;
    const c1 = await startConsumer('c1', '*');
    const c2 = await startConsumer('c2', '*');
    await sleep(6000); // both registered and rebalanced (rebalanceInterval 2 s) before anything exists
    const p = await newProducer();
    emit({ ev: 'mark', name: 'phase1' });
    for (let i = 0; i < n; i++) await syncSend(p, 'p1', i, 'TagA');
    await waitUntil(() => c1.seen.size + c2.seen.size >= n);
    await sleep(7000); // past the 5 s offset persist, so c2's progress is committed when it stops
    await stop(c2);
    emit({ ev: 'mark', name: 'phase2' });
    for (let i = 0; i < n; i++) await syncSend(p, 'p2', i, 'TagA');
    await p.close();
    await waitUntil(() => [...c1.seen.keys()].filter(b => b.startsWith('s4-p2-')).length >= n);
    await sleep(2000);
    await stop(c1);
  },
  // S5: resume from the committed offset; a new group reading from the first offset sees all.
  async s5() {
    const n = 100;
    const p = await newProducer();
    for (let i = 0; i < n; i++) await syncSend(p, 'a', i, 'TagA');
    emit({ ev: 'mark', name: 'run1' });
    const r1 = await startConsumer('run1', '*');
    await waitUntil(() => r1.seen.size >= n);
    await sleep(1000 * parseInt(process.env.KEEP_RUNNING_SECS || '1', 10));
    await stop(r1);
    for (let i = 0; i < n; i++) await syncSend(p, 'b', i, 'TagA');
    await p.close();
    emit({ ev: 'mark', name: 'run2' });
    const r2 = await startConsumer('run2', '*');
    await waitUntil(() => r2.seen.size >= n);
    await sleep(2000);
    await stop(r2);
    emit({ ev: 'mark', name: 'fresh' });
    const fresh = await startConsumer('fresh', '*', { consumerGroup: `${group}_fresh` });
    await waitUntil(() => fresh.seen.size >= 2 * n);
    await sleep(2000);
    await stop(fresh);
  },
  // S6: ali-ons has only sync send (no async, oneway, batch or queue selection API).
  async s6() {
    const n = 50;
    const p = await newProducer();
    for (let i = 0; i < n; i++) await syncSend(p, 'sync', i, 'TagA');
    await p.close();
    emit({ ev: 'unsupported', kinds: ['async', 'oneway', 'batch', 'ordered'], why: 'ali-ons has no API for them' });
    const c = await startConsumer('c1', '*');
    await waitUntil(() => c.seen.size >= n);
    await sleep(2000);
    await stop(c);
  },
  // S7: two broadcasting consumers of one group each receive everything.
  async s7() {
    const n = 100;
    const c1 = await startConsumer('c1', '*', { isBroadcast: true });
    const c2 = await startConsumer('c2', '*', { isBroadcast: true });
    await sleep(5000);
    const p = await newProducer();
    for (let i = 0; i < n; i++) await syncSend(p, 'sync', i, 'TagA');
    await p.close();
    await waitUntil(() => c1.seen.size >= n && c2.seen.size >= n);
    await sleep(2000);
    await stop(c1);
    await stop(c2);
  },
  // S8: bodies above the 4 KiB compression threshold, up to 3 MB, come back identical.
  async s8() {
    const sizes = (process.env.S8_SIZES || '5000,100000,300000,3000000').split(',').map(Number);
    const p = await newProducer();
    for (const size of sizes) await syncSend(p, 'big', size, 'TagA', patternBody(size));
    await p.close();
    const c = await startConsumer('c1', '*');
    await waitUntil(() => c.seen.size >= sizes.length);
    await sleep(2000);
    await stop(c);
  },
};

setTimeout(() => { emit({ ev: 'mark', name: 'hard-timeout' }); process.exit(3); },
  Math.max(0, deadline - Date.now()) + 20000).unref();
if (!scenarios[scenario]) {
  process.stderr.write(`unknown scenario ${scenario}\n`);
  process.exit(2);
}
scenarios[scenario]().then(() => { emit({ ev: 'mark', name: 'done' }); process.exit(0); },
  e => { emit({ ev: 'error', err: String(e && e.stack) }); process.exit(1); });
