# Bunny scenarios that interop/test_ruby_bunny.py drives against amqpd and RabbitMQ.
# Usage: ruby client.rb COMMAND < request.json; prints one JSON document.
# Header values travel as typed JSON, {"t" => TAG, "v" => VALUE} (interop/crosslang.py).
# Bunny writes Integer as 'l', Float as 'd', String as 'S'; it reads 'S' and 'x' alike
# as String, which this script reports as tag "str" with the bytes in base64.
require 'base64'
require 'bigdecimal'
require 'bunny'
require 'json'
require 'timeout'

PROPERTIES = %w[content_type content_encoding delivery_mode priority correlation_id
                reply_to expiration message_id timestamp type user_id app_id].freeze

def to_amqp(typed)
  tag = typed['t']
  value = typed['v']
  case tag
  when 't' then value ? true : false
  when 'b', 'B', 's', 'u', 'I', 'i', 'l' then Integer(value)
  when 'f' then AMQ::Protocol::Float32Bit.new(Float(value))
  when 'd' then Float(value)
  when 'D' then BigDecimal(value['value'].to_s) / (10**value['scale'])
  when 'S' then value
  when 'x' then Base64.strict_decode64(value)
  when 'T' then Time.at(value).utc
  when 'V' then nil
  when 'F' then value.transform_values { |v| to_amqp(v) }
  when 'A' then value.map { |v| to_amqp(v) }
  else raise "unknown tag #{tag}"
  end
end

def from_amqp(value)
  case value
  when nil then { 't' => 'V', 'v' => nil }
  when true, false then { 't' => 't', 'v' => value }
  when Integer, Float then { 't' => 'n', 'v' => value }
  when BigDecimal then { 't' => 'D', 'v' => value.to_s('F') }
  when String then { 't' => 'str', 'v' => Base64.strict_encode64(value.b) }
  when Time then { 't' => 'T', 'v' => value.to_i }
  when Hash then { 't' => 'F', 'v' => value.transform_values { |v| from_amqp(v) } }
  when Array then { 't' => 'A', 'v' => value.map { |v| from_amqp(v) } }
  else { 't' => "?#{value.class}", 'v' => value.to_s }
  end
end

def connect(request)
  conn = Bunny.new(request['url'], logger: Logger.new(nil))
  conn.start
  conn
end

def publish(request)
  conn = connect(request)
  ch = conn.create_channel
  ch.confirm_select
  exchange = request['exchange'].to_s.empty? ? ch.default_exchange : ch.exchange(request['exchange'], passive: true)
  request['messages'].each do |message|
    options = { routing_key: request['routing_key'] }
    message['properties'].each do |name, value|
      options[name.to_sym] = name == 'headers' ? value.transform_values { |v| to_amqp(v) } : value
    end
    exchange.publish(Base64.strict_decode64(message['body']), options)
  end
  raise 'nacked' unless ch.wait_for_confirms

  ch.close
  conn.close
  { 'published' => request['messages'].size }
end

def describe(delivery_info, properties, body)
  props = {}
  PROPERTIES.each do |name|
    value = properties.public_send(name.to_sym)
    next if value.nil?

    props[name] = value.is_a?(Time) ? value.to_i : value
  end
  props['headers'] = properties.headers.transform_values { |v| from_amqp(v) } if properties.headers
  {
    'body' => Base64.strict_encode64(body.b),
    'exchange' => delivery_info.exchange,
    'routing_key' => delivery_info.routing_key,
    'redelivered' => delivery_info.redelivered?,
    'properties' => props
  }
end

def consume(request)
  conn = connect(request)
  ch = conn.create_channel
  ch.prefetch(request['prefetch']) if request['prefetch']
  queue = ch.queue(request['queue'], passive: true)
  got = Queue.new
  consumer = queue.subscribe(manual_ack: true) do |delivery_info, properties, body|
    got << describe(delivery_info, properties, body)
    ch.ack(delivery_info.delivery_tag)
  end
  messages = []
  Timeout.timeout(20, RuntimeError, "timed out waiting for #{request['count']} messages") do
    messages << got.pop while messages.size < request['count']
  end
  consumer.cancel
  ch.close
  conn.close
  { 'messages' => messages }
end

def errors(request)
  conn = connect(request)
  out = {}
  ch = conn.create_channel
  begin
    ch.queue(request['missing_queue'], passive: true)
    out['missing_queue'] = 'no error'
  rescue Bunny::NotFound => e
    out['missing_queue'] = { 'class' => e.class.name, 'message' => e.message }
  end
  out['channel_open'] = ch.open?
  ch2 = conn.create_channel
  out['server_named'] = ch2.queue('', exclusive: true).name
  conn.close
  out
end

COMMANDS = { 'publish' => method(:publish), 'consume' => method(:consume), 'errors' => method(:errors) }.freeze

command = COMMANDS.fetch(ARGV[0]) { abort "unknown command #{ARGV[0]}" }
puts JSON.generate(command.call(JSON.parse($stdin.read)))
