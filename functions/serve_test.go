package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/azuritetest"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/funchost"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// Payloads exactly as the Functions host sends them; shapes and sources are
// in shared/funchost/testdata/README.md.
func hostPayload(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(hostTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// hostTestdata is absolute, so tests that change directory still find it.
var hostTestdata, _ = filepath.Abs(filepath.Join("..", "shared", "funchost", "testdata"))

type testApp struct {
	*functionsApp
	logs   *bytes.Buffer
	queue  *jobs.Memory
	outbox string
	state  statestore.Store
}

// newTestApp is the Functions app with an in-process queue in place of
// Service Bus and notices going to an outbox folder.
func newTestApp(t *testing.T, store statestore.Store, src scan.Source) testApp {
	t.Helper()
	logs := &bytes.Buffer{}
	cfg, err := config.Load(filepath.Join("..", "examples", "idpkeeper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	queue := jobs.NewMemory(jobs.MemoryOptions{})
	outbox := t.TempDir()
	logger := funchost.NewLogger(logs, logs, slog.LevelDebug)
	app := &functionsApp{logger: logger, build: func(context.Context) (*pipeline.Pipeline, error) {
		clock, err := clockFor(src, time.Time{})
		if err != nil {
			return nil, err
		}
		return newPipeline(pipelineParts{
			Config: cfg, Source: src, Sender: queue, State: store, Logger: logger, Now: clock,
			Channels: []notify.Channel{notify.Outbox{Dir: outbox, Stdout: logs}},
		})
	}}
	return testApp{functionsApp: app, logs: logs, queue: queue, outbox: outbox, state: store}
}

func (a testApp) invoke(t *testing.T, function, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/"+function, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(funchost.HeaderInvocationID, "5b3f1c2e-0000-4000-8000-000000000001")
	rec := httptest.NewRecorder()
	a.router().ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s answered Content-Type %q; the host rejects anything but application/json", function, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s answered non-JSON: %s", function, rec.Body.String())
	}
	return rec.Code, out
}

// reportOutput digs the http output binding out of an invocation response.
func reportOutput(t *testing.T, out map[string]any) (int, string) {
	t.Helper()
	outputs, _ := out["Outputs"].(map[string]any)
	res, _ := outputs["res"].(map[string]any)
	if res == nil {
		t.Fatalf("no res output in %v", out)
	}
	// The host reads statusCode as a string (HttpOutputBindingResponse).
	status, err := strconv.Atoi(fmt.Sprint(res["statusCode"]))
	if err != nil {
		t.Fatalf("statusCode %v is not a number", res["statusCode"])
	}
	body, _ := res["body"].(string)
	return status, body
}

func TestEveryFunctionFolderHasAHandler(t *testing.T) {
	dirs, err := filepath.Glob("*/function.json")
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, d := range dirs {
		folders = append(folders, filepath.Base(filepath.Dir(d)))
	}
	app := &functionsApp{logger: slog.Default()}
	handled := app.router().Functions()
	sort.Strings(folders)
	sort.Strings(handled)
	if strings.Join(folders, ",") != strings.Join(handled, ",") {
		t.Fatalf("function folders %v but handlers %v", folders, handled)
	}
}

func TestScanTimerStoresTheReportThatReportServes(t *testing.T) {
	stores := map[string]statestore.Store{"dir": statestore.Dir{Root: t.TempDir()}}
	blob, err := statestore.OpenBlob(context.Background(), statestore.BlobOptions{ConnectionString: azuritetest.Start(t), Container: "idpkeeper"})
	if err != nil {
		t.Fatal(err)
	}
	stores["blob"] = blob
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t, store, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})

			code, out := app.invoke(t, "Report", hostPayload(t, "http_report.json"))
			if status, body := reportOutput(t, out); code != 200 || status != 404 || !strings.Contains(body, "no report yet") {
				t.Fatalf("Report before any scan: %d %d %s", code, status, body)
			}

			code, out = app.invoke(t, "ScanTimer", hostPayload(t, "timer_first_run.json"))
			if code != 200 {
				t.Fatalf("ScanTimer answered %d: %v\nlogs:\n%s", code, out, app.logs)
			}
			if logs, _ := out["Logs"].([]any); len(logs) != 1 || !strings.Contains(logs[0].(string), "20 findings") || !strings.Contains(logs[0].(string), "jobs queued") {
				t.Errorf("ScanTimer logs = %v", out["Logs"])
			}

			code, out = app.invoke(t, "Report", hostPayload(t, "http_report.json"))
			status, body := reportOutput(t, out)
			if code != 200 || status != 200 {
				t.Fatalf("Report: %d %d %s", code, status, body)
			}
			var rep struct {
				Source   string
				Findings []struct{ Kind string }
			}
			if err := json.Unmarshal([]byte(body), &rep); err != nil {
				t.Fatalf("Report body is not the JSON report: %v", err)
			}
			if len(rep.Findings) != 20 || !strings.HasPrefix(rep.Source, "snapshot:") {
				t.Errorf("served report has %d findings from %q", len(rep.Findings), rep.Source)
			}

			table := strings.Replace(hostPayload(t, "http_report.json"), `"Query":{"format":"json"}`, `"Query":{"format":"table"}`, 1)
			_, out = app.invoke(t, "Report", table)
			if status, body := reportOutput(t, out); status != 200 || !strings.Contains(body, "federation-cert-expired") {
				t.Errorf("table report: %d %s", status, body)
			}

			// The page is rendered from the stored JSON: the same model.
			page := strings.Replace(hostPayload(t, "http_report.json"), `"Query":{"format":"json"}`, `"Query":{"format":"html"}`, 1)
			_, out = app.invoke(t, "Report", page)
			status, body = reportOutput(t, out)
			headers, _ := out["Outputs"].(map[string]any)["res"].(map[string]any)["headers"].(map[string]any)
			if status != 200 || headers["Content-Type"] != "text/html; charset=utf-8" || !strings.HasPrefix(body, "<!DOCTYPE html>") ||
				strings.Count(body, `<tr id="F-`) != 20 || !strings.Contains(body, `<svg id="timeline"`) || !strings.Contains(body, `<svg id="map"`) {
				t.Errorf("html report: %d %v %.300s", status, headers, body)
			}
			bad := strings.Replace(hostPayload(t, "http_report.json"), `"Query":{"format":"json"}`, `"Query":{"format":"pdf"}`, 1)
			_, out = app.invoke(t, "Report", bad)
			if status, body := reportOutput(t, out); status != 400 || !strings.Contains(body, "json, table or html") {
				t.Errorf("unknown format: %d %s", status, body)
			}
		})
	}
}

func TestScanTimerFailureIsRetriedNotSwallowed(t *testing.T) {
	app := newTestApp(t, statestore.Dir{Root: t.TempDir()}, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})
	app.build = func(context.Context) (*pipeline.Pipeline, error) {
		return newPipeline(pipelineParts{Config: config.Default(), Source: scan.Source{SnapshotDir: filepath.Join(t.TempDir(), "missing")},
			Sender: app.queue, State: app.state, Channels: []notify.Channel{}, Logger: app.logger})
	}
	code, out := app.invoke(t, "ScanTimer", hostPayload(t, "timer_first_run.json"))
	if code != 500 {
		t.Fatalf("ScanTimer on a missing snapshot answered %d %v; the host must see a failure", code, out)
	}
	if !strings.Contains(app.logs.String(), "snapshot.json") {
		t.Errorf("the failure reason is not logged: %s", app.logs)
	}
}

// Secret values planted in Key Vault appear in no log line, invocation
// response or stored report of the Functions app.
func TestFunctionsNeverLeakSecretValues(t *testing.T) {
	tn, err := azurefake.LoadTenant(filepath.Join("..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	const canary = "CANARY-fn-4b1e-do-not-log"
	for _, v := range tn.Vaults {
		for i := range v.Secrets {
			for j := range v.Secrets[i].Versions {
				v.Secrets[i].Versions[j].Value = canary
			}
		}
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	stateDir := t.TempDir()
	app := newTestApp(t, statestore.Dir{Root: stateDir}, scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()})
	var seen strings.Builder
	for _, fn := range []string{"ScanTimer", "Report"} {
		payload := hostPayload(t, "timer_first_run.json")
		if fn == "Report" {
			payload = hostPayload(t, "http_report.json")
		}
		code, out := app.invoke(t, fn, payload)
		if code != 200 {
			t.Fatalf("%s answered %d: %v", fn, code, out)
		}
		b, _ := json.Marshal(out)
		seen.Write(b)
	}
	seen.WriteString(app.logs.String())
	filepath.Walk(stateDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			seen.Write(b)
		}
		return nil
	})
	if strings.Contains(seen.String(), canary) {
		t.Fatal("a secret value reached a log, a response or the stored report")
	}
	if !strings.Contains(seen.String(), "facebook-app-secret") {
		t.Fatal("the canary check saw no report at all")
	}
}

// The Report function serves what it has checked: a stored document that is
// not a report of this schema is a 500 with the reason in the log, in every
// format — never garbage as application/json.
func TestReportRefusesWhatIsNotAReport(t *testing.T) {
	store := statestore.Dir{Root: t.TempDir()}
	app := newTestApp(t, store, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})
	if code, _ := app.invoke(t, "ScanTimer", hostPayload(t, "timer_first_run.json")); code != 200 {
		t.Fatal("ScanTimer failed")
	}
	good, _, err := store.Get(context.Background(), pipeline.LatestReport)
	if err != nil {
		t.Fatal(err)
	}
	edited := func(f func(map[string]any)) []byte {
		c := map[string]any{}
		json.Unmarshal(good, &c)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	for name, c := range map[string]struct {
		data []byte
		why  string
	}{
		"garbage":        {[]byte("GIF89a\x00\x01garbage"), "not a JSON object"},
		"other schema":   {edited(func(m map[string]any) { m["schemaVersion"] = "9" }), "this build reads"},
		"findings wrong": {edited(func(m map[string]any) { m["findings"] = "none" }), "report.schema.json"},
		"a JSON array":   {[]byte(`[]`), "not a JSON object"},
	} {
		if _, err := store.Put(context.Background(), pipeline.LatestReport, c.data, statestore.Condition{}); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"json", "table", "html"} {
			app.logs.Reset()
			req := strings.Replace(hostPayload(t, "http_report.json"), `"Query":{"format":"json"}`, `"Query":{"format":"`+format+`"}`, 1)
			code, out := app.invoke(t, "Report", req)
			if code != 500 {
				t.Errorf("%s as %s: answered %d %v", name, format, code, out)
				continue
			}
			if log := app.logs.String(); !strings.Contains(log, "reports/latest.json") || !strings.Contains(log, "is not served") || !strings.Contains(log, c.why) {
				t.Errorf("%s as %s: the log does not say why:\n%s", name, format, log)
			}
		}
	}
}
