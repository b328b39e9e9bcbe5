package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

const fakeKey = "c2VjcmV0LWtleS1kby1ub3QtcHJpbnQ=" // not a real key; the tests check it never shows

type noCred struct{}

func (noCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("no token in unit tests")
}

func TestServiceBusSettings(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		name    string
		getenv  func(string) string
		cred    azcore.TokenCredential
		wantErr string // "" = success
	}{
		{"nothing set", env(), nil, "ServiceBusConnection__fullyQualifiedNamespace"},
		{"emulator", env(SettingConnection, "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey="+fakeKey+";UseDevelopmentEmulator=true;"), nil, ""},
		{"connection string without endpoint", env(SettingConnection, "SharedAccessKeyName=x;SharedAccessKey="+fakeKey), nil, "not a usable"},
		{"garbage with key", env(SettingConnection, fakeKey+";SharedAccessKey="+fakeKey), nil, "not a usable"},
		{"namespace without credential", env(SettingNamespace, "contoso.servicebus.windows.net"), nil, "needs a credential"},
		{"namespace with credential", env(SettingNamespace, "sb://contoso.servicebus.windows.net/"), noCred{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb, err := newServiceBusFrom(c.getenv, c.cred)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if sb.Queues() != DefaultQueues() {
					t.Errorf("queues = %+v", sb.Queues())
				}
				_ = sb.Close(context.Background())
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), fakeKey) {
				t.Errorf("error repeats the SAS key: %v", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	cs := "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=" + fakeKey + ";SharedAccessSignature=SharedAccessSignature sr=abc&sig=zzz"
	got := redact("bad "+fakeKey+" and SharedAccessSignature sr=abc&sig=zzz near k", cs)
	if strings.Contains(got, fakeKey) || strings.Contains(got, "sig=zzz") || !strings.Contains(got, "near k") {
		t.Errorf("redact = %q", got)
	}
}

func TestMessage(t *testing.T) {
	j := notifyJob("connector/abc", "d30")
	j.FindingID = "f-1"
	j.NotBefore = ptr(day.Add(24 * time.Hour).In(time.FixedZone("x", 3600)))
	m, err := Message(j)
	if err != nil {
		t.Fatal(err)
	}
	wantProps := map[string]any{PropKind: "notify-owner", PropDependency: "connector/abc", PropReason: "scan",
		PropVersion: int64(1), PropFindingID: "f-1", PropStage: "d30"}
	for k, v := range wantProps {
		if m.ApplicationProperties[k] != v {
			t.Errorf("property %s = %#v, want %#v", k, m.ApplicationProperties[k], v)
		}
	}
	if *m.MessageID != j.MessageID() || *m.Subject != "notify-owner" || *m.ContentType != "application/json" ||
		m.ScheduledEnqueueTime == nil || !m.ScheduledEnqueueTime.Equal(*j.NotBefore) || m.ScheduledEnqueueTime.Location() != time.UTC {
		t.Errorf("message = %+v", m)
	}
	if back, err := Decode(m.Body); err != nil || back.MessageID() != j.MessageID() {
		t.Errorf("body does not decode to the job: %v", err)
	}
}

// TestLiveServiceBus sends a job to each queue of a real namespace (or the
// emulator) and reads it back. The queues must exist: infra creates them;
// for the emulator add them to its Config.json.
func TestLiveServiceBus(t *testing.T) {
	cs := os.Getenv("IDPKEEPER_TEST_SERVICEBUS")
	if cs == "" {
		t.Skip("IDPKEEPER_TEST_SERVICEBUS not set: live Service Bus test needs a namespace with queues idpkeeper-metadata/-rotation/-notices")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := azservicebus.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatalf("IDPKEEPER_TEST_SERVICEBUS: %s", redact(err.Error(), cs))
	}
	defer client.Close(context.Background())
	queues := QueuesFromEnv()
	sb := NewServiceBus(client, queues)
	defer sb.Close(context.Background())

	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	run := "live-" + hex.EncodeToString(nonce[:])
	now := time.Now().UTC()
	jobs := []Job{
		{Version: Version, Kind: KindRefreshMetadata, Dependency: "federation/" + run, Reason: "scan", Source: run, CreatedAt: now},
		{Version: Version, Kind: KindRotateCredential, Dependency: "social/" + run, Reason: "scan", Source: run, CreatedAt: now,
			Secret: &SecretRef{Vault: "kv", Name: "s", Version: "v1"}},
		{Version: Version, Kind: KindNotifyOwner, Dependency: "connector/" + run, Reason: "scan", Stage: "d30", FindingID: "f-" + run, Source: run, CreatedAt: now},
	}
	if err := sb.Send(ctx, jobs...); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		queue := queues.Queue(j.Kind)
		t.Run(queue, func(t *testing.T) {
			r, err := client.NewReceiverForQueue(queue, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(context.Background())
			m := receiveID(ctx, t, r, j.MessageID(), 30*time.Second)
			if m == nil {
				t.Fatalf("job %s not received from %s", j.MessageID(), queue)
			}
			if m.Subject == nil || *m.Subject != string(j.Kind) || m.ContentType == nil || *m.ContentType != ContentType ||
				m.ApplicationProperties[PropDependency] != j.Dependency || m.ApplicationProperties[PropKind] != string(j.Kind) ||
				m.ApplicationProperties[PropVersion] != int64(Version) || m.ApplicationProperties[PropStage] != j.Stage {
				t.Errorf("received %+v (properties %v)", m, m.ApplicationProperties)
			}
			if got, err := Decode(m.Body); err != nil || got.Dependency != j.Dependency {
				t.Errorf("body: %v", err)
			}
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}

			// Duplicate detection, when the queue has it: the same job again
			// inside the window is dropped by Service Bus.
			if err := sb.Send(ctx, j); err != nil {
				t.Fatal(err)
			}
			if again := receiveID(ctx, t, r, j.MessageID(), 5*time.Second); again != nil {
				t.Logf("queue %s has no duplicate detection (the resend was delivered); enable RequiresDuplicateDetection in infra", queue)
				_ = r.CompleteMessage(ctx, again, nil)
			} else {
				t.Logf("queue %s dropped the resend: duplicate detection works", queue)
			}
		})
	}

	// Dead-letter one job by hand, list it, resubmit it, receive the copy.
	t.Run("dead-letter and resubmit", func(t *testing.T) {
		j := jobs[2]
		j.Stage = "d14" // a new ID, so duplicate detection does not drop it
		queue := queues.Notices
		if err := sb.Send(ctx, j); err != nil {
			t.Fatal(err)
		}
		r, err := client.NewReceiverForQueue(queue, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(context.Background())
		m := receiveID(ctx, t, r, j.MessageID(), 30*time.Second)
		if m == nil {
			t.Fatal("job not received")
		}
		reason, desc := "LiveTest", "dead-lettered by TestLiveServiceBus"
		if err := r.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc}); err != nil {
			t.Fatal(err)
		}
		dls, err := sb.DeadLetters(ctx, queue, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var found *DeadLetter
		for i := range dls {
			if dls[i].MessageID == j.MessageID() {
				found = &dls[i]
			}
		}
		if found == nil || found.Reason != reason || found.Description != desc || found.Job == nil || found.Job.Stage != "d14" {
			t.Fatalf("dead letter = %+v", found)
		}
		if err := sb.Resubmit(ctx, queue, j.MessageID()); err != nil {
			t.Fatal(err)
		}
		copyMsg := receivePrefix(ctx, t, r, j.MessageID()+"_r", 30*time.Second)
		if copyMsg == nil || copyMsg.ApplicationProperties[PropResubmittedFrom] != j.MessageID() || string(copyMsg.Body) != string(m.Body) {
			t.Fatalf("resubmitted copy = %+v", copyMsg)
		}
		_ = r.CompleteMessage(ctx, copyMsg, nil)
		if err := sb.Resubmit(ctx, queue, j.MessageID()); !errors.Is(err, ErrNoSuchMessage) {
			t.Errorf("second resubmit: %v, want ErrNoSuchMessage", err)
		}
	})
}

func receiveID(ctx context.Context, t *testing.T, r *azservicebus.Receiver, id string, wait time.Duration) *azservicebus.ReceivedMessage {
	return receiveMatch(ctx, t, r, func(got string) bool { return got == id }, wait)
}

func receivePrefix(ctx context.Context, t *testing.T, r *azservicebus.Receiver, prefix string, wait time.Duration) *azservicebus.ReceivedMessage {
	return receiveMatch(ctx, t, r, func(got string) bool { return strings.HasPrefix(got, prefix) }, wait)
}

// receiveMatch receives until a message matches, abandoning others (a
// shared test namespace may hold other messages).
func receiveMatch(ctx context.Context, t *testing.T, r *azservicebus.Receiver, match func(string) bool, wait time.Duration) *azservicebus.ReceivedMessage {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msgs, err := r.ReceiveMessages(rctx, 10, nil)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil
			}
			t.Fatal(err)
		}
		var found *azservicebus.ReceivedMessage
		for _, m := range msgs {
			if found == nil && match(m.MessageID) {
				found = m
				continue
			}
			_ = r.AbandonMessage(ctx, m, nil)
		}
		if found != nil {
			return found
		}
	}
	return nil
}
