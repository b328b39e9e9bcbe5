package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// azureApp is the Functions app as a default `azd up` deploys it: the
// package (host.json, function folders, config/) as a read-only app root and
// working directory, the state in Blob Storage (Azurite), no mailbox, the
// config template, the deployment's vault from IDPKEEPER_KEYVAULT_URL, dry
// run. Only the live tenant (the HTTPS fake, through the real SDKs) and
// Service Bus (an in-process queue) are substituted.
type azureApp struct {
	testApp
	fake  *azurefake.Server
	root  string
	files []string // the app root's files before the run
}

func newAzureApp(t *testing.T, settings map[string]string) azureApp {
	t.Helper()
	conn := azuritetest.Start(t) // before leaving the repository (it finds .ci/)
	tn, err := azurefake.LoadTenant(filepath.Join("..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	fake := azurefake.NewServer(tn)
	t.Cleanup(fake.Close)

	root := t.TempDir()
	copyInto(t, filepath.Join("..", "host.json"), filepath.Join(root, "host.json"))
	copyInto(t, filepath.Join("..", "config", "idpkeeper.yaml"), filepath.Join(root, "config", "idpkeeper.yaml"))
	dirs, _ := filepath.Glob("*/function.json")
	for _, d := range dirs {
		copyInto(t, d, filepath.Join(root, d))
	}
	files := listFiles(t, root)
	readOnly(t, root)
	t.Chdir(root)

	env := map[string]string{
		"IDPKEEPER_CONFIG":            "config/idpkeeper.yaml",
		"IDPKEEPER_STATE":             conn,
		"IDPKEEPER_STATE_CONTAINER":   "idpkeeper",
		"IDPKEEPER_KEYVAULT_URL":      "https://contoso-idp-kv.vault.azure.net/",
		"IDPKEEPER_NOTICE_MAILBOX":    "",
		"IDPKEEPER_SNAPSHOT":          "",
		"IDPKEEPER_APPLY":             "false",
		"IDPKEEPER_PROBE_CREDENTIALS": "false",
		"IDPKEEPER_ACK_URL":           "",
		jobs.SettingConnection:        "",
		jobs.SettingNamespace:         "",
	}
	for k, v := range settings {
		env[k] = v
	}
	for k, v := range env {
		t.Setenv(k, v)
	}

	logs := &bytes.Buffer{}
	logger := funchost.NewLogger(logs, logs, slog.LevelInfo)
	queue := jobs.NewMemory(jobs.MemoryOptions{})
	src := scan.Source{Credential: tenant.StaticCredential{}, Transport: fake.Transport()}
	app := &functionsApp{logger: logger, build: func(ctx context.Context) (*pipeline.Pipeline, error) {
		p, _, err := azurePipelineWith(ctx, logger, azureParts{Source: &src, Sender: queue})
		return p, err
	}}
	state, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: conn, Container: "idpkeeper"})
	if err != nil {
		t.Fatal(err)
	}
	return azureApp{testApp: testApp{functionsApp: app, logs: logs, queue: queue, state: state}, fake: fake, root: root, files: files}
}

func copyInto(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// readOnly makes the app root read-only, as the package is on Flex
// Consumption. (Root ignores the mode bits, so the test also checks that
// nothing was written.)
func readOnly(t *testing.T, root string) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chmod(dirs[i], 0o555)
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			os.Chmod(d, 0o755)
		}
	})
}

// drain takes every queued job off the in-process queue.
func (a azureApp) drain(t *testing.T) []jobs.Delivery {
	t.Helper()
	var out []jobs.Delivery
	if _, err := a.queue.Drain(context.Background(), func(_ context.Context, d jobs.Delivery) error {
		out = append(out, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

var functionFor = map[jobs.Kind]string{
	jobs.KindRefreshMetadata:  "RefreshMetadata",
	jobs.KindRotateCredential: "RotateCredential",
	jobs.KindResolveSecret:    "RotateCredential",
	jobs.KindNotifyOwner:      "NotifyOwner",
}

// deliver hands each job to its function as the Service Bus trigger would.
func (a azureApp) deliver(t *testing.T, ds []jobs.Delivery) {
	t.Helper()
	for _, d := range ds {
		fn := functionFor[d.Job.Kind]
		if code, out := a.invoke(t, fn, serviceBusPayload(t, d.MessageID, string(d.Body))); code != 200 {
			t.Errorf("%s %s failed: %d %v\n%s", fn, d.MessageID, code, out, a.logs)
		}
	}
}

// The default Azure deployment end to end: ScanTimer stores the report and
// the secret index and queues notices; NotifyOwner keeps every notice in the
// state store (no mailbox, no webhook) and succeeds — no failed invocation,
// nothing parked, nothing written under the read-only app root;
// KeyVaultEvents decides without a single Graph or Key Vault request.
func TestAzureShapedDefaultDeployment(t *testing.T) {
	timer := hostPayload(t, "timer_first_run.json")
	event, err := os.ReadFile(filepath.Join("..", "examples", "events", "secret-near-expiry.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := newAzureApp(t, nil)
	ctx := context.Background()

	if code, out := a.invoke(t, "ScanTimer", timer); code != 200 {
		t.Fatalf("ScanTimer: %d %v\n%s", code, out, a.logs)
	}
	queued := a.drain(t)
	notices := 0
	for _, d := range queued {
		if d.Job.Kind == jobs.KindNotifyOwner {
			notices++
		}
	}
	if notices == 0 {
		t.Fatalf("the scan queued no notice jobs: %d jobs", len(queued))
	}
	a.deliver(t, queued)
	a.deliver(t, a.drain(t)) // jobs the first ones queued

	// Every notice is in Blob Storage: outbox/<date>/<finding>-<stage>.json,
	// one per notify job, each with its text and HTML.
	stored := 0
	for _, d := range queued {
		if d.Job.Kind != jobs.KindNotifyOwner {
			continue
		}
		var entry struct {
			Notices []struct{ Stage, Channel, Status, MessageID string }
		}
		data, _, err := a.state.Get(ctx, "ledger/"+d.Job.FindingID+".json")
		if err != nil || json.Unmarshal(data, &entry) != nil {
			t.Fatalf("no ledger entry for %s: %v", d.Job.FindingID, err)
		}
		for _, n := range entry.Notices {
			if n.Channel != "store" || n.Stage != d.Job.Stage {
				continue
			}
			if n.Status != "sent" || !strings.HasPrefix(n.MessageID, "store:outbox/") {
				t.Errorf("%s %s: %+v", d.Job.FindingID, d.Job.Stage, n)
				continue
			}
			doc := strings.TrimPrefix(n.MessageID, "store:")
			body, _, err := a.state.Get(ctx, doc)
			var sn notify.StoredNotice
			if err != nil || json.Unmarshal(body, &sn) != nil || sn.FindingID != d.Job.FindingID || sn.Text == "" || sn.HTML == "" {
				t.Errorf("stored notice %s: %v", doc, err)
				continue
			}
			for _, part := range sn.Documents {
				if _, _, err := a.state.Get(ctx, part); err != nil {
					t.Errorf("%s: %v", part, err)
				}
			}
			stored++
		}
	}
	if stored != notices {
		t.Errorf("%d notices stored for %d notice jobs\n%s", stored, notices, a.logs)
	}
	if !strings.Contains(a.logs.String(), "notice stored (no mail or webhook configured") {
		t.Errorf("stored notices are not logged:\n%s", a.logs)
	}
	if parked, err := jobs.ListParked(ctx, a.state, 0); err != nil || len(parked) != 0 {
		t.Errorf("parked %+v %v", parked, err)
	}
	if strings.Contains(a.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", a.logs)
	}
	if got := listFiles(t, a.root); strings.Join(got, ",") != strings.Join(a.files, ",") {
		t.Errorf("the app wrote under its read-only root: %v, was %v", got, a.files)
	}

	// KeyVaultEvents: decided from the index the scan stored, no call out.
	before := len(a.fake.Requests())
	var evs []json.RawMessage
	if json.Unmarshal(event, &evs) != nil || len(evs) == 0 {
		evs = []json.RawMessage{event}
	}
	for _, raw := range []string{string(evs[0]), unmanagedEvent} {
		if code, out := a.invoke(t, "KeyVaultEvents", `{"Data":{"event":`+raw+`},"Metadata":{}}`); code != 200 {
			t.Fatalf("KeyVaultEvents: %d %v", code, out)
		}
	}
	if n := len(a.fake.Requests()) - before; n != 0 {
		for _, r := range a.fake.Requests()[before:] {
			t.Logf("%s %s%s", r.Method, r.Host, r.Path)
		}
		t.Fatalf("KeyVaultEvents made %d Graph/Key Vault requests", n)
	}
	kinds := map[jobs.Kind]int{}
	for _, d := range a.drain(t) {
		kinds[d.Job.Kind]++
	}
	if kinds[jobs.KindRotateCredential] != 1 || kinds[jobs.KindResolveSecret] != 1 {
		t.Errorf("events queued %v, want one rotation and one resolve job", kinds)
	}
}

// A Key Vault 403 (Secrets Officer not granted) on a repair job parks it at
// its first delivery with the role and the vault named, answers 200 (no
// redelivery storm), and `idpkeeper jobs dead-letters` shows it.
func TestAzureShapedKeyVault403IsParkedWithTheRole(t *testing.T) {
	timer := hostPayload(t, "timer_first_run.json")
	a := newAzureApp(t, map[string]string{"IDPKEEPER_APPLY": "true"})
	ctx := context.Background()
	if code, out := a.invoke(t, "ScanTimer", timer); code != 200 {
		t.Fatalf("ScanTimer: %d %v\n%s", code, out, a.logs)
	}
	a.drain(t)
	a.fake.AddFault(azurefake.Fault{Method: "GET", PathPrefix: "/secrets/facebook-app-secret/", Status: 403, Code: "Forbidden",
		Message: "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'"})
	if code, out := a.invoke(t, "KeyVaultEvents", `{"Data":{"event":`+newFacebookVersionEvent+`},"Metadata":{}}`); code != 200 {
		t.Fatalf("KeyVaultEvents: %d %v", code, out)
	}
	jobsQueued := a.drain(t)
	if len(jobsQueued) != 1 || jobsQueued[0].Job.Kind != jobs.KindRotateCredential {
		t.Fatalf("queued %+v", jobsQueued)
	}
	code, out := a.invoke(t, "RotateCredential", serviceBusPayload(t, jobsQueued[0].MessageID, string(jobsQueued[0].Body)))
	if code != 200 {
		t.Fatalf("RotateCredential answered %d (%v): a 403 must be parked, not retried\n%s", code, out, a.logs)
	}
	parked, err := jobs.ListParked(ctx, a.state, 0)
	if err != nil || len(parked) != 1 || !strings.Contains(parked[0].Reason, `grant "Key Vault Secrets Officer" on vault contoso-idp-kv`) ||
		!strings.Contains(parked[0].Reason, "IDPKEEPER_ENABLE_REPAIR") {
		t.Fatalf("parked %+v %v", parked, err)
	}
	code, stdout, stderr := runCLI(t, "jobs", "dead-letters")
	if code != exitOK || !strings.Contains(stdout, `\"Key Vault Secrets Officer\"`) || !strings.Contains(stdout, jobsQueued[0].MessageID) {
		t.Errorf("jobs dead-letters: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

const unmanagedEvent = `{"id":"x3","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"smtp-relay-password","eventTime":"2026-11-20T06:00:00Z","data":{"VaultName":"contoso-idp-kv","ObjectName":"smtp-relay-password","ObjectType":"Secret"},"dataVersion":"1","metadataVersion":"1"}`

const newFacebookVersionEvent = `{"id":"ev-fb-1","eventType":"Microsoft.KeyVault.SecretNewVersionCreated","subject":"facebook-app-secret","eventTime":"2026-11-24T08:00:00Z","data":{"Id":"https://contoso-idp-kv.vault.azure.net/secrets/facebook-app-secret/4c9f2b1a0d3e5f7a9c1b3d5f7e9a2c4b","VaultName":"contoso-idp-kv","ObjectType":"Secret","ObjectName":"facebook-app-secret","Version":"4c9f2b1a0d3e5f7a9c1b3d5f7e9a2c4b"},"dataVersion":"1","metadataVersion":"1"}`
