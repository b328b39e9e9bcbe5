package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/funchost"
)

// Sender enqueues jobs. ServiceBus and Memory implement it.
type Sender interface {
	Send(ctx context.Context, jobs ...Job) error
}

var (
	_ Sender = (*ServiceBus)(nil)
	_ Sender = (*Memory)(nil)
)

// Delivery is one received job with its message facts.
type Delivery struct {
	Job       Job
	MessageID string
	// DeliveryCount is 1 on the first delivery.
	DeliveryCount int
	EnqueuedAt    time.Time
	// Body is the message body as received (for parking and dead-letter
	// lists; it never holds a secret value, only references).
	Body []byte
}

// Handler does the work of one job. Return nil when done (the message is
// completed), a Permanent error when retrying cannot help, any other error
// to have the message redelivered.
type Handler func(ctx context.Context, d Delivery) error

// Dispatcher routes a delivery to the handler for its job's kind.
type Dispatcher map[Kind]Handler

// Dispatch runs the handler for d.Job.Kind. A kind without a handler is a
// permanent error: redelivering it to the same build cannot succeed.
func (ds Dispatcher) Dispatch(ctx context.Context, d Delivery) error {
	h, ok := ds[d.Job.Kind]
	if !ok || h == nil {
		return Permanent(fmt.Errorf("%w: no handler for %q (message %s)", ErrUnknownKind, clip(string(d.Job.Kind)), d.MessageID))
	}
	return h(ctx, d)
}

// FromServiceBus turns a Service Bus trigger invocation into a Delivery. The
// host double-encodes the body; funchost has already removed those layers,
// so msg.Body is the job JSON. When the body does not decode the Delivery is
// still returned with MessageID, DeliveryCount, EnqueuedAt and Body filled,
// so the caller can park it, together with a permanent error saying why.
func FromServiceBus(msg funchost.ServiceBusMessage) (Delivery, error) {
	d := Delivery{
		MessageID:     msg.MessageID,
		DeliveryCount: int(msg.DeliveryCount),
		EnqueuedAt:    msg.EnqueuedTime,
		Body:          msg.Body,
	}
	j, err := Decode(msg.Body)
	if err != nil {
		return d, Permanent(fmt.Errorf("message %s: %w", msg.MessageID, err))
	}
	d.Job = j
	if d.MessageID == "" {
		d.MessageID = j.MessageID()
	}
	return d, nil
}
