package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// App settings for the connection: the names the Functions Service Bus
// extension reads for the trigger's "connection": "ServiceBusConnection".
const (
	SettingConnection = "ServiceBusConnection"
	SettingNamespace  = "ServiceBusConnection__fullyQualifiedNamespace"
)

// Application property names set on every job message, so that Service Bus
// Explorer, SQL filters and the trigger's metadata show what a message is
// without decoding the body.
const (
	PropKind       = "kind"
	PropDependency = "dependency"
	PropReason     = "reason"
	PropVersion    = "version"
	PropFindingID  = "findingId"
	PropStage      = "stage"
	// PropResubmittedFrom is set on a copy made by Resubmit: the original
	// MessageID.
	PropResubmittedFrom = "resubmittedFrom"
)

// ContentType of job message bodies.
const ContentType = "application/json"

// ErrNoSuchMessage is returned by Resubmit when no dead-lettered message has
// the given ID.
var ErrNoSuchMessage = errors.New("jobs: no dead-lettered message with that ID")

// DeadLetter is one dead-lettered message, as listed by DeadLetters.
type DeadLetter struct {
	Queue          string    `json:"queue"`
	MessageID      string    `json:"messageId"`
	SequenceNumber int64     `json:"sequenceNumber,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	Description    string    `json:"description,omitempty"`
	DeliveryCount  int       `json:"deliveryCount"`
	EnqueuedAt     time.Time `json:"enqueuedAt"`
	// Job is the decoded body, or nil with DecodeError saying why not.
	Job         *Job   `json:"job,omitempty"`
	DecodeError string `json:"decodeError,omitempty"`
	Body        string `json:"body,omitempty"`
}

func newDeadLetter(queue, id string, body []byte) DeadLetter {
	dl := DeadLetter{Queue: queue, MessageID: id, Body: string(body)}
	if j, err := Decode(body); err != nil {
		dl.DecodeError = err.Error()
	} else {
		dl.Job = &j
	}
	return dl
}

// ServiceBus sends jobs with azservicebus and manages the dead-letter queues.
// It is safe for concurrent use.
type ServiceBus struct {
	client    *azservicebus.Client
	ownClient bool
	queues    Queues

	mu      sync.Mutex
	senders map[string]*azservicebus.Sender

	// receiveWait bounds each wait for dead-lettered messages in Resubmit:
	// an empty sub-queue makes ReceiveMessages block until the deadline.
	receiveWait time.Duration
}

// NewServiceBus wraps a client the caller owns (Close does not close it).
// Empty queue names take their defaults.
func NewServiceBus(client *azservicebus.Client, queues Queues) *ServiceBus {
	return &ServiceBus{
		client:      client,
		queues:      queues.withDefaults(),
		senders:     map[string]*azservicebus.Sender{},
		receiveWait: 5 * time.Second,
	}
}

// NewServiceBusFromEnv connects with the app settings: ServiceBusConnection
// (a connection string, the emulator's included) or, when that is unset,
// ServiceBusConnection__fullyQualifiedNamespace with cred (a managed
// identity). Queue names come from QueuesFromEnv.
func NewServiceBusFromEnv(cred azcore.TokenCredential) (*ServiceBus, error) {
	return newServiceBusFrom(os.Getenv, cred)
}

func newServiceBusFrom(getenv func(string) string, cred azcore.TokenCredential) (*ServiceBus, error) {
	client, err := clientFrom(getenv, cred)
	if err != nil {
		return nil, err
	}
	sb := NewServiceBus(client, queuesFrom(getenv))
	sb.ownClient = true
	return sb, nil
}

func clientFrom(getenv func(string) string, cred azcore.TokenCredential) (*azservicebus.Client, error) {
	if cs := strings.TrimSpace(getenv(SettingConnection)); cs != "" {
		client, err := azservicebus.NewClientFromConnectionString(cs, nil)
		if err != nil {
			// The string carries a SAS key: the error must not repeat it.
			return nil, fmt.Errorf("jobs: setting %s is not a usable Service Bus connection string (%s)",
				SettingConnection, redact(err.Error(), cs))
		}
		return client, nil
	}
	if ns := strings.TrimSpace(getenv(SettingNamespace)); ns != "" {
		if cred == nil {
			return nil, fmt.Errorf("jobs: setting %s needs a credential (managed identity)", SettingNamespace)
		}
		// Accept "sb://ns.servicebus.windows.net/" as well as the bare host.
		ns = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ns, "sb://"), "https://"), "/")
		client, err := azservicebus.NewClient(ns, cred, nil)
		if err != nil {
			return nil, fmt.Errorf("jobs: Service Bus client for %s: %w", ns, err)
		}
		return client, nil
	}
	return nil, fmt.Errorf("jobs: set %s (connection string) or %s (namespace, with a managed identity)", SettingConnection, SettingNamespace)
}

// redact removes the connection string's secrets from text, in case a
// future SDK version quotes them in its parse errors.
func redact(text, connectionString string) string {
	for _, part := range strings.Split(connectionString, ";") {
		key, value, ok := strings.Cut(part, "=")
		if !ok || value == "" {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "sharedaccesskey", "sharedaccesssignature":
			text = strings.ReplaceAll(text, value, "[redacted]")
		}
	}
	return text
}

// Queues returns the queue names in use.
func (s *ServiceBus) Queues() Queues { return s.queues }

func (s *ServiceBus) sender(queue string) (*azservicebus.Sender, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snd, ok := s.senders[queue]; ok {
		return snd, nil
	}
	snd, err := s.client.NewSender(queue, nil)
	if err != nil {
		return nil, fmt.Errorf("jobs: sender for queue %s: %w", queue, err)
	}
	s.senders[queue] = snd
	return snd, nil
}

// Message builds the Service Bus message for j.
func Message(j Job) (*azservicebus.Message, error) {
	body, err := j.Encode()
	if err != nil {
		return nil, fmt.Errorf("jobs: encode %s job: %w", j.Kind, err)
	}
	id, subject, ct := j.MessageID(), string(j.Kind), ContentType
	m := &azservicebus.Message{
		Body: body, MessageID: &id, Subject: &subject, ContentType: &ct,
		ApplicationProperties: map[string]any{
			PropKind: string(j.Kind), PropDependency: j.Dependency, PropReason: j.Reason,
			PropVersion: int64(j.Version), PropFindingID: j.FindingID, PropStage: j.Stage,
		},
	}
	if j.NotBefore != nil {
		// Service Bus holds the message until then; the ID is still
		// recorded for duplicate detection at send time.
		at := j.NotBefore.UTC()
		m.ScheduledEnqueueTime = &at
	}
	return m, nil
}

// Send validates every job, then sends them, one batch per queue (more
// batches when one does not fit). Nothing is sent when a job is invalid. A
// failure part-way can leave earlier queues sent: resending is safe, since
// duplicate detection drops the repeats.
func (s *ServiceBus) Send(ctx context.Context, jobs ...Job) error {
	byQueue := map[string][]*azservicebus.Message{}
	var order []string
	for _, j := range jobs {
		if err := j.Validate(); err != nil {
			return fmt.Errorf("jobs: not sending: %w", err)
		}
		m, err := Message(j)
		if err != nil {
			return err
		}
		q := s.queues.Queue(j.Kind)
		if _, ok := byQueue[q]; !ok {
			order = append(order, q)
		}
		byQueue[q] = append(byQueue[q], m)
	}
	for _, q := range order {
		if err := s.sendBatches(ctx, q, byQueue[q]); err != nil {
			return err
		}
	}
	return nil
}

func (s *ServiceBus) sendBatches(ctx context.Context, queue string, msgs []*azservicebus.Message) error {
	snd, err := s.sender(queue)
	if err != nil {
		return err
	}
	for len(msgs) > 0 {
		batch, err := snd.NewMessageBatch(ctx, nil)
		if err != nil {
			return fmt.Errorf("jobs: batch for queue %s: %w", queue, err)
		}
		n := 0
		for _, m := range msgs {
			err := batch.AddMessage(m, nil)
			if errors.Is(err, azservicebus.ErrMessageTooLarge) {
				break
			}
			if err != nil {
				return fmt.Errorf("jobs: add %s to batch: %w", *m.MessageID, err)
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("jobs: message %s is larger than a Service Bus batch", *msgs[0].MessageID)
		}
		if err := snd.SendMessageBatch(ctx, batch, nil); err != nil {
			return fmt.Errorf("jobs: send %d message(s) to queue %s: %w", n, queue, err)
		}
		msgs = msgs[n:]
	}
	return nil
}

// DeadLetters peeks (without locking or removing) up to max messages of the
// queue's dead-letter sub-queue; max ≤ 0 means 100.
func (s *ServiceBus) DeadLetters(ctx context.Context, queue string, max int) ([]DeadLetter, error) {
	if max <= 0 {
		max = 100
	}
	r, err := s.client.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		return nil, fmt.Errorf("jobs: dead-letter receiver for %s: %w", queue, err)
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []DeadLetter
	for len(out) < max {
		msgs, err := r.PeekMessages(ctx, min(max-len(out), 250), nil)
		if err != nil {
			return out, fmt.Errorf("jobs: peek dead letters of %s: %w", queue, err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			out = append(out, deadLetterOf(queue, m))
		}
	}
	return out, nil
}

func deadLetterOf(queue string, m *azservicebus.ReceivedMessage) DeadLetter {
	dl := newDeadLetter(queue, m.MessageID, m.Body)
	dl.DeliveryCount = int(m.DeliveryCount)
	if m.SequenceNumber != nil {
		dl.SequenceNumber = *m.SequenceNumber
	}
	if m.DeadLetterReason != nil {
		dl.Reason = *m.DeadLetterReason
	}
	if m.DeadLetterErrorDescription != nil {
		dl.Description = *m.DeadLetterErrorDescription
	}
	if m.EnqueuedTime != nil {
		dl.EnqueuedAt = *m.EnqueuedTime
	}
	return dl
}

// resubmitScanLimit bounds how many dead letters Resubmit looks through.
const resubmitScanLimit = 5000

// Resubmit moves the dead-lettered message messageID back to queue: it
// receives it from the dead-letter sub-queue, sends a copy (same body,
// subject, content type and properties, plus resubmittedFrom) under a fresh
// MessageID so duplicate detection does not drop it, then completes the
// dead-lettered original. Messages looked at on the way are abandoned,
// which leaves them in the dead-letter queue.
func (s *ServiceBus) Resubmit(ctx context.Context, queue, messageID string) error {
	r, err := s.client.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		return fmt.Errorf("jobs: dead-letter receiver for %s: %w", queue, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer r.Close(cleanup)

	// Hold the locks of non-matching messages until the end, so that the
	// same ones are not received again while we look further.
	var held []*azservicebus.ReceivedMessage
	defer func() {
		for _, m := range held {
			actx, cancel := context.WithTimeout(cleanup, 10*time.Second)
			_ = r.AbandonMessage(actx, m, nil)
			cancel()
		}
	}()
	var found *azservicebus.ReceivedMessage
	for scanned := 0; found == nil && scanned < resubmitScanLimit; {
		rctx, cancel := context.WithTimeout(ctx, s.receiveWait)
		msgs, err := r.ReceiveMessages(rctx, 100, nil)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			break // nothing more arrived within receiveWait: the sub-queue is exhausted
		}
		if err != nil {
			return fmt.Errorf("jobs: receive dead letters of %s: %w", queue, err)
		}
		if len(msgs) == 0 {
			break
		}
		scanned += len(msgs)
		for _, m := range msgs {
			if found == nil && m.MessageID == messageID {
				found = m
			} else {
				held = append(held, m)
			}
		}
	}
	if found == nil {
		return fmt.Errorf("%w: %s in %s", ErrNoSuchMessage, messageID, queue)
	}

	copyMsg := resubmitCopy(found)
	snd, err := s.sender(queue)
	if err == nil {
		err = snd.SendMessage(ctx, copyMsg, nil)
	}
	if err != nil {
		held = append(held, found) // give it back
		return fmt.Errorf("jobs: resubmit %s to %s: %w", messageID, queue, err)
	}
	if err := r.CompleteMessage(ctx, found, nil); err != nil {
		return fmt.Errorf("jobs: %s was resubmitted as %s but is still dead-lettered (complete failed: %w)", messageID, *copyMsg.MessageID, err)
	}
	return nil
}

func resubmitCopy(m *azservicebus.ReceivedMessage) *azservicebus.Message {
	props := map[string]any{}
	for k, v := range m.ApplicationProperties {
		props[k] = v
	}
	props[PropResubmittedFrom] = m.MessageID
	id := ResubmitID(m.MessageID)
	return &azservicebus.Message{
		Body: m.Body, MessageID: &id, Subject: m.Subject, ContentType: m.ContentType,
		CorrelationID: m.CorrelationID, ApplicationProperties: props,
	}
}

// ResubmitID is a fresh MessageID for a resubmitted copy of id: id (without
// an earlier resubmission suffix, cut to fit 128 characters) + "_r" + 8
// random hex digits. Random rather than derived so that resubmitting twice
// is never dropped as a duplicate.
func ResubmitID(id string) string {
	if i := strings.LastIndex(id, "_r"); i >= 0 && len(id)-i == 10 && isHex(id[i+2:]) {
		id = id[:i]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := "_r" + hex.EncodeToString(b[:])
	if len(id)+len(suffix) > maxMessageID {
		id = id[:maxMessageID-len(suffix)]
	}
	return id + suffix
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Close closes the senders, and the client when NewServiceBusFromEnv made it.
func (s *ServiceBus) Close(ctx context.Context) error {
	s.mu.Lock()
	senders := s.senders
	s.senders = map[string]*azservicebus.Sender{}
	s.mu.Unlock()
	var errs []error
	for _, snd := range senders {
		errs = append(errs, snd.Close(ctx))
	}
	if s.ownClient {
		errs = append(errs, s.client.Close(ctx))
	}
	return errors.Join(errs...)
}
