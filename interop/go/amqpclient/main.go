// Command amqpclient runs amqp091-go scenarios that interop/test_go_amqp091.py and
// interop/test_cross_language.py drive against amqpd and RabbitMQ.
//
// Usage: amqpclient COMMAND < request.json; it prints one JSON document. Header
// values travel as typed JSON, {"t": TAG, "v": VALUE}, TAG an AMQP field-table
// type letter (see interop/crosslang.py). amqp091-go keeps every wire type it
// decodes, so the consumer reports exact tags.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

type typed struct {
	T string          `json:"t"`
	V json.RawMessage `json:"v"`
}

type message struct {
	Body        string                 `json:"body"`
	Exchange    string                 `json:"exchange,omitempty"`
	RoutingKey  string                 `json:"routing_key,omitempty"`
	Redelivered bool                   `json:"redelivered,omitempty"`
	Properties  map[string]interface{} `json:"properties"`
}

type request struct {
	URL             string            `json:"url"`
	Exchange        string            `json:"exchange"`
	RoutingKey      string            `json:"routing_key"`
	Queue           string            `json:"queue"`
	Count           int               `json:"count"`
	Prefetch        int               `json:"prefetch"`
	Confirm         bool              `json:"confirm"`
	Messages        []json.RawMessage `json:"messages"`
	Unroutable      string            `json:"unroutable"`
	MissingQueue    string            `json:"missing_queue"`
	MissingExchange string            `json:"missing_exchange"`
	BadURL          string            `json:"bad_url"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func number(raw json.RawMessage) json.Number {
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		fail(fmt.Errorf("not a number: %s", raw))
	}
	return n
}

func integer(raw json.RawMessage) int64 {
	i, err := number(raw).Int64()
	if err != nil {
		fail(err)
	}
	return i
}

func float(raw json.RawMessage) float64 {
	f, err := number(raw).Float64()
	if err != nil {
		fail(err)
	}
	return f
}

// toAMQP turns a typed JSON value into the Go type amqp091-go writes with that tag.
func toAMQP(v typed) interface{} {
	switch v.T {
	case "t":
		var b bool
		if err := json.Unmarshal(v.V, &b); err != nil {
			fail(err)
		}
		return b
	case "b":
		return int8(integer(v.V))
	case "B":
		return uint8(integer(v.V))
	case "s":
		return int16(integer(v.V))
	case "I":
		return int32(integer(v.V))
	case "l":
		return integer(v.V)
	case "f":
		return float32(float(v.V))
	case "d":
		return float(v.V)
	case "D":
		var d struct {
			Scale uint8 `json:"scale"`
			Value int32 `json:"value"`
		}
		if err := json.Unmarshal(v.V, &d); err != nil {
			fail(err)
		}
		return amqp.Decimal{Scale: d.Scale, Value: d.Value}
	case "S":
		var s string
		if err := json.Unmarshal(v.V, &s); err != nil {
			fail(err)
		}
		return s
	case "x":
		var s string
		if err := json.Unmarshal(v.V, &s); err != nil {
			fail(err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			fail(err)
		}
		return b
	case "T":
		return time.Unix(integer(v.V), 0)
	case "V":
		return nil
	case "F":
		var t map[string]typed
		if err := json.Unmarshal(v.V, &t); err != nil {
			fail(err)
		}
		return tableToAMQP(t)
	case "A":
		var a []typed
		if err := json.Unmarshal(v.V, &a); err != nil {
			fail(err)
		}
		out := make([]interface{}, len(a))
		for i, x := range a {
			out[i] = toAMQP(x)
		}
		return out
	}
	fail(fmt.Errorf("amqp091-go cannot write field type %q", v.T))
	return nil
}

func tableToAMQP(t map[string]typed) amqp.Table {
	out := amqp.Table{}
	for k, v := range t {
		out[k] = toAMQP(v)
	}
	return out
}

type out struct {
	T string      `json:"t"`
	V interface{} `json:"v"`
}

// fromAMQP reports a decoded value with the tag of the Go type amqp091-go chose.
func fromAMQP(v interface{}) out {
	switch x := v.(type) {
	case nil:
		return out{"V", nil}
	case bool:
		return out{"t", x}
	case int8:
		return out{"b", x}
	case uint8:
		return out{"B", x}
	case int16:
		return out{"s", x}
	case int32:
		return out{"I", x}
	case int64:
		return out{"l", x}
	case float32:
		return out{"f", x}
	case float64:
		return out{"d", x}
	case amqp.Decimal:
		return out{"D", map[string]interface{}{"scale": x.Scale, "value": x.Value}}
	case string:
		return out{"S", x}
	case []byte:
		return out{"x", base64.StdEncoding.EncodeToString(x)}
	case time.Time:
		return out{"T", x.Unix()}
	case amqp.Table:
		return out{"F", tableFromAMQP(x)}
	case []interface{}:
		a := make([]out, len(x))
		for i, e := range x {
			a[i] = fromAMQP(e)
		}
		return out{"A", a}
	}
	return out{fmt.Sprintf("?%T", v), fmt.Sprint(v)}
}

func tableFromAMQP(t amqp.Table) map[string]out {
	o := map[string]out{}
	for k, v := range t {
		o[k] = fromAMQP(v)
	}
	return o
}

func publishing(raw json.RawMessage) amqp.Publishing {
	var m struct {
		Body       string `json:"body"`
		Properties struct {
			ContentType     string           `json:"content_type"`
			ContentEncoding string           `json:"content_encoding"`
			DeliveryMode    uint8            `json:"delivery_mode"`
			Priority        uint8            `json:"priority"`
			CorrelationID   string           `json:"correlation_id"`
			ReplyTo         string           `json:"reply_to"`
			Expiration      string           `json:"expiration"`
			MessageID       string           `json:"message_id"`
			Timestamp       int64            `json:"timestamp"`
			Type            string           `json:"type"`
			UserID          string           `json:"user_id"`
			AppID           string           `json:"app_id"`
			Headers         map[string]typed `json:"headers"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		fail(err)
	}
	body, err := base64.StdEncoding.DecodeString(m.Body)
	if err != nil {
		fail(err)
	}
	p := m.Properties
	msg := amqp.Publishing{
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding,
		DeliveryMode: p.DeliveryMode, Priority: p.Priority,
		CorrelationId: p.CorrelationID, ReplyTo: p.ReplyTo, Expiration: p.Expiration,
		MessageId: p.MessageID, Type: p.Type, UserId: p.UserID, AppId: p.AppID,
		Body: body,
	}
	if p.Timestamp != 0 {
		msg.Timestamp = time.Unix(p.Timestamp, 0)
	}
	if p.Headers != nil {
		msg.Headers = tableToAMQP(p.Headers)
	}
	return msg
}

func describe(d amqp.Delivery) message {
	p := map[string]interface{}{}
	set := func(name string, value string) {
		if value != "" {
			p[name] = value
		}
	}
	set("content_type", d.ContentType)
	set("content_encoding", d.ContentEncoding)
	set("correlation_id", d.CorrelationId)
	set("reply_to", d.ReplyTo)
	set("expiration", d.Expiration)
	set("message_id", d.MessageId)
	set("type", d.Type)
	set("user_id", d.UserId)
	set("app_id", d.AppId)
	if d.DeliveryMode != 0 {
		p["delivery_mode"] = d.DeliveryMode
	}
	if d.Priority != 0 {
		p["priority"] = d.Priority
	}
	if !d.Timestamp.IsZero() {
		p["timestamp"] = d.Timestamp.Unix()
	}
	if d.Headers != nil {
		p["headers"] = tableFromAMQP(d.Headers)
	}
	return message{
		Body: base64.StdEncoding.EncodeToString(d.Body), Exchange: d.Exchange,
		RoutingKey: d.RoutingKey, Redelivered: d.Redelivered, Properties: p,
	}
}

func amqpError(err error) map[string]interface{} {
	var e *amqp.Error
	if errors.As(err, &e) {
		return map[string]interface{}{"code": e.Code, "reason": e.Reason, "server": e.Server}
	}
	return map[string]interface{}{"error": err.Error()}
}

func dial(url string) *amqp.Connection {
	conn, err := amqp.Dial(url)
	if err != nil {
		fail(err)
	}
	return conn
}

func channel(conn *amqp.Connection) *amqp.Channel {
	ch, err := conn.Channel()
	if err != nil {
		fail(err)
	}
	return ch
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func publish(req request) interface{} {
	conn := dial(req.URL)
	defer conn.Close()
	ch := channel(conn)
	var confirms chan amqp.Confirmation
	if req.Confirm {
		check(ch.Confirm(false))
		confirms = ch.NotifyPublish(make(chan amqp.Confirmation, len(req.Messages)))
	}
	for _, raw := range req.Messages {
		check(ch.Publish(req.Exchange, req.RoutingKey, false, false, publishing(raw)))
	}
	acks := 0
	if req.Confirm {
		for range req.Messages {
			select {
			case c := <-confirms:
				if c.Ack {
					acks++
				}
			case <-time.After(20 * time.Second):
				fail(errors.New("timed out waiting for confirms"))
			}
		}
	}
	check(ch.Close())
	return map[string]interface{}{"published": len(req.Messages), "acks": acks}
}

func consume(req request) interface{} {
	conn := dial(req.URL)
	defer conn.Close()
	ch := channel(conn)
	if req.Prefetch > 0 {
		check(ch.Qos(req.Prefetch, 0, false))
	}
	deliveries, err := ch.Consume(req.Queue, "go-consumer", false, false, false, false, nil)
	check(err)
	got := []message{}
	for len(got) < req.Count {
		select {
		case d, ok := <-deliveries:
			if !ok {
				fail(errors.New("delivery channel closed"))
			}
			got = append(got, describe(d))
			check(d.Ack(false))
		case <-time.After(20 * time.Second):
			fail(fmt.Errorf("timed out with %d of %d messages", len(got), req.Count))
		}
	}
	check(ch.Cancel("go-consumer", false))
	check(ch.Close())
	return map[string]interface{}{"messages": got}
}

// confirms: publisher confirms, a mandatory message nobody routes (basic.return
// before its ack), and a publish to a missing exchange (a channel error).
func confirms(req request) interface{} {
	conn := dial(req.URL)
	defer conn.Close()
	ch := channel(conn)
	check(ch.Confirm(false))
	published := ch.NotifyPublish(make(chan amqp.Confirmation, req.Count+1))
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	for i := 0; i < req.Count; i++ {
		check(ch.Publish("", req.Queue, false, false, amqp.Publishing{
			Body: []byte(fmt.Sprintf("m%d", i)), DeliveryMode: amqp.Persistent,
		}))
	}
	check(ch.Publish("", req.Unroutable, true, false, amqp.Publishing{Body: []byte("lost")}))
	tags := []uint64{}
	acks := 0
	var returned amqp.Return
	gotReturn := false
	for len(tags) < req.Count+1 {
		select {
		case c := <-published:
			tags = append(tags, c.DeliveryTag)
			if c.Ack {
				acks++
			}
			if c.DeliveryTag == uint64(req.Count+1) && !gotReturn {
				// RabbitMQ sends basic.return before the ack of the same message.
				select {
				case returned = <-returns:
					gotReturn = true
				default:
				}
			}
		case r := <-returns:
			returned = r
			gotReturn = true
		case <-time.After(20 * time.Second):
			fail(errors.New("timed out waiting for confirms"))
		}
	}
	// amqp091-go hands a basic.return to NotifyReturn before it reads the next frame,
	// so a return sent ahead of its ack (as the spec and RabbitMQ order them) is
	// waiting by the time the last ack arrives.
	returnBeforeAck := gotReturn
	if !gotReturn {
		select {
		case returned = <-returns:
			gotReturn = true
		case <-time.After(5 * time.Second):
		}
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
	q, err := ch.QueueInspect(req.Queue)
	check(err)

	doomed := channel(conn)
	closed := doomed.NotifyClose(make(chan *amqp.Error, 1))
	check(doomed.Publish(req.MissingExchange, "k", false, false, amqp.Publishing{Body: []byte("x")}))
	var closeErr *amqp.Error
	select {
	case closeErr = <-closed:
	case <-time.After(20 * time.Second):
		fail(errors.New("no channel close after publishing to a missing exchange"))
	}
	return map[string]interface{}{
		"acks": acks, "first_tag": tags[0], "last_tag": tags[len(tags)-1],
		"returned": map[string]interface{}{
			"ok": gotReturn, "before_ack": returnBeforeAck, "code": returned.ReplyCode, "text": returned.ReplyText,
			"routing_key": returned.RoutingKey, "body": string(returned.Body),
		},
		"message_count": q.Messages,
		"missing_exchange": map[string]interface{}{
			"code": closeErr.Code, "reason": closeErr.Reason, "server": closeErr.Server,
		},
	}
}

// basics: Get, Nack with requeue, transactions, Qos and errors on channels.
func basics(req request) interface{} {
	conn := dial(req.URL)
	defer conn.Close()
	ch := channel(conn)
	result := map[string]interface{}{}
	_, err := ch.QueueDeclare(req.Queue, false, true, false, false, nil)
	check(err)
	check(ch.Publish("", req.Queue, false, false, amqp.Publishing{Body: []byte("once")}))
	d, ok, err := ch.Get(req.Queue, false)
	check(err)
	result["get"] = map[string]interface{}{"ok": ok, "body": string(d.Body), "redelivered": d.Redelivered, "left": d.MessageCount}
	check(d.Nack(false, true))
	d, ok, err = ch.Get(req.Queue, true)
	check(err)
	result["after_nack"] = map[string]interface{}{"ok": ok, "redelivered": d.Redelivered}
	_, ok, err = ch.Get(req.Queue, true)
	check(err)
	result["empty_ok"] = ok

	check(ch.Tx())
	check(ch.Publish("", req.Queue, false, false, amqp.Publishing{Body: []byte("rolled back")}))
	check(ch.TxRollback())
	check(ch.Publish("", req.Queue, false, false, amqp.Publishing{Body: []byte("committed")}))
	q, err := ch.QueueInspect(req.Queue)
	check(err)
	result["before_commit"] = q.Messages
	check(ch.TxCommit())
	q, err = ch.QueueInspect(req.Queue)
	check(err)
	result["after_commit"] = q.Messages

	// Qos: two unacked deliveries at most.
	for i := 0; i < 4; i++ {
		check(ch.Publish("", req.Queue, false, false, amqp.Publishing{Body: []byte(fmt.Sprintf("q%d", i))}))
	}
	check(ch.TxCommit())
	qch := channel(conn)
	check(qch.Qos(2, 0, false))
	deliveries, err := qch.Consume(req.Queue, "qos", false, false, false, false, nil)
	check(err)
	held := []amqp.Delivery{}
	for len(held) < 2 {
		select {
		case d := <-deliveries:
			held = append(held, d)
		case <-time.After(20 * time.Second):
			fail(errors.New("no deliveries"))
		}
	}
	q, err = ch.QueueInspect(req.Queue)
	check(err)
	result["ready_while_two_unacked"] = q.Messages
	check(held[1].Ack(true))
	for len(held) < 5 {
		select {
		case d := <-deliveries:
			held = append(held, d)
			check(d.Ack(false))
		case <-time.After(20 * time.Second):
			fail(errors.New("no deliveries after ack"))
		}
	}
	bodies := []string{}
	for _, d := range held {
		bodies = append(bodies, string(d.Body))
	}
	result["consumed"] = bodies
	check(qch.Cancel("qos", false))

	bad := channel(conn)
	_, err = bad.QueueDeclarePassive(req.MissingQueue, false, false, false, false, nil)
	result["missing_queue"] = amqpError(err)
	result["closed_after_error"] = bad.IsClosed()
	again := channel(conn)
	named, err := again.QueueDeclare("", false, true, true, false, nil)
	check(err)
	result["server_named_prefix"] = named.Name[:8]
	return result
}

// connection: what the handshake negotiated, a refused login, a server-sent
// basic.cancel when a consumed queue is deleted, and channel.flow from the client.
func connection(req request) interface{} {
	conn := dial(req.URL)
	defer conn.Close()
	caps, _ := conn.Properties["capabilities"].(amqp.Table)
	capabilities := map[string]interface{}{}
	for k, v := range caps {
		capabilities[k] = v
	}
	result := map[string]interface{}{
		"version":      []int{conn.Major, conn.Minor},
		"locales":      conn.Locales,
		"channel_max":  conn.Config.ChannelMax,
		"frame_max":    conn.Config.FrameSize,
		"heartbeat":    conn.Config.Heartbeat.Seconds(),
		"capabilities": capabilities,
	}

	// A refused login takes a few seconds to finish: let it run alongside.
	badLogin := make(chan error, 1)
	go func() {
		_, err := amqp.Dial(req.BadURL)
		badLogin <- err
	}()

	ch := channel(conn)
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	check(err)
	cancels := ch.NotifyCancel(make(chan string, 1))
	deliveries, err := ch.Consume(q.Name, "to-be-cancelled", false, false, false, false, nil)
	check(err)
	other := channel(conn)
	_, err = other.QueueDelete(q.Name, false, false, false)
	check(err)
	select {
	case tag := <-cancels:
		result["cancelled"] = tag
	case <-time.After(20 * time.Second):
		fail(errors.New("no basic.cancel after the queue was deleted"))
	}
	_, open := <-deliveries
	result["deliveries_open"] = open

	flow := channel(conn)
	closed := flow.NotifyClose(make(chan *amqp.Error, 1))
	err = flow.Flow(false)
	if err == nil {
		result["flow_false"] = "ok"
	} else {
		result["flow_false"] = amqpError(err)
	}
	select {
	case e := <-closed:
		if e != nil {
			result["flow_close"] = map[string]interface{}{"code": e.Code, "reason": e.Reason}
		}
	case <-time.After(5 * time.Second):
	}
	result["bad_login"] = amqpError(<-badLogin)
	return result
}

func main() {
	if len(os.Args) != 2 {
		fail(errors.New("usage: amqpclient COMMAND < request.json"))
	}
	var req request
	check(json.NewDecoder(os.Stdin).Decode(&req))
	commands := map[string]func(request) interface{}{
		"publish": publish, "consume": consume, "confirms": confirms, "basics": basics,
		"connection": connection,
	}
	command, ok := commands[os.Args[1]]
	if !ok {
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
	check(json.NewEncoder(os.Stdout).Encode(command(req)))
}
