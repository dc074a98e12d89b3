// Command fulfilment is the Go service of the cross-language example (amqp091-go).
//
// It consumes order.placed events that the Node.js API publishes to the "shop"
// topic exchange and, for each order, asks the Python pricing service for the
// total: a request on the "pricing" queue whose reply_to names this service's
// own reply queue and whose correlation_id identifies the request. Only when the
// matching reply has come back is the order acknowledged (fulfilled).
//
// Prints one JSON line per order. SIGTERM or Ctrl-C stops it; an order it had
// not finished goes back to the queue.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const rpcTimeout = 10 * time.Second

type order struct {
	OrderID  string `json:"order_id"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

type quote struct {
	OrderID    string `json:"order_id"`
	TotalCents int    `json:"total_cents"`
	Error      string `json:"error,omitempty"`
}

func getenv(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok {
		return value
	}
	return fallback
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func emit(fields map[string]interface{}) {
	line, err := json.Marshal(fields)
	must(err)
	fmt.Println(string(line))
}

func newCorrelationID() string {
	raw := make([]byte, 8)
	_, err := rand.Read(raw)
	must(err)
	return hex.EncodeToString(raw)
}

func main() {
	url := getenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
	prefix := getenv("EXAMPLE_PREFIX", "") // in front of every queue and exchange name
	exchange, queue, pricing := prefix+"shop", prefix+"fulfilment", prefix+"pricing"

	conn, err := amqp.Dial(url)
	must(err)
	ch, err := conn.Channel()
	must(err)
	must(ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil))
	_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	must(err)
	must(ch.QueueBind(queue, "order.placed", exchange, false, nil))
	_, err = ch.QueueDeclare(pricing, false, false, false, false, nil) // as pricing.py does
	must(err)
	must(ch.Qos(1, 0, false)) // one order in hand at a time

	// Replies come to a private queue: named by the broker, exclusive to this
	// connection, deleted when it closes.
	replyQueue, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(err)
	replies, err := ch.Consume(replyQueue.Name, "", true, true, false, false, nil)
	must(err)
	orders, err := ch.Consume(queue, "", false, false, false, false, nil)
	must(err)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	shutdown := func() {
		ch.Close() // anything unacknowledged goes back to the queue
		conn.Close()
		os.Exit(0)
	}
	emit(map[string]interface{}{"ready": true, "queue": queue})

	for {
		select {
		case <-stop:
			shutdown()
		case delivery, ok := <-orders:
			if !ok {
				log.Fatal("the broker closed the channel")
			}
			var o order
			if err := json.Unmarshal(delivery.Body, &o); err != nil {
				delivery.Reject(false) // not an order: drop it
				continue
			}
			correlationID := newCorrelationID()
			ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
			err := ch.PublishWithContext(ctx, "", pricing, false, false, amqp.Publishing{
				ContentType:   "application/json",
				CorrelationId: correlationID,
				ReplyTo:       replyQueue.Name,
				Expiration:    fmt.Sprint(rpcTimeout.Milliseconds()), // nobody waits longer
				Body:          delivery.Body,
			})
			cancel()
			must(err)
			q, answered := awaitReply(replies, correlationID, stop, shutdown)
			if !answered || q.Error != "" {
				// No price, no fulfilment: back to the queue for another try.
				emit(map[string]interface{}{"order_id": o.OrderID, "unpriced": q.Error})
				delivery.Nack(false, true)
				continue
			}
			// ... reserve stock, print the label, book the courier ...
			must(delivery.Ack(false))
			emit(map[string]interface{}{
				"fulfilled": o.OrderID, "sku": o.SKU, "quantity": o.Quantity,
				"total_cents": q.TotalCents, "correlation_id": correlationID,
			})
		}
	}
}

// awaitReply waits for the reply carrying correlationID. Replies to earlier
// requests that timed out can still arrive: they carry other ids and are skipped.
func awaitReply(replies <-chan amqp.Delivery, correlationID string, stop chan os.Signal,
	shutdown func()) (quote, bool) {
	timeout := time.After(rpcTimeout)
	for {
		select {
		case <-stop:
			shutdown()
		case <-timeout:
			return quote{Error: "pricing did not answer"}, false
		case reply, ok := <-replies:
			if !ok {
				log.Fatal("the broker closed the channel")
			}
			if reply.CorrelationId != correlationID {
				continue
			}
			var q quote
			if err := json.Unmarshal(reply.Body, &q); err != nil {
				return quote{Error: err.Error()}, false
			}
			return q, true
		}
	}
}
