package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// `watch --once` against the example works offline: the snapshot carries
// the watch's recorded results (examples/tenant/watch), which the round
// replays at the capture time instead of dialling.
func TestWatchOnceOffline(t *testing.T) {
	t.Setenv(settingState, "")
	code, out, errOut := runCLI(t, "watch", "--once", "--snapshot", exampleSnapshot, "--config", exampleConfig)
	if code != exitFindings {
		t.Fatalf("exit %d (want 1: Adatum's sign-in endpoint is down)\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"12 endpoints", "kept in memory only", "https://idp.adatum.example/saml2/sso", "down (connect)", "2026-11-20 04:10",
		"skipped (not-https)", "endpoint-down", "endpoint-recovered", "endpoint-tls-expiring", "endpoint-degraded"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(errOut, "level=") {
		t.Errorf("unexpected log output: %s", errOut)
	}

	code, out, _ = runCLI(t, "watch", "--once", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--format", "json")
	var doc struct {
		At        string
		Endpoints []struct {
			Dependency, Role, Endpoint string
			Down                       bool
			Last                       *struct{ State, Class string }
			Availability               struct {
				D1 *float64 `json:"1d"`
			}
		}
		Findings []struct{ Kind string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitFindings {
		t.Fatalf("json: exit %d %v\n%s", code, err, out)
	}
	down := 0
	for _, e := range doc.Endpoints {
		if e.Down {
			down++
			if e.Endpoint != "https://idp.adatum.example/saml2/sso" || e.Last == nil || e.Last.Class != "connect" || e.Availability.D1 == nil {
				t.Errorf("down endpoint %+v", e)
			}
		}
	}
	if down != 1 || len(doc.Endpoints) != 12 || len(doc.Findings) != 4 || doc.At != "2026-11-20T06:00:00Z" {
		t.Errorf("json: %d down of %d, %d findings, at %s", down, len(doc.Endpoints), len(doc.Findings), doc.At)
	}
}

// With --state the histories continue from the snapshot's, the notices are
// kept with them (never mailed from the command line), and a repeated round
// at the same moment adds nothing.
func TestWatchKeepsHistoryAndNotices(t *testing.T) {
	state := t.TempDir()
	args := []string{"watch", "--once", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", state}
	if code, out, errOut := runCLI(t, args...); code != exitFindings || !strings.Contains(out, "history in "+state) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	docs, _ := filepath.Glob(filepath.Join(state, "watch", "endpoints", "*.json"))
	if len(docs) != 12 {
		t.Fatalf("%d histories kept", len(docs))
	}
	before := map[string]string{}
	for _, d := range docs {
		b, _ := os.ReadFile(d)
		before[d] = string(b)
	}
	notices, _ := filepath.Glob(filepath.Join(state, "outbox", "*", "*.json"))
	if len(notices) != 3 { // Adatum down (partner), Litware TLS, registry degraded
		t.Fatalf("%d notices kept: %v", len(notices), notices)
	}
	adatum := ""
	for _, n := range notices {
		b, _ := os.ReadFile(n)
		if strings.Contains(string(b), "it-security@adatum.example") {
			adatum = string(b)
		}
	}
	if !strings.Contains(adatum, "Bring https://idp.adatum.example/saml2/sso back") {
		t.Errorf("the partner's notice: %s", adatum)
	}
	if code, _, _ := runCLI(t, args...); code != exitFindings {
		t.Fatal(code)
	}
	for _, d := range docs {
		if b, _ := os.ReadFile(d); string(b) != before[d] {
			t.Errorf("%s changed on a repeated round at the same moment", d)
		}
	}
	if again, _ := filepath.Glob(filepath.Join(state, "outbox", "*", "*.json")); len(again) != 3 {
		t.Errorf("%d notices after a second round, want the same 3", len(again))
	}

	// watch history reads the kept history.
	code, out, errOut := runCLI(t, "watch", "history", "adatum.example", "--days", "10", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", state)
	if code != exitOK || !strings.Contains(out, "DOWN since 2026-11-20 04:10 UTC") || !strings.Contains(out, "2026-11-11  144     142  2") ||
		strings.Count(out, "\n  20") != 10 || !strings.Contains(out, "outage: since 2026-11-20 04:10 still down, 12 failed checks") {
		t.Errorf("history: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "watch", "history", "Fabrikam", "--days", "2", "--snapshot", exampleSnapshot, "--config", exampleConfig)
	if code != exitOK || strings.Count(out, "Fabrikam — ") != 2 || !strings.Contains(out, "outage: since 2026-11-19 09:00 until 2026-11-19 11:30 (2h30m0s)") {
		t.Errorf("history of Fabrikam's two endpoints: exit %d\n%s", code, out)
	}
}

func TestWatchCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"watch", "--snapshot", exampleSnapshot, "--config", exampleConfig}, exitUsage, "add --once"},
		{[]string{"watch", "--once", "--format", "xml"}, exitUsage, "--format must be table or json"},
		{[]string{"watch", "--once", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"watch", "history"}, exitUsage, "watch history DEPENDENCY [--days N]"},
		{[]string{"watch", "history", "Adatum", "--days", "0", "--snapshot", exampleSnapshot}, exitUsage, "--days must be 1-90"},
		{[]string{"watch", "history", "nobody", "--snapshot", exampleSnapshot, "--config", exampleConfig}, exitUsage, `no watched endpoint belongs to "nobody"`},
		{[]string{"watch", "--once", "--snapshot", "does-not-exist"}, exitRead, "does-not-exist"},
	} {
		code, _, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut)
		}
	}
	t.Setenv(settingWatchSchedule, "*/10 * * * *")
	if code, _, errOut := runCLI(t, "watch", "--once", "--snapshot", exampleSnapshot); code != exitUsage || !strings.Contains(errOut, "six fields") {
		t.Errorf("bad schedule: exit %d %s", code, errOut)
	}
}

// The WatchTimer function: before the first scan it waits (not a failure
// to retry); after ScanTimer stored the inventory it checks (here: replays
// the snapshot's recorded results), records and notifies, and the next
// ScanTimer report carries the availability.
func TestWatchTimerFunction(t *testing.T) {
	state := statestore.Dir{Root: t.TempDir()}
	app := newTestApp(t, state, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})
	code, out := app.invoke(t, "WatchTimer", hostPayload(t, "timer_first_run.json"))
	if logs, _ := out["Logs"].([]any); code != 200 || len(logs) != 1 || !strings.Contains(logs[0].(string), "no stored inventory") {
		t.Fatalf("WatchTimer before a scan: %d %v", code, out)
	}
	if code, out := app.invoke(t, "ScanTimer", hostPayload(t, "timer_first_run.json")); code != 200 {
		t.Fatalf("ScanTimer: %d %v", code, out)
	}
	code, out = app.invoke(t, "WatchTimer", hostPayload(t, "timer_first_run.json"))
	if code != 200 {
		t.Fatalf("WatchTimer: %d %v\n%s", code, out, app.logs)
	}
	logs, _ := out["Logs"].([]any)
	if len(logs) != 1 || !strings.Contains(logs[0].(string), "12 endpoints, 10 up, 1 down, 1 skipped, 0 not checked this round; 4 findings") {
		t.Errorf("WatchTimer logs %v", logs)
	}
	ret, _ := out["ReturnValue"].(map[string]any)
	if ret["down"] != float64(1) || ret["endpoints"] != float64(12) {
		t.Errorf("return value %v", ret)
	}
	files, _ := filepath.Glob(filepath.Join(app.outbox, "*.eml"))
	partner := false
	for _, f := range files {
		b, _ := os.ReadFile(f)
		partner = partner || strings.Contains(string(b), "it-security@adatum.example") && strings.Contains(string(b), "Bring https://idp.adatum.example/saml2/sso back")
	}
	if !partner {
		t.Errorf("no notice to Adatum about its sign-in endpoint among %v", files)
	}
	// The next scan's report shows the availability of every endpoint.
	if code, _ := app.invoke(t, "ScanTimer", hostPayload(t, "timer_first_run.json")); code != 200 {
		t.Fatal(code)
	}
	data, _, err := state.Get(t.Context(), "reports/latest.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Endpoints []struct{ Endpoint, Dependency string }
	}
	if json.Unmarshal(data, &rep) != nil || len(rep.Endpoints) != 12 {
		t.Errorf("the stored report has %d endpoints' availability", len(rep.Endpoints))
	}
}
