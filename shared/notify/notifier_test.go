package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// rig is a Notifier on all three channels, each observable: the Graph fake
// (sendMail), a webhook receiver and an outbox folder.
type rig struct {
	n      *notify.Notifier
	store  statestore.Store
	graph  *azurefake.Server
	hook   *hook
	outbox string
	stdout *lockedBuffer
	mu     sync.Mutex
	now    time.Time
	delay  time.Duration
}

func newRig(t *testing.T, store statestore.Store) *rig {
	t.Helper()
	graph, mail := graphFake(t)
	h := &hook{}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	r := &rig{store: store, graph: graph, hook: h, outbox: t.TempDir(), stdout: &lockedBuffer{}}
	clock := func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
	r.n = &notify.Notifier{
		Ledger: &ledger.Ledger{Store: store, Now: clock},
		Channels: []notify.Channel{
			delayed{mail, r},
			delayed{notify.Webhook{URL: hs.URL + "/hook?sig=SEKRETSIG", Network: loopback}, r},
			delayed{notify.Outbox{Dir: r.outbox, Stdout: r.stdout}, r},
		},
		Config: testConfig(),
		Now:    clock,
		Links:  testLinks,
	}
	return r
}

func (r *rig) at(t time.Time) { r.mu.Lock(); r.now = t; r.mu.Unlock() }

// delayed holds each send for the rig's delay, so that concurrent
// deliveries overlap between claim and send: the window in which a weaker
// protocol would send twice.
type delayed struct {
	notify.Channel
	r *rig
}

func (d delayed) Send(ctx context.Context, m notify.Message) (string, error) {
	d.r.mu.Lock()
	wait := d.r.delay
	d.r.mu.Unlock()
	time.Sleep(wait)
	return d.Channel.Send(ctx, m)
}

// counts are the notices each channel delivered: sendMail calls, webhook
// POSTs and outbox .eml files.
func (r *rig) counts(t *testing.T) [3]int {
	emls := 0
	for _, n := range outboxFiles(t, r.outbox) {
		if strings.HasSuffix(n, ".eml") {
			emls++
		}
	}
	return [3]int{len(r.graph.SentMail()), r.hook.count(), emls}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func ledgerStores(t *testing.T) map[string]statestore.Store {
	t.Helper()
	blob, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{
		ConnectionString: azuritetest.Start(t),
		Container:        "notify-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]statestore.Store{"blob": blob, "dir": statestore.Dir{Root: t.TempDir()}}
}

// Replay: the same NotifyOwner job delivered 3 times in a row and twice at
// once sends each stage once per channel and leaves the ledger as after the
// first delivery.
func TestNotifyReplay(t *testing.T) {
	ctx := context.Background()
	for name, store := range ledgerStores(t) {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, store)
			f := partnerFinding()
			r.at(due.Add(-10 * day)) // first seen inside the d14 window

			// Twice at once, on a fresh finding: the claim decides.
			r.mu.Lock()
			r.delay = 300 * time.Millisecond
			r.mu.Unlock()
			results := make([]notify.Result, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := r.n.Notify(ctx, f, fmt.Sprintf("concurrent-%d", i))
					if err != nil {
						t.Error(err)
					}
					results[i] = res
				}()
			}
			wg.Wait()
			r.mu.Lock()
			r.delay = 0
			r.mu.Unlock()
			sent := 0
			for _, res := range results {
				if res.Stage != "d14" {
					t.Fatalf("stage %q", res.Stage)
				}
				for _, c := range res.Channels {
					if c.Status == notify.StatusSent {
						sent++
					}
				}
			}
			if sent != 3 {
				t.Fatalf("two concurrent deliveries sent %d notices, want one per channel (3): %+v", sent, results)
			}
			if got := r.counts(t); got != [3]int{1, 1, 1} {
				t.Fatalf("mail, webhook, outbox = %v after concurrent delivery", got)
			}
			after, err := r.n.Ledger.Get(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}

			// Three more deliveries, one after the other.
			for i := range 3 {
				res, err := r.n.Notify(ctx, f, fmt.Sprintf("sequential-%d", i))
				if err != nil || res.Status != notify.StatusSkippedAlreadySent {
					t.Fatalf("redelivery %d: %+v %v", i, res, err)
				}
			}
			if got := r.counts(t); got != [3]int{1, 1, 1} {
				t.Fatalf("mail, webhook, outbox = %v after redelivery", got)
			}
			again, _ := r.n.Ledger.Get(ctx, f.ID)
			if !reflect.DeepEqual(after, again) {
				t.Fatalf("redelivery changed the ledger:\n%+v\n%+v", after, again)
			}
			if again.StageReached != "d14" || len(again.Notices) != 3 {
				t.Fatalf("ledger: stage %q, %d notices", again.StageReached, len(again.Notices))
			}
			for _, n := range again.Notices {
				if n.Status != ledger.StatusSent || n.MessageID == "" {
					t.Fatalf("notice %+v", n)
				}
			}

			// The next stage goes out once; overdue goes out once a day.
			for _, step := range []struct {
				at   time.Time
				want [3]int
			}{
				{due.Add(-6 * day), [3]int{2, 2, 2}},
				{due.Add(-6*day + time.Hour), [3]int{2, 2, 2}},
				{due.Add(time.Hour), [3]int{3, 3, 3}},
				{due.Add(5 * time.Hour), [3]int{3, 3, 3}},
				{due.Add(day), [3]int{4, 4, 4}},
			} {
				r.at(step.at)
				for i := range 3 {
					if _, err := r.n.Notify(ctx, f, fmt.Sprintf("later-%d", i)); err != nil {
						t.Fatal(err)
					}
				}
				if got := r.counts(t); got != step.want {
					t.Fatalf("at due%+v: mail, webhook, outbox = %v, want %v", step.at.Sub(due), got, step.want)
				}
			}
			e, _ := r.n.Ledger.Get(ctx, f.ID)
			if e.StageReached != "overdue-2026-12-25" || len(e.Notices) != 12 {
				t.Fatalf("stage %q with %d notices", e.StageReached, len(e.Notices))
			}
		})
	}
}

func TestNotifyAckPauses(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	f := partnerFinding()
	r.at(due.Add(-10 * day))
	if res, err := r.n.Notify(ctx, f, "w"); err != nil || res.Status != notify.StatusSent {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := r.n.Ledger.Acknowledge(ctx, f.ID, due.Add(-4*day), "it@fabrikam.com", "new certificate on Monday"); err != nil {
		t.Fatal(err)
	}
	r.at(due.Add(-6 * day)) // d7 is due, but acknowledged
	if res, err := r.n.Notify(ctx, f, "w"); err != nil || res.Status != notify.StatusSkippedAcked || res.Stage != "d7" {
		t.Fatalf("during the acknowledgement: %+v %v", res, err)
	}
	if got := r.counts(t); got != [3]int{1, 1, 1} {
		t.Fatalf("counts %v", got)
	}
	r.at(due.Add(-4*day + time.Minute)) // the acknowledgement has ended, d7 still due
	if res, err := r.n.Notify(ctx, f, "w"); err != nil || res.Status != notify.StatusSent || res.Stage != "d7" {
		t.Fatalf("after the acknowledgement: %+v %v", res, err)
	}
}

func TestNotifyNotDue(t *testing.T) {
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	r.at(due.Add(-90 * day))
	res, err := r.n.Notify(context.Background(), partnerFinding(), "w")
	if err != nil || res.Status != notify.StatusNotDue || len(res.Channels) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	// Still observed: the ledger knows the finding from now on.
	if e, err := r.n.Ledger.Get(context.Background(), partnerFinding().ID); err != nil || !e.FirstSeen.Equal(due.Add(-90*day)) {
		t.Fatalf("ledger %+v %v", e, err)
	}
}

// A channel that fails is retried by the next delivery; the channels that
// sent are not sent again.
func TestNotifyRetriesFailedChannel(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	r.hook.mu.Lock()
	r.hook.status = http.StatusServiceUnavailable
	r.hook.mu.Unlock()
	f := partnerFinding()
	r.at(due.Add(-10 * day))
	res, err := r.n.Notify(ctx, f, "first")
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") || strings.Contains(err.Error(), "SEKRET") {
		t.Fatalf("error %v", err)
	}
	if res.Status != notify.StatusSent { // mail and outbox went out
		t.Fatalf("%+v", res)
	}
	e, _ := r.n.Ledger.Get(ctx, f.ID)
	if n, _ := e.Notice("d14", "webhook"); n.Status != ledger.StatusFailed || n.Error == "" {
		t.Fatalf("webhook notice %+v", n)
	}
	res, err = r.n.Notify(ctx, f, "retry")
	if err != nil {
		t.Fatal(err)
	}
	byChannel := map[string]string{}
	for _, c := range res.Channels {
		byChannel[c.Channel] = c.Status
	}
	if byChannel["webhook"] != notify.StatusSent || byChannel["mail"] != notify.StatusSkippedAlreadySent || byChannel["outbox"] != notify.StatusSkippedAlreadySent {
		t.Fatalf("retry: %v", byChannel)
	}
	if got := r.counts(t); got != [3]int{1, 1, 1} {
		t.Fatalf("counts %v", got)
	}
}

// Canary: a secret planted in a finding's Detail (under an unexpected key,
// and under an allowed key in the wrong shape) appears in no message, no
// channel payload, no ledger document and no stdout line.
func TestNotifyCanary(t *testing.T) {
	const canary = "CANARY~s3cr3t.Value_9f8e7d6c5b4a"
	ctx := context.Background()
	stateDir := t.TempDir()
	r := newRig(t, statestore.Dir{Root: stateDir})
	f := partnerFinding()
	f.Detail = map[string]string{
		"clientSecret":     canary,
		"password":         canary,
		"certificateError": "parse error near " + canary,
		"thumbprint":       canary,
		"notAfter":         "2026-12-24T12:00:00Z " + canary,
		"secretName":       "google-client-secret",
	}
	r.at(due.Add(-2 * day))

	m := notify.Compose(f, "d3", testConfig(), testLinks)
	if dump := fmt.Sprintf("%+v", m); strings.Contains(dump, canary) {
		t.Fatalf("the composed message carries the canary:\n%s", dump)
	}
	if !strings.Contains(m.Text, "google-client-secret") {
		t.Fatal("allow-listed facts are missing, so this test proves nothing")
	}
	if _, err := r.n.Notify(ctx, f, "w"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.n.Ledger.RecordJob(ctx, f.ID, ledger.JobOutcome{MessageID: "m1", Kind: "notify", Outcome: "sent"}); err != nil {
		t.Fatal(err)
	}
	if got := r.counts(t); got != [3]int{1, 1, 1} {
		t.Fatalf("counts %v", got)
	}
	var everything [][]byte
	ledgerDocs := 0
	for _, s := range r.graph.SentMail() {
		everything = append(everything, s.Raw)
	}
	r.hook.mu.Lock()
	everything = append(everything, r.hook.bodies...)
	r.hook.mu.Unlock()
	for _, dir := range []string{r.outbox, stateDir} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == ".locks" {
				return filepath.SkipDir // the folder store's empty lock files
			}
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			everything = append(everything, b)
			if strings.HasPrefix(p, stateDir) && strings.HasSuffix(p, ledger.DocumentName(f.ID)) {
				ledgerDocs++
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	everything = append(everything, []byte(r.stdout.String()))
	for _, b := range everything {
		if bytes.Contains(b, []byte(canary)) {
			t.Fatalf("canary leaked into:\n%s", b)
		}
	}
	// mail, webhook, .eml, .html, ledger document, stdout
	if ledgerDocs != 1 || len(everything) != 6 {
		t.Fatalf("checked %d outputs with %d ledger documents: the test did not see everything", len(everything), ledgerDocs)
	}
}
