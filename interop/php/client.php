<?php
// php-amqplib scenarios that interop/test_php_amqplib.py drives against amqpd and
// RabbitMQ. Usage: php client.php COMMAND < request.json; prints one JSON document.
// Header values travel as typed JSON, {"t": TAG, "v": VALUE} (interop/crosslang.py).
// php-amqplib keeps the wire type of every field it reads and writes the type it is
// given, except f and d, which it can read but not write.

require_once 'PhpAmqpLib/autoload.php';

use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPAbstractCollection as C;
use PhpAmqpLib\Wire\AMQPArray;
use PhpAmqpLib\Wire\AMQPDecimal;
use PhpAmqpLib\Wire\AMQPTable;

const SCALARS = [
    'b' => C::T_INT_SHORTSHORT, 'B' => C::T_INT_SHORTSHORT_U, 's' => C::T_INT_SHORT,
    'u' => C::T_INT_SHORT_U, 'I' => C::T_INT_LONG, 'i' => C::T_INT_LONG_U,
    'l' => C::T_INT_LONGLONG, 'T' => C::T_TIMESTAMP, 't' => C::T_BOOL,
    'S' => C::T_STRING_LONG, 'x' => C::T_BYTES, 'V' => C::T_VOID,
];

const PROPERTIES = ['content_type', 'content_encoding', 'delivery_mode', 'priority',
    'correlation_id', 'reply_to', 'expiration', 'message_id', 'timestamp', 'type',
    'user_id', 'app_id'];

/** @return array{0: mixed, 1: int} the value and its php-amqplib type */
function to_amqp(array $typed): array
{
    $tag = $typed['t'];
    $v = $typed['v'] ?? null;
    if ($tag === 'F') {
        return [table_to_amqp($v), C::T_TABLE];
    }
    if ($tag === 'A') {
        $array = new AMQPArray();
        foreach ($v as $item) {
            [$value, $type] = to_amqp($item);
            $array->push($value, $type);
        }
        return [$array, C::T_ARRAY];
    }
    if ($tag === 'D') {
        return [new AMQPDecimal($v['value'], $v['scale']), C::T_DECIMAL];
    }
    if ($tag === 'x') {
        return [base64_decode($v), C::T_BYTES];
    }
    if (!isset(SCALARS[$tag])) {
        throw new RuntimeException("php-amqplib cannot write field type $tag");
    }
    return [$v, SCALARS[$tag]];
}

function table_to_amqp($table): AMQPTable
{
    $out = new AMQPTable();
    foreach ($table as $key => $typed) {
        [$value, $type] = to_amqp($typed);
        $out->set((string) $key, $value, $type);
    }
    return $out;
}

function from_amqp(int $type, $value): array
{
    $tag = C::getSymbolForDataType($type);
    switch ($tag) {
        case 'F':
            return ['t' => 'F', 'v' => table_from_amqp($value)];
        case 'A':
            $items = [];
            foreach ($value as $entry) {
                $items[] = from_amqp($entry[0], $entry[1]);
            }
            return ['t' => 'A', 'v' => $items];
        case 'D':
            return ['t' => 'D', 'v' => ['scale' => (int) $value->getE(), 'value' => (int) $value->getN()]];
        case 'x':
            return ['t' => 'x', 'v' => base64_encode($value)];
        case 't':
            return ['t' => 't', 'v' => (bool) $value];
        case 'V':
            return ['t' => 'V', 'v' => null];
        case 'f':
        case 'd':
            return ['t' => $tag, 'v' => (float) $value];
        case 'S':
            return ['t' => 'S', 'v' => $value];
        default:
            return ['t' => $tag, 'v' => (int) $value];
    }
}

function table_from_amqp(AMQPTable $table): object
{
    $out = [];
    foreach ($table as $key => $entry) {
        $out[(string) $key] = from_amqp($entry[0], $entry[1]);
    }
    return (object) $out;
}

function connect(array $req): AMQPStreamConnection
{
    return new AMQPStreamConnection($req['host'], $req['port'], $req['user'], $req['password'], $req['vhost']);
}

function publish(array $req): array
{
    $conn = connect($req);
    $ch = $conn->channel();
    $ch->confirm_select();
    $acks = 0;
    $ch->set_ack_handler(function () use (&$acks) {
        $acks++;
    });
    foreach ($req['messages'] as $m) {
        $props = [];
        foreach ($m['properties'] as $name => $value) {
            $props[$name === 'headers' ? 'application_headers' : $name] =
                $name === 'headers' ? table_to_amqp($value) : $value;
        }
        $ch->basic_publish(new AMQPMessage(base64_decode($m['body']), $props), '', $req['routing_key']);
    }
    $ch->wait_for_pending_acks_returns(20);
    $ch->close();
    $conn->close();
    return ['published' => count($req['messages']), 'acks' => $acks];
}

function describe(AMQPMessage $msg): array
{
    $props = [];
    foreach (PROPERTIES as $name) {
        if ($msg->has($name)) {
            $props[$name] = $msg->get($name);
        }
    }
    if ($msg->has('application_headers')) {
        $props['headers'] = table_from_amqp($msg->get('application_headers'));
    }
    return [
        'body' => base64_encode($msg->getBody()),
        'exchange' => $msg->getExchange(),
        'routing_key' => $msg->getRoutingKey(),
        'redelivered' => (bool) $msg->isRedelivered(),
        'properties' => (object) $props,
    ];
}

function consume(array $req): array
{
    $conn = connect($req);
    $ch = $conn->channel();
    $ch->basic_qos(0, $req['prefetch'] ?? 10, false);
    $got = [];
    $tag = $ch->basic_consume($req['queue'], '', false, false, false, false, function (AMQPMessage $msg) use (&$got) {
        $got[] = describe($msg);
        $msg->ack();
    });
    while (count($got) < $req['count']) {
        $ch->wait(null, false, 20);
    }
    $ch->basic_cancel($tag);
    $ch->close();
    $conn->close();
    return ['messages' => $got];
}

$commands = ['publish' => 'publish', 'consume' => 'consume'];
$command = $argv[1] ?? '';
if (!isset($commands[$command])) {
    fwrite(STDERR, "unknown command $command\n");
    exit(1);
}
$request = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
echo json_encode(($commands[$command])($request), JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE), "\n";
