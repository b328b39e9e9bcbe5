package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

var capturedAt = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

func examples(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "examples"}, parts...)...)
}

type rig struct {
	p      *pipeline.Pipeline
	queue  *jobs.Memory
	outbox string
	state  statestore.Store
}

func newRig(t testing.TB, state statestore.Store) rig {
	t.Helper()
	cfg, err := config.Load(examples("idpkeeper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return capturedAt }
	led := &ledger.Ledger{Store: state, Now: clock}
	outbox := t.TempDir()
	queue := jobs.NewMemory(jobs.MemoryOptions{})
	p := &pipeline.Pipeline{
		Config: cfg, Source: scan.Source{SnapshotDir: examples("tenant")}, Sender: queue, State: state, Ledger: led,
		Notifier: &notify.Notifier{Ledger: led, Config: cfg, Now: clock, Channels: []notify.Channel{notify.Outbox{Dir: outbox, Stdout: io.Discard}}},
		Metadata: &scan.MemoryStore{}, Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return rig{p: p, queue: queue, outbox: outbox, state: state}
}

// collect drains the queue, capturing every delivery instead of handling it.
func (r rig) collect(t testing.TB) []jobs.Delivery {
	t.Helper()
	var got []jobs.Delivery
	if _, err := r.queue.Drain(context.Background(), func(_ context.Context, d jobs.Delivery) error {
		got = append(got, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func (r rig) outboxFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(r.outbox)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// ledgerSnapshot reads every ledger document the deliveries touched.
func ledgerSnapshot(t testing.TB, r rig, ids []string) map[string]ledger.Entry {
	t.Helper()
	out := map[string]ledger.Entry{}
	for _, id := range ids {
		e, err := r.p.Ledger.Get(context.Background(), id)
		if err == nil {
			out[id] = e
		}
	}
	return out
}

func TestScanQueuesRefreshAndNoticeJobs(t *testing.T) {
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	res, queued, err := r.p.ScanAndQueue(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[jobs.Kind]int{}
	for _, j := range queued {
		kinds[j.Kind]++
		if err := j.Validate(); err != nil {
			t.Errorf("queued an invalid job: %v", err)
		}
	}
	// Fabrikam is the one partner with a metadata URL in the example config.
	if kinds[jobs.KindRefreshMetadata] != 1 {
		t.Errorf("refresh jobs = %d, want 1", kinds[jobs.KindRefreshMetadata])
	}
	if kinds[jobs.KindNotifyOwner] == 0 || kinds[jobs.KindNotifyOwner] > len(res.Findings) {
		t.Errorf("notice jobs = %d for %d findings", kinds[jobs.KindNotifyOwner], len(res.Findings))
	}
	if _, _, err := r.state.Get(context.Background(), pipeline.LatestReport); err != nil {
		t.Errorf("report not stored: %v", err)
	}
	// The same scan again queues the same message IDs: duplicate detection
	// drops them all.
	_, again, err := r.p.ScanAndQueue(context.Background(), "test-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.collect(t)) != len(queued) || len(again) != len(queued) {
		t.Errorf("a repeated scan delivered more than once")
	}
}

// Every job type delivered 3 times in a row and twice at once ends in the
// same ledger state as a single delivery, with at most one notice per stage.
func TestRedeliveryIsIdempotent(t *testing.T) {
	stores := map[string]func(t *testing.T) statestore.Store{
		"dir": func(t *testing.T) statestore.Store { return statestore.Dir{Root: t.TempDir()} },
		"blob": func(t *testing.T) statestore.Store {
			b, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: azuritetest.Start(t), Container: "replay"})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			once, many := newRig(t, mk(t)), newRig(t, mk(t))
			var deliveries []jobs.Delivery
			for _, r := range []rig{once, many} {
				if _, _, err := r.p.ScanAndQueue(ctx, "replay"); err != nil {
					t.Fatal(err)
				}
				// A Key Vault event adds a rotate-credential job.
				event, _ := os.ReadFile(examples("events", "secret-near-expiry.json"))
				raws := mustSplit(t, event)
				if out, err := r.p.HandleEvent(ctx, raws[0]); err != nil || out.Outcome != pipeline.EventQueued {
					t.Fatalf("event: %+v %v", out, err)
				}
				deliveries = r.collect(t)
			}
			kinds := map[jobs.Kind]bool{}
			for _, d := range deliveries {
				kinds[d.Job.Kind] = true
			}
			if len(kinds) != 3 {
				t.Fatalf("replay covers %v, want all three job kinds", kinds)
			}

			handle := func(r rig, d jobs.Delivery) {
				if err := r.p.Handler()(ctx, d); err != nil {
					t.Errorf("%s %s: %v", d.Job.Kind, d.Job.Dependency, err)
				}
			}
			for _, d := range deliveries {
				handle(once, d)
				for i := 0; i < 3; i++ {
					handle(many, d)
				}
				var wg sync.WaitGroup
				for i := 0; i < 2; i++ {
					wg.Add(1)
					go func() { defer wg.Done(); handle(many, d) }()
				}
				wg.Wait()
			}
			// Jobs queued by handlers (rotate → notify) are replayed too.
			for _, d := range once.collect(t) {
				handle(once, d)
			}
			for _, d := range many.collect(t) {
				for i := 0; i < 5; i++ {
					handle(many, d)
				}
			}

			a, b := once.outboxFiles(t), many.outboxFiles(t)
			if len(a) == 0 {
				t.Fatal("no notice was sent at all")
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("notices after one delivery %v\nafter five %v", a, b)
			}
			var ids []string
			for _, d := range deliveries {
				if d.Job.FindingID != "" {
					ids = append(ids, d.Job.FindingID)
				}
			}
			la, lb := ledgerSnapshot(t, once, ids), ledgerSnapshot(t, many, ids)
			if len(la) == 0 || !reflect.DeepEqual(la, lb) {
				ja, _ := json.MarshalIndent(la, "", " ")
				jb, _ := json.MarshalIndent(lb, "", " ")
				t.Errorf("ledgers differ:\nonce %s\nmany %s", ja, jb)
			}
			for id, e := range lb {
				seen := map[string]int{}
				for _, n := range e.Notices {
					seen[n.Stage+"/"+n.Channel]++
				}
				for k, c := range seen {
					if c > 1 {
						t.Errorf("%s: %d notices for %s", id, c, k)
					}
				}
			}
		})
	}
}

func mustSplit(t testing.TB, data []byte) []json.RawMessage {
	t.Helper()
	var raws []json.RawMessage
	trimmed := strings.TrimSpace(string(data))
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal(data, &raws); err != nil {
			t.Fatal(err)
		}
		return raws
	}
	return []json.RawMessage{json.RawMessage(trimmed)}
}

// A scan that finds a secret version newer than the one applied to Entra
// queues its rotation, as a SecretNewVersionCreated event would.
func TestScanQueuesANewerVersionThanApplied(t *testing.T) {
	tn, err := azurefake.LoadTenant(examples("fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tn.Vaults["contoso-idp-kv.vault.azure.net"].Secrets {
		if s.Name == "google-client-secret" {
			s.Versions[0].Tags = map[string]string{"idpkeeper-dependency": "social/Google-OAUTH", "idpkeeper-applied": "2025-07-01T09:00:00Z"}
		}
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	r.p.Source = scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
	_, queued, err := r.p.ScanAndQueue(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, j := range queued {
		if j.Kind == jobs.KindRotateCredential {
			found++
			if j.Reason != pipeline.ReasonScanNewVersion || j.Dependency != "social/Google-OAUTH" || j.Secret == nil || j.Secret.Version != "9f2a4c6e8b0d1f3a5c7e9b1d3f5a7c9e" {
				t.Errorf("rotation job = %+v", j)
			}
		}
	}
	if found != 1 {
		t.Fatalf("%d rotation jobs, want 1 for Google's newer version", found)
	}
}

// After a refresh has kept a partner's metadata, the next timer report shows
// what it said (here: Fabrikam's pending rollover) without fetching again.
func TestTimerReportShowsLastRefreshedMetadata(t *testing.T) {
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	res, _, err := r.p.ScanAndQueue(context.Background(), "first")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		if f.Kind == "federation-metadata-rollover-pending" {
			t.Fatal("the first report knows metadata it never fetched")
		}
	}
	for _, d := range r.collect(t) {
		if d.Job.Kind == jobs.KindRefreshMetadata {
			if err := r.p.Handler()(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, _, err = r.p.ScanAndQueue(context.Background(), "second")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range res.Report.Findings {
		found = found || f.Kind == "federation-metadata-rollover-pending" && f.Dependency.Name == "Fabrikam"
	}
	if !found {
		t.Error("the second report does not show Fabrikam's pending rollover")
	}
}

// Without a queue (no Service Bus settings yet) the timer still scans and
// stores the report; it queues nothing and says so instead of failing.
func TestScanWithoutAQueue(t *testing.T) {
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	r.p.Sender = nil
	res, queued, err := r.p.ScanAndQueue(context.Background(), "noqueue")
	if err != nil || len(queued) != 0 || len(res.Findings) == 0 {
		t.Fatalf("%d jobs, %d findings, %v", len(queued), len(res.Findings), err)
	}
	if _, _, err := r.state.Get(context.Background(), pipeline.LatestReport); err != nil {
		t.Fatalf("report not stored: %v", err)
	}
	raws := mustSplit(t, []byte(`{"id":"e1","eventType":"Microsoft.KeyVault.SecretNearExpiry","data":{"VaultName":"contoso-idp-kv","ObjectName":"facebook-app-secret"}}`))
	if _, err := r.p.HandleEvent(context.Background(), raws[0]); err == nil || !strings.Contains(err.Error(), "no job queue") {
		t.Errorf("an event without a queue: %v", err)
	}
}

// A repair whose read-back never shows the write (replication lag beyond the
// backoff, or a write Entra dropped) tells the owner what was written and
// what Entra shows, and the job ends parked (permanent), not redelivered
// into a second write.
func TestReadBackMismatchTellsTheOwnerAndParks(t *testing.T) {
	tn, err := azurefake.LoadTenant(examples("fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	pfx, thumb := azurefake.PFXBase64(azurefake.PFXOptions{CommonName: "registry client 2027", NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), WithChain: true})
	vault := tn.Vaults["contoso-idp-kv.vault.azure.net"]
	for i := range vault.Secrets {
		if vault.Secrets[i].Name == "partner-registry-client-cert" {
			vault.Secrets[i].Versions = append(vault.Secrets[i].Versions, azurefake.SecretVersion{
				Version: "c0ffee00000000000000000000000001", Value: pfx, Enabled: true, Created: now, Updated: now,
				ContentType: "application/x-pkcs12", Tags: map[string]string{"idpkeeper-dependency": "connector/b4c2d3e5-0002-4f6a-9b0c-1d2e3f4a5b6c"},
			})
		}
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	srv.ReplicationLag(1000)
	state := statestore.Dir{Root: t.TempDir()}
	r := newRig(t, state)
	r.p.Source = scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: r.p.Config.KeyVaults})
	if err != nil {
		t.Fatal(err)
	}
	r.p.Repair = &repair.Deps{
		Graph: clients.Graph, Vaults: repair.VaultsOf(clients), Journal: &repair.Journal{Store: state}, Mode: repair.Apply,
		ReadBack: repair.ReadBack{Attempts: 3, First: time.Millisecond, Max: time.Millisecond},
	}
	event := `{"id":"ev-cert-1","eventType":"Microsoft.KeyVault.SecretNewVersionCreated","subject":"partner-registry-client-cert","eventTime":"2026-11-20T06:00:00Z",` +
		`"data":{"Id":"https://contoso-idp-kv.vault.azure.net/secrets/partner-registry-client-cert/c0ffee00000000000000000000000001","VaultName":"contoso-idp-kv","ObjectType":"Secret","ObjectName":"partner-registry-client-cert","Version":"c0ffee00000000000000000000000001"},"dataVersion":"1","metadataVersion":"1"}`
	// The timer's secret index lets the event queue the rotation itself
	// (without it a resolve-secret job comes first).
	if err := r.p.StoreSecretIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, err := r.p.HandleEvent(context.Background(), []byte(event)); err != nil || out.Outcome != "queued" {
		t.Fatalf("event: %+v %v", out, err)
	}
	deliveries := r.collect(t)
	if len(deliveries) != 1 {
		t.Fatalf("%d jobs", len(deliveries))
	}
	err = r.p.Handler()(context.Background(), deliveries[0])
	if !jobs.IsPermanent(err) || !errors.Is(err, repair.ErrReadBackMismatch) {
		t.Fatalf("err = %v, want a permanent read-back mismatch", err)
	}
	var notice string
	for _, f := range r.outboxFiles(t) {
		b, _ := os.ReadFile(filepath.Join(r.outbox, f))
		notice += string(b)
	}
	if !strings.Contains(notice, "uploaded client certificate "+thumb) || !strings.Contains(notice, "reading the connector back 3 times") {
		t.Errorf("owner notice:\n%s", notice)
	}
	uploads := 0
	for _, w := range srv.Writes() {
		if strings.HasSuffix(w.Path, "/uploadClientCertificate") {
			uploads++
		}
	}
	if uploads != 1 {
		t.Errorf("%d uploads", uploads)
	}
}
