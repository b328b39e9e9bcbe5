package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/notify"
)

// A handler that died between claim and mark leaves claims behind. Inside
// their lease nobody sends (and the result says when to look again); after
// it the next Notify takes them over and sends on every channel, warning,
// and the webhook repeat carries the first send's idempotency key.
func TestLapsedClaimIsResentUnderTheSameKey(t *testing.T) {
	ctx := context.Background()
	for name, store := range ledgerStores(t) {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, store)
			var mu sync.Mutex
			wall := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
			r.n.Ledger.Wall = func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
			r.n.Ledger.Lease = 10 * time.Minute
			var logs bytes.Buffer
			var logMu sync.Mutex
			r.n.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
				logMu.Lock()
				defer logMu.Unlock()
				return logs.Write(p)
			}), nil))
			f := partnerFinding()
			r.at(due.Add(-10 * day))

			// The dead handler: observed, claimed every channel, and got the
			// webhook out before it died.
			if _, err := r.n.Ledger.Observe(ctx, f); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []string{"mail", "webhook", "outbox"} {
				if c, err := r.n.Ledger.Claim(ctx, f.ID, "d14", ch, "", "dead-job"); err != nil || !c.Won {
					t.Fatalf("claim %s: %+v %v", ch, c, err)
				}
			}
			m := notify.Compose(f, "d14", testConfig(), testLinks)
			webhook := r.n.Channels[1]
			if _, err := webhook.Send(ctx, m); err != nil {
				t.Fatal(err)
			}

			res, err := r.n.Notify(ctx, f, "job-2")
			if err != nil || res.Status != notify.StatusSkippedInFlight {
				t.Fatalf("inside the lease: %+v %v", res, err)
			}
			if until := res.InFlightUntil(); until == nil || !until.Equal(wall.Add(10*time.Minute)) {
				t.Fatalf("in flight until %v", until)
			}
			if got := r.counts(t); got != [3]int{0, 1, 0} {
				t.Fatalf("inside the lease: counts %v", got)
			}

			mu.Lock()
			wall = wall.Add(11 * time.Minute)
			mu.Unlock()
			res, err = r.n.Notify(ctx, f, "job-2")
			if err != nil || res.Status != notify.StatusSent {
				t.Fatalf("after the lease: %+v %v", res, err)
			}
			for _, c := range res.Channels {
				if !c.Resent || c.Status != notify.StatusSent {
					t.Errorf("channel %+v: want sent again after a lapsed claim", c)
				}
			}
			if got := r.counts(t); got != [3]int{1, 2, 1} {
				t.Fatalf("after the lease: counts %v (mail, webhook, outbox)", got)
			}
			// Both webhook deliveries carry one key, in the header and the body.
			r.hook.mu.Lock()
			var keys []string
			for i, b := range r.hook.bodies {
				var p notify.GenericPayload
				json.Unmarshal(b, &p)
				keys = append(keys, p.IdempotencyKey, r.hook.headers[i].Get(notify.IdempotencyHeader))
			}
			r.hook.mu.Unlock()
			for _, k := range keys {
				if k != "idpkeeper:F-0123456789ab/d14" {
					t.Errorf("idempotency keys %q: want one stable key", keys)
					break
				}
			}
			logMu.Lock()
			text := logs.String()
			logMu.Unlock()
			if strings.Count(text, "level=WARN") != 3 || !strings.Contains(text, "claimedBy=dead-job") || !strings.Contains(text, "idempotencyKey=idpkeeper:F-0123456789ab/d14") {
				t.Errorf("warnings:\n%s", text)
			}
			e, _ := r.n.Ledger.Get(ctx, f.ID)
			for _, n := range e.Notices {
				if n.Status != ledger.StatusSent || n.Takeovers != 1 || n.ClaimedBy != "job-2" {
					t.Errorf("ledger notice %+v", n)
				}
			}
			// And now it is done for good.
			mu.Lock()
			wall = wall.Add(time.Hour)
			mu.Unlock()
			if res, _ := r.n.Notify(ctx, f, "job-3"); res.Status != notify.StatusSkippedAlreadySent {
				t.Fatalf("after sending: %+v", res)
			}
		})
	}
}

// A mailed notice has one Message-ID per finding and stage, on the
// sender's domain: a repeat is the same message to mail systems.
func TestMailMessageIDIsStable(t *testing.T) {
	srv, mail := graphFake(t)
	m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
	for i := 0; i < 2; i++ {
		if _, err := mail.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	other := notify.Compose(partnerFinding(), "d7", testConfig(), testLinks)
	if _, err := mail.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	sent := srv.SentMail()
	ids := make([]string, len(sent))
	for i, s := range sent {
		for _, line := range strings.Split(string(s.Raw), "\r\n") {
			if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
				ids[i] = v
			}
		}
	}
	if ids[0] != "<idpkeeper.F-0123456789ab.d14@contoso.com>" || ids[1] != ids[0] || ids[2] != "<idpkeeper.F-0123456789ab.d7@contoso.com>" {
		t.Fatalf("Message-IDs %q", ids)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
