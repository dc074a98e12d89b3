#!/usr/bin/env node
// The shop's HTTP API (Node.js, amqplib): POST /orders takes an order, publishes an
// order.placed event to the "shop" topic exchange and answers 202 with the order id.
// Fulfilment (fulfilment/main.go) picks it up from there.
//
//   npm install        # amqplib, from package.json
//   node api.js        # listens on 127.0.0.1:$PORT (default 3000; 0 picks a free port)
//   curl -X POST -d '{"sku": "book", "quantity": 2}' http://127.0.0.1:3000/orders
'use strict';

const crypto = require('crypto');
const http = require('http');
const amqp = require('amqplib');

const URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/%2F';
const PREFIX = process.env.EXAMPLE_PREFIX || ''; // in front of every queue and exchange name
const EXCHANGE = `${PREFIX}shop`;

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function main() {
  const connection = await amqp.connect(URL);
  // A confirm channel: the publish callback runs once the broker has the event.
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange(EXCHANGE, 'topic', { durable: true });

  const publish = (event, body) => new Promise((resolve, reject) => {
    channel.publish(EXCHANGE, event, Buffer.from(JSON.stringify(body)), {
      persistent: true,
      contentType: 'application/json',
      messageId: body.order_id,
    }, (err) => (err ? reject(err) : resolve()));
  });

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/orders') return reply(res, 404, { error: 'not found' });
    let raw = '';
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', async () => {
      let order;
      try {
        const { sku, quantity } = JSON.parse(raw);
        order = { order_id: crypto.randomUUID(), sku, quantity };
      } catch (err) {
        return reply(res, 400, { error: 'expected JSON {"sku": ..., "quantity": ...}' });
      }
      try {
        await publish('order.placed', order);
        reply(res, 202, { status: 'accepted', order_id: order.order_id });
      } catch (err) {
        reply(res, 503, { error: `could not queue the order: ${err.message}` });
      }
    });
  });

  const shutdown = async () => {
    server.close();
    await channel.close();
    await connection.close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  server.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
    console.log(JSON.stringify({ listening: `http://127.0.0.1:${server.address().port}` }));
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
