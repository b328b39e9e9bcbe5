package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/funchost"
)

// invocation builds the request the Functions host sends for a Service Bus
// trigger named "job": the body as a JSON string (double-encoded), the
// message facts as quoted strings in Metadata (azure-functions-host
// ScriptInvocationContextExtensions.cs; shared/funchost doc.go [H4], [K1]).
func invocation(t *testing.T, body []byte) funchost.ServiceBusMessage {
	t.Helper()
	inner, _ := json.Marshal(string(body))
	data, _ := json.Marshal(string(inner))
	req := `{"Data":{"job":` + string(data) + `},"Metadata":{` +
		`"MessageId":"\"msg-7\"","DeliveryCount":"2","EnqueuedTime":"2026-11-24T06:00:01+00:00",` +
		`"ContentType":"\"application/json\"","Subject":"\"rotate-credential\"",` +
		`"sys":{"MethodName":"RotateCredential","UtcNow":"2026-11-24T06:00:02Z"}}}`
	inv, err := funchost.NewInvocation("RotateCredential", "inv-1", []byte(req))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := inv.ServiceBusMessage("job")
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestFromServiceBus(t *testing.T) {
	j := rotateJob()
	body, _ := j.Encode()
	msg := invocation(t, body)
	// The host copies a JSON body's top-level keys into Metadata; no job
	// field may be named like a Service Bus metadata key.
	if len(msg.ShadowedKeys) != 0 {
		t.Errorf("job fields shadow Service Bus metadata: %v", msg.ShadowedKeys)
	}
	d, err := FromServiceBus(msg)
	if err != nil {
		t.Fatal(err)
	}
	if d.MessageID != "msg-7" || d.DeliveryCount != 2 || d.Job.MessageID() != j.MessageID() ||
		d.EnqueuedAt.IsZero() || string(d.Body) != string(body) {
		t.Errorf("delivery = %+v", d)
	}
}

func TestFromServiceBusBadBody(t *testing.T) {
	d, err := FromServiceBus(invocation(t, []byte(`{"version":2,"kind":"rotate-credential"}`)))
	if !IsPermanent(err) || !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("error = %v, want permanent ErrUnsupportedVersion", err)
	}
	// Enough is kept to park the message.
	if d.MessageID != "msg-7" || !strings.Contains(string(d.Body), `"version":2`) {
		t.Errorf("delivery = %+v", d)
	}
}

func TestDispatcher(t *testing.T) {
	var ran Kind
	ds := Dispatcher{
		KindRotateCredential: func(_ context.Context, d Delivery) error { ran = d.Job.Kind; return nil },
		KindNotifyOwner:      func(context.Context, Delivery) error { return errors.New("smtp down") },
	}
	ctx := context.Background()
	if err := ds.Dispatch(ctx, Delivery{Job: rotateJob()}); err != nil || ran != KindRotateCredential {
		t.Errorf("rotate: %v, ran %q", err, ran)
	}
	if err := ds.Dispatch(ctx, Delivery{Job: notifyJob("social/x", "d30")}); err == nil || IsPermanent(err) {
		t.Errorf("handler error %v should come back as is (transient)", err)
	}
	if err := ds.Dispatch(ctx, Delivery{Job: refreshJob("a")}); !IsPermanent(err) || !errors.Is(err, ErrUnknownKind) {
		t.Errorf("kind without handler: %v, want permanent ErrUnknownKind", err)
	}
}
