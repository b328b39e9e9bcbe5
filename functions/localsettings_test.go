package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// The documented local run, end to end through the handler's HTTP server:
// the settings of local.settings.sample.json (IDPKEEPER_SNAPSHOT with the
// example config, whose notifications name a mailbox) over a staged app
// root, and host-shaped invocations POSTed to every function. Substituted
// are only what a test cannot have: Azurite on a free port instead of
// 10000 (same account, so UseDevelopmentStorage=true's meaning), and an
// in-process queue for the Service Bus emulator. Every pipeline function
// answers 200 — mail notices go to the state store instead of failing —
// and Ack works once a link key is set.
func TestLocalSettingsEndToEndThroughServe(t *testing.T) {
	conn := azuritetest.Start(t)
	var sample struct{ Values map[string]string }
	data, err := os.ReadFile(filepath.Join("..", "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sample); err != nil {
		t.Fatal(err)
	}
	if sample.Values["IDPKEEPER_SNAPSHOT"] == "" || sample.Values["IDPKEEPER_CONFIG"] == "" {
		t.Fatalf("the sample settings no longer scan a snapshot: %v", sample.Values)
	}

	// The app root as `func start` sees it after the local stage: host.json,
	// the function folders, examples/.
	root := t.TempDir()
	copyInto(t, filepath.Join("..", "host.json"), filepath.Join(root, "host.json"))
	dirs, _ := filepath.Glob("*/function.json")
	for _, d := range dirs {
		copyInto(t, d, filepath.Join(root, d))
	}
	for _, f := range listFiles(t, filepath.Join("..", "examples")) {
		src := filepath.Join("..", "examples", f)
		if fi, err := os.Stat(src); err == nil && fi.Mode().IsRegular() {
			copyInto(t, src, filepath.Join(root, "examples", f))
		}
	}
	t.Chdir(root)
	for k, v := range sample.Values {
		t.Setenv(k, v)
	}
	t.Setenv("IDPKEEPER_STATE", conn)
	container := sample.Values["IDPKEEPER_STATE_CONTAINER"]

	var logs bytes.Buffer
	logger := funchost.NewLogger(&logs, &logs, slog.LevelInfo)
	queue := jobs.NewMemory(jobs.MemoryOptions{})
	app := &functionsApp{logger: logger, build: func(ctx context.Context) (*pipeline.Pipeline, error) {
		p, _, err := azurePipelineWith(ctx, logger, azureParts{Sender: queue})
		return p, err
	}}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- funchost.Serve(ctx, "127.0.0.1:0", app.router(), func(a net.Addr) { addrc <- a }) }()
	t.Cleanup(func() { cancel(); <-done })
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not listen")
	}
	post := func(function, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(base+"/"+function, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	httpOut := func(out map[string]any) (string, string) {
		res, _ := out["Outputs"].(map[string]any)["res"].(map[string]any)
		return fmt.Sprint(res["statusCode"]), fmt.Sprint(res["body"])
	}

	if code, out := post("ScanTimer", hostPayload(t, "timer_first_run.json")); code != 200 {
		t.Fatalf("ScanTimer: %d %v\n%s", code, out, logs.String())
	}
	// The endpoint watch plans from the inventory the scan stored.
	if code, out := post("WatchTimer", hostPayload(t, "timer_first_run.json")); code != 200 {
		t.Fatalf("WatchTimer: %d %v\n%s", code, out, logs.String())
	}
	if !strings.Contains(logs.String(), "notices are not mailed: the app reads a snapshot") {
		t.Errorf("the app does not say mail is off for a snapshot:\n%s", logs.String())
	}
	for _, format := range []string{"json", "table", "html"} {
		req := strings.Replace(hostPayload(t, "http_report.json"), `"Query":{"format":"json"}`, `"Query":{"format":"`+format+`"}`, 1)
		code, out := post("Report", req)
		if status, body := httpOut(out); code != 200 || status != "200" || len(body) < 100 {
			t.Errorf("Report %s: %d %s %.200s", format, code, status, body)
		}
	}
	event, _ := os.ReadFile(filepath.Join("examples", "events", "secret-near-expiry.json"))
	var events []json.RawMessage
	json.Unmarshal(event, &events)
	if code, out := post("KeyVaultEvents", `{"Data":{"event":`+string(events[0])+`},"Metadata":{"sys":{"MethodName":"KeyVaultEvents","UtcNow":"2026-11-20T06:00:00Z","RandGuid":"0"}}}`); code != 200 {
		t.Errorf("KeyVaultEvents: %d %v", code, out)
	}

	// Every queued job through its function, as the Service Bus trigger
	// delivers it: none may fail (they used to answer 500: "notifications.mail
	// needs a Graph client").
	calls := map[string]int{}
	if _, err := queue.Drain(context.Background(), func(_ context.Context, d jobs.Delivery) error {
		fn := functionFor[d.Job.Kind]
		calls[fn]++
		if code, out := post(fn, serviceBusPayload(t, d.MessageID, string(d.Body))); code != 200 {
			t.Errorf("%s %s: %d %v", fn, d.MessageID, code, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"RefreshMetadata", "RotateCredential", "NotifyOwner"} {
		if calls[fn] == 0 {
			t.Errorf("no job reached %s (calls %v)", fn, calls)
		}
	}
	state, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: conn, Container: container})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := state.List(context.Background(), "outbox/")
	if len(stored) < 3*10 {
		t.Errorf("%d notice documents in the state store, want 3 per notice for the example's notices", len(stored))
	}
	if parked, _ := jobs.ListParked(context.Background(), state, 0); len(parked) != 0 {
		t.Errorf("parked: %+v", parked)
	}
	if emls, _ := filepath.Glob(filepath.Join("examples", "outbox", "*.eml")); len(emls) == 0 {
		t.Error("the example config's outbox folder got no notice")
	}

	// Ack: the sample leaves the link key empty — nothing is accepted and
	// notices carry no link; with a key, a notice's link pauses its finding.
	ackReq := ackRequest(t, url.Values{"finding": {"F-0"}, "until": {"1"}, "exp": {"2"}, "sig": {"x"}})
	if code, out := post("Ack", ackReq); code != 200 {
		t.Errorf("Ack: %d", code)
	} else if status, _ := httpOut(out); status != "503" {
		t.Errorf("Ack without a key: %s, want 503", status)
	}
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	t.Setenv(settingAckKey, key)
	t.Setenv(settingAckURL, "http://localhost:7071/api/ack")
	links := noticeLinks(nil, logger)
	p, _ := app.pipeline(context.Background())
	res, err := p.Rejudge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	link, _ := links.Ack(res.Findings[0])
	u, _ := url.Parse(link)
	if code, out := post("Ack", ackRequest(t, u.Query())); code != 200 {
		t.Errorf("Ack: %d", code)
	} else if status, body := httpOut(out); status != "200" {
		t.Errorf("Ack with a signed link: %s %s", status, body)
	}
	// Approve: a snapshot cannot be changed, and says so.
	approve := strings.Replace(hostPayload(t, "http_report.json"), `"Query":{"format":"json"}`, `"Query":{"plan":"P-1"}`, 1)
	if code, out := post("Approve", approve); code != 200 {
		t.Errorf("Approve: %d", code)
	} else if status, _ := httpOut(out); status != "409" {
		t.Errorf("Approve on a snapshot: %s, want 409", status)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}
