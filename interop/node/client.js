#!/usr/bin/env node
// amqplib scenarios that interop/test_node_amqplib.py and interop/test_cross_language.py
// drive against amqpd and RabbitMQ. Usage: node client.js COMMAND < request.json;
// prints one JSON document. Header values travel as typed JSON: {"t": TAG, "v": VALUE}
// with TAG an AMQP field-table type letter (see interop/crosslang.py).
'use strict';

const amqp = require('amqplib');

const PROPERTY_NAMES = {
  content_type: 'contentType',
  content_encoding: 'contentEncoding',
  delivery_mode: 'deliveryMode',
  priority: 'priority',
  correlation_id: 'correlationId',
  reply_to: 'replyTo',
  expiration: 'expiration',
  message_id: 'messageId',
  timestamp: 'timestamp',
  type: 'type',
  user_id: 'userId',
  app_id: 'appId',
};

const EXPLICIT = {
  b: 'int8', B: 'uint8', s: 'int16', u: 'uint16', I: 'int32', i: 'uint32', l: 'int64',
  f: 'float', d: 'double', T: 'timestamp',
};

function toAmqp(typed) {
  const { t, v } = typed;
  if (t in EXPLICIT) return { '!': EXPLICIT[t], value: v };
  switch (t) {
    case 't': return Boolean(v);
    case 'S': return v;
    case 'x': return Buffer.from(v, 'base64');
    case 'V': return null;
    case 'D': return { '!': 'decimal', value: { places: v.scale, digits: v.value } };
    case 'F': return tableToAmqp(v);
    case 'A': return v.map(toAmqp);
    default: throw new Error(`unknown type tag ${t}`);
  }
}

function tableToAmqp(table) {
  const out = {};
  for (const [key, value] of Object.entries(table)) out[key] = toAmqp(value);
  return out;
}

// amqplib decodes every numeric type to a JS number: tag 'n' says "a number".
function fromAmqp(value) {
  if (value === null || value === undefined) return { t: 'V', v: null };
  if (typeof value === 'boolean') return { t: 't', v: value };
  if (typeof value === 'number') return { t: 'n', v: value };
  if (typeof value === 'string') return { t: 'S', v: value };
  if (Buffer.isBuffer(value)) return { t: 'x', v: value.toString('base64') };
  if (Array.isArray(value)) return { t: 'A', v: value.map(fromAmqp) };
  if (Object.hasOwn(value, '!')) {
    if (value['!'] === 'decimal') {
      return { t: 'D', v: { scale: value.value.places, value: value.value.digits } };
    }
    if (value['!'] === 'timestamp') return { t: 'T', v: value.value };
  }
  return { t: 'F', v: tableFromAmqp(value) };
}

function tableFromAmqp(table) {
  const out = {};
  for (const [key, value] of Object.entries(table)) out[key] = fromAmqp(value);
  return out;
}

function publishOptions(properties = {}) {
  const options = {};
  for (const [name, value] of Object.entries(properties)) {
    if (name === 'headers') options.headers = tableToAmqp(value);
    else options[PROPERTY_NAMES[name]] = value;
  }
  return options;
}

function describe(msg) {
  const properties = {};
  for (const [name, field] of Object.entries(PROPERTY_NAMES)) {
    const value = msg.properties[field];
    if (value !== undefined && value !== null) properties[name] = value;
  }
  if (msg.properties.headers !== undefined) {
    properties.headers = tableFromAmqp(msg.properties.headers);
  }
  return {
    body: msg.content.toString('base64'),
    exchange: msg.fields.exchange,
    routing_key: msg.fields.routingKey,
    redelivered: msg.fields.redelivered,
    properties,
  };
}

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { data += chunk; });
    process.stdin.on('end', () => resolve(data ? JSON.parse(data) : {}));
    process.stdin.on('error', reject);
  });
}

function errorInfo(err) {
  return { code: err.code, message: err.message.split('\n')[0] };
}

// Publish messages; with "confirm", on a confirm channel and wait for the acks.
async function publish(req) {
  const conn = await amqp.connect(req.url);
  try {
    const ch = req.confirm ? await conn.createConfirmChannel() : await conn.createChannel();
    const returned = [];
    ch.on('return', (msg) => returned.push(describe(msg)));
    for (const m of req.messages) {
      const options = publishOptions(m.properties);
      if (req.mandatory) options.mandatory = true;
      ch.publish(req.exchange || '', req.routing_key, Buffer.from(m.body, 'base64'), options);
    }
    if (req.confirm) await ch.waitForConfirms();
    await ch.close();
    return { published: req.messages.length, returned };
  } finally {
    await conn.close();
  }
}

// Consume `count` messages (acking each), then cancel and report them.
async function consume(req) {
  const conn = await amqp.connect(req.url);
  try {
    const ch = await conn.createChannel();
    if (req.prefetch) await ch.prefetch(req.prefetch);
    const got = [];
    let consumerTag;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out with ${got.length} of ${req.count} messages`)),
        req.timeout_ms || 20000,
      );
      ch.consume(req.queue, (msg) => {
        got.push(describe(msg));
        ch.ack(msg);
        if (got.length === req.count) {
          clearTimeout(timer);
          resolve();
        }
      }).then((ok) => { consumerTag = ok.consumerTag; }, reject);
    });
    await ch.cancel(consumerTag);
    await ch.close();
    return { messages: got };
  } finally {
    await conn.close();
  }
}

// A confirm channel: per-message callbacks, a mandatory message nobody takes, and a
// publish to a missing exchange (the channel error fails the outstanding confirm).
async function confirms(req) {
  const conn = await amqp.connect(req.url);
  try {
    const ch = await conn.createConfirmChannel();
    const returned = [];
    ch.on('return', (msg) => returned.push(describe(msg)));
    const outcomes = await Promise.all(Array.from({ length: req.count }, (_, i) => new Promise(
      (resolve) => ch.sendToQueue(req.queue, Buffer.from(`m${i}`), { persistent: true },
        (err) => resolve(err ? 'nack' : 'ack')),
    )));
    const unroutable = await new Promise((resolve) => ch.publish('', req.unroutable,
      Buffer.from('lost'), { mandatory: true }, (err) => resolve(err ? 'nack' : 'ack')));
    await ch.waitForConfirms();
    const checked = await ch.checkQueue(req.queue);

    const doomed = await conn.createConfirmChannel();
    const channelError = new Promise((resolve) => doomed.on('error', resolve));
    const failed = await new Promise((resolve) => doomed.publish(req.missing_exchange, 'k',
      Buffer.from('x'), {}, (err) => resolve(err ? 'failed' : 'ack')));
    const error = await channelError;
    return {
      acks: outcomes.filter((o) => o === 'ack').length,
      unroutable,
      returned,
      message_count: checked.messageCount,
      missing_exchange: { outcome: failed, ...errorInfo(error) },
    };
  } finally {
    await conn.close();
  }
}

// Work queue with prefetch: nack-requeue the first delivery of one message.
async function worker(req) {
  const conn = await amqp.connect(req.url);
  try {
    const ch = await conn.createChannel();
    await ch.prefetch(req.prefetch);
    for (let i = 0; i < req.count; i++) ch.sendToQueue(req.queue, Buffer.from(`job-${i}`));
    let maxUnacked = 0;
    let unacked = 0;
    const seen = [];
    let handled = 0;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${seen.length}`)), 20000);
      ch.consume(req.queue, (msg) => {
        unacked += 1;
        maxUnacked = Math.max(maxUnacked, unacked);
        const body = msg.content.toString();
        seen.push([body, msg.fields.redelivered]);
        // Hold each message a moment so that the prefetch window fills up.
        setImmediate(() => {
          unacked -= 1;
          if (body === 'job-3' && !msg.fields.redelivered) ch.nack(msg, false, true);
          else ch.ack(msg);
          handled += 1;
          if (handled === req.count + 1) {
            clearTimeout(timer);
            resolve();
          }
        });
      }).catch(reject);
    });
    return { seen, max_unacked: maxUnacked };
  } finally {
    await conn.close();
  }
}

// RPC over direct reply-to (amq.rabbitmq.reply-to).
async function rpc(req) {
  const conn = await amqp.connect(req.url);
  try {
    const server = await conn.createChannel();
    await server.assertQueue(req.queue, { exclusive: true });
    await server.consume(req.queue, (msg) => {
      const n = Number(msg.content.toString());
      server.sendToQueue(msg.properties.replyTo, Buffer.from(String(n * n)),
        { correlationId: msg.properties.correlationId });
      server.ack(msg);
    });
    const client = await conn.createChannel();
    const replies = {};
    let replyTo;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('rpc timed out')), 20000);
      client.consume('amq.rabbitmq.reply-to', (msg) => {
        replyTo = replyTo || msg.fields.routingKey;
        replies[msg.properties.correlationId] = msg.content.toString();
        if (Object.keys(replies).length === req.count) {
          clearTimeout(timer);
          resolve();
        }
      }, { noAck: true }).then(() => {
        for (let i = 0; i < req.count; i++) {
          client.sendToQueue(req.queue, Buffer.from(String(i)),
            { replyTo: 'amq.rabbitmq.reply-to', correlationId: `c${i}` });
        }
      }, reject);
    });
    return { replies, reply_to: replyTo };
  } finally {
    await conn.close();
  }
}

// Channel-level errors: the error reaches the channel, the connection goes on.
async function errors(req) {
  const conn = await amqp.connect(req.url);
  try {
    const out = {};
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    try {
      await ch.checkQueue(req.missing_queue);
      out.missing_queue = 'no error';
    } catch (err) {
      out.missing_queue = errorInfo(err);
    }
    const ch2 = await conn.createChannel();
    ch2.on('error', () => {});
    await ch2.assertExchange(req.exchange, 'direct', { autoDelete: true });
    try {
      await ch2.assertExchange(req.exchange, 'topic', { autoDelete: true });
      out.redeclare = 'no error';
    } catch (err) {
      out.redeclare = errorInfo(err);
    }
    const ch3 = await conn.createChannel();
    const q = await ch3.assertQueue('', { exclusive: true });
    out.server_named = q.queue;
    // Deleting a consumed queue: the broker cancels the consumer (callback gets null).
    const cancelled = new Promise((resolve) => {
      ch3.consume(q.queue, (msg) => { if (msg === null) resolve(true); });
    });
    const ch4 = await conn.createChannel();
    await ch4.deleteQueue(q.queue);
    out.consumer_cancelled = await cancelled;
    await ch3.close();
    try {
      const bad = await amqp.connect(req.bad_url);
      await bad.close();
      out.bad_login = 'no error';
    } catch (err) {
      out.bad_login = err.message.split('\n')[0];
    }
    return out;
  } finally {
    await conn.close();
  }
}

const COMMANDS = { publish, consume, confirms, worker, rpc, errors };

async function main() {
  const command = COMMANDS[process.argv[2]];
  if (!command) throw new Error(`unknown command ${process.argv[2]}`);
  const result = await command(await readStdin());
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
