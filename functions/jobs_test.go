package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/acklink"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// serviceBusPayload builds a Service Bus trigger request the way the host
// sends it (shared/funchost/testdata/README.md): the body
// double-encoded in Data, message facts as quoted strings in Metadata.
func serviceBusPayload(t *testing.T, messageID, body string) string {
	t.Helper()
	once, _ := json.Marshal(body)
	twice, _ := json.Marshal(string(once))
	id, _ := json.Marshal(messageID)
	quotedID, _ := json.Marshal(string(id))
	return `{"Data":{"job":` + string(twice) + `},"Metadata":{"DeliveryCount":"1","MessageId":` + string(quotedID) +
		`,"EnqueuedTime":"2026-11-20T06:00:00+00:00","ContentType":"\"application/json\"","sys":{"MethodName":"NotifyOwner","UtcNow":"2026-11-20T06:00:01Z","RandGuid":"4e773554-f6b7-4ea2-b07d-4c5fd5aba741"}}}`
}

func TestJobFunctionsParkWhatCanNeverSucceed(t *testing.T) {
	state := statestore.Dir{Root: t.TempDir()}
	app := newTestApp(t, state, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})
	cases := map[string]string{
		"truncated":                `{"version":1,"kind":"notify-owner","depend`,
		"unknown version":          `{"version":2,"kind":"notify-owner","dependency":"social/Google-OAUTH","findingId":"F-1","stage":"d30","createdAt":"2026-11-20T06:00:00Z"}`,
		"unknown kind":             `{"version":1,"kind":"launch-rockets","dependency":"social/Google-OAUTH","createdAt":"2026-11-20T06:00:00Z"}`,
		"no dependency":            `{"version":1,"kind":"refresh-metadata","createdAt":"2026-11-20T06:00:00Z"}`,
		"wrong kind of dependency": `{"version":1,"kind":"refresh-metadata","dependency":"social/Google-OAUTH","createdAt":"2026-11-20T06:00:00Z"}`,
	}
	i := 0
	for name, body := range cases {
		i++
		id := "bad-" + strings.ReplaceAll(name, " ", "-")
		code, out := app.invoke(t, "RefreshMetadata", serviceBusPayload(t, id, body))
		if code != 200 {
			t.Errorf("%s: answered %d (%v); a job that can never succeed must be completed, not retried", name, code, out)
		}
	}
	parked, err := jobs.ListParked(context.Background(), state, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != len(cases) {
		t.Fatalf("%d jobs parked, want %d: %+v", len(parked), len(cases), parked)
	}
	for _, p := range parked {
		if p.Reason == "" || p.MessageID == "" || p.Body == "" {
			t.Errorf("parked without its reason or body: %+v", p)
		}
	}
}

func TestNotifyOwnerFunctionSendsOneNoticeAcrossRedeliveries(t *testing.T) {
	app := newTestApp(t, statestore.Dir{Root: t.TempDir()}, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})
	p, err := app.pipeline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, queued, err := p.ScanAndQueue(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	var notice jobs.Job
	for _, j := range queued {
		if j.Kind == jobs.KindNotifyOwner && j.Dependency == "social/Facebook-OAUTH" {
			notice = j
		}
	}
	body, _ := notice.Encode()
	for i := 0; i < 3; i++ {
		code, out := app.invoke(t, "NotifyOwner", serviceBusPayload(t, notice.MessageID(), string(body)))
		if code != 200 {
			t.Fatalf("delivery %d answered %d: %v\n%s", i+1, code, out, app.logs)
		}
	}
	files, _ := filepath.Glob(filepath.Join(app.outbox, "*"+notice.FindingID+"*"))
	if len(files) == 0 {
		t.Fatal("no notice in the outbox")
	}
	eml := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".eml") {
			eml++
			data, _ := os.ReadFile(f)
			if !strings.Contains(string(data), "facebook-app-secret") || !strings.Contains(string(data), "identity-team@contoso.example") {
				t.Errorf("the notice does not name the secret and its owner:\n%s", data)
			}
		}
	}
	if eml != 1 {
		t.Errorf("%d notices for one stage after 3 deliveries: %v", eml, files)
	}
}

func TestKeyVaultEventsFunction(t *testing.T) {
	app := newTestApp(t, statestore.Dir{Root: t.TempDir()}, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})
	// The timer scan stores the secret index the function decides from.
	if code, out := app.invoke(t, "ScanTimer", hostPayload(t, "timer_first_run.json")); code != 200 {
		t.Fatalf("ScanTimer: %d %v", code, out)
	}
	app.queue.Drain(context.Background(), func(context.Context, jobs.Delivery) error { return nil })
	event, err := os.ReadFile(filepath.Join("..", "examples", "events", "secret-near-expiry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var one json.RawMessage = event
	if strings.HasPrefix(strings.TrimSpace(string(event)), "[") {
		var all []json.RawMessage
		json.Unmarshal(event, &all)
		one = all[0]
	}
	// As the host sends an Event Grid trigger: Data.event is the object
	// (shared/funchost/testdata/README.md).
	payload := `{"Data":{"event":` + string(one) + `},"Metadata":{"sys":{"MethodName":"KeyVaultEvents","UtcNow":"2026-11-20T06:00:00Z","RandGuid":"0"}}}`
	code, out := app.invoke(t, "KeyVaultEvents", payload)
	if code != 200 {
		t.Fatalf("answered %d: %v\n%s", code, out, app.logs)
	}
	var delivered []jobs.Delivery
	app.queue.Drain(context.Background(), func(_ context.Context, d jobs.Delivery) error { delivered = append(delivered, d); return nil })
	if len(delivered) != 1 || delivered[0].Job.Kind != jobs.KindRotateCredential || delivered[0].Job.Dependency != "social/Facebook-OAUTH" {
		t.Fatalf("queued %+v, want one rotate-credential job for social/Facebook-OAUTH", delivered)
	}

	// A secret the scan's index does not list (it backs nothing, so the scan
	// skipped it) is answered with a resolve-secret job; once that ran, the
	// next event for it is ignored at once.
	unmanaged := `{"id":"x3","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"smtp-relay-password","eventTime":"2026-11-20T06:00:00Z","data":{"VaultName":"contoso-idp-kv","ObjectName":"smtp-relay-password","ObjectType":"Secret"},"dataVersion":"1","metadataVersion":"1"}`
	if code, out := app.invoke(t, "KeyVaultEvents", `{"Data":{"event":`+unmanaged+`},"Metadata":{}}`); code != 200 {
		t.Fatalf("unmanaged secret: %d %v", code, out)
	}
	delivered = nil
	app.queue.Drain(context.Background(), func(_ context.Context, d jobs.Delivery) error { delivered = append(delivered, d); return nil })
	if len(delivered) != 1 || delivered[0].Job.Kind != jobs.KindResolveSecret {
		t.Fatalf("unmanaged secret queued %+v, want one resolve-secret job", delivered)
	}
	if code, out := app.invoke(t, "RotateCredential", serviceBusPayload(t, delivered[0].MessageID, string(delivered[0].Body))); code != 200 {
		t.Fatalf("the resolve job failed: %d %v\n%s", code, out, app.logs)
	}
	if n := app.queue.Pending(); n != 0 {
		t.Fatalf("resolving an unmanaged secret queued %d jobs", n)
	}

	for name, bad := range map[string]string{
		"unknown type":       `{"id":"x1","eventType":"Microsoft.KeyVault.KeyNearExpiry","subject":"k","eventTime":"2026-11-20T06:00:00Z","data":{"VaultName":"contoso-idp-kv","ObjectName":"k"},"dataVersion":"1","metadataVersion":"1"}`,
		"missing data":       `{"id":"x2","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"","eventTime":"2026-11-20T06:00:00Z","dataVersion":"1","metadataVersion":"1"}`,
		"unmanaged":          unmanaged,
		"untyped CloudEvent": `{"specversion":"1.0","id":"ce-1","source":"/vaults/contoso-idp-kv","subject":"facebook-app-secret","data":{"VaultName":"contoso-idp-kv","ObjectName":"facebook-app-secret","ObjectType":"Secret"}}`,
	} {
		code, out := app.invoke(t, "KeyVaultEvents", `{"Data":{"event":`+bad+`},"Metadata":{}}`)
		if code != 200 {
			t.Errorf("%s: answered %d (%v); Event Grid must not retry it forever", name, code, out)
		}
		if logs, _ := out["Logs"].([]any); len(logs) != 1 || !strings.Contains(logs[0].(string), "ignored") && !strings.Contains(logs[0].(string), "rejected") {
			t.Errorf("%s: logs %v do not give the outcome", name, out["Logs"])
		}
	}
	// The malformed event is kept with its reason; ignored ones are not
	// problems and are only logged.
	parked, err := jobs.ListParked(context.Background(), app.state, 0)
	if err != nil {
		t.Fatal(err)
	}
	reasons := ""
	for _, p := range parked {
		reasons += p.MessageID + ": " + p.Reason + "\n"
	}
	if len(parked) != 2 || !strings.Contains(reasons, "event-x2: malformed event: event x2 has no data") || !strings.Contains(reasons, `event "ce-1" has no type`) {
		t.Errorf("parked = %+v, want the event without data and the CloudEvent without type", parked)
	}

	// A delivery of many malformed events parks each (in batch documents),
	// with its reason, before the 200.
	var many []string
	for i := range 50 {
		many = append(many, fmt.Sprintf(`{"id":"m-%d","eventType":"Microsoft.KeyVault.SecretNearExpiry","data":{"VaultName":"contoso-idp-kv"}}`, i))
	}
	if code, out := app.invoke(t, "KeyVaultEvents", `{"Data":{"event":[`+strings.Join(many, ",")+`]},"Metadata":{}}`); code != 200 {
		t.Fatalf("50 malformed events: %d %v", code, out)
	}
	parked, err = jobs.ListParked(context.Background(), app.state, 0)
	if err != nil || len(parked) != 52 {
		t.Fatalf("%d parked (%v), want 52", len(parked), err)
	}
	for _, p := range parked {
		if strings.HasPrefix(p.MessageID, "event-m-") && (p.Reason == "" || p.Body == "" || p.Queue != "KeyVaultEvents") {
			t.Errorf("parked without its reason or body: %+v", p)
		}
	}
}

// ackRequest is the host's invocation of the Ack function for query: a
// POST, the button on the page the link opens (ackOpen: the GET).
func ackRequest(t *testing.T, query url.Values) string {
	t.Helper()
	return ackRequestMethod(t, "POST", query)
}

// ackOpen is the host's invocation of the Ack function when the link is
// opened (GET), as a person or a mail gateway's link scanner does.
func ackOpen(t *testing.T, query url.Values) string {
	t.Helper()
	return ackRequestMethod(t, "GET", query)
}

func ackRequestMethod(t *testing.T, method string, query url.Values) string {
	t.Helper()
	q := map[string]string{}
	for k := range query {
		q[k] = query.Get(k)
	}
	b, _ := json.Marshal(q)
	payload := strings.Replace(hostPayload(t, "http_report.json"), `"Query":{"format":"json"}`, `"Query":`+string(b), 1)
	return strings.Replace(payload, `"Method":"GET"`, `"Method":"`+method+`"`, 1)
}

var ackLinkPattern = regexp.MustCompile(`https?://[^\s"<>]+/api/ack\?[^\s"<>]+`)

// The link in a notice pauses that finding's reminders through the
// anonymous Ack function, and only that: another finding, a longer pause,
// another key, an expired or malformed link are refused (400/403/410), a
// signed link for a finding the ledger does not know is 404, and without a
// key nothing is accepted (503). Opening the link (GET) pauses nothing — a
// mail gateway's link scanner opens every link — it answers a page whose
// button POSTs the link.
func TestAckFunctionVerifiesSignedLinks(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	t.Setenv(settingAckKey, base64.StdEncoding.EncodeToString(key))
	t.Setenv(settingAckURL, "https://func-idpkeeper.azurewebsites.net/api/ack")
	state := statestore.Dir{Root: t.TempDir()}
	app := newTestApp(t, state, scan.Source{SnapshotDir: filepath.Join("..", "examples", "tenant")})
	p, _ := app.pipeline(context.Background())
	if _, _, err := p.ScanAndQueue(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.queue.Drain(context.Background(), p.Handler()); err != nil {
		t.Fatal(err)
	}
	emls, _ := filepath.Glob(filepath.Join(app.outbox, "*.eml"))
	if len(emls) == 0 {
		t.Fatal("no notice sent")
	}
	data, _ := os.ReadFile(emls[0])
	link := ackLinkPattern.FindString(string(data))
	if link == "" || strings.Contains(link, "code=") {
		t.Fatalf("notice link %q in:\n%s", link, data)
	}
	u, _ := url.Parse(link)
	q := u.Query()
	finding := q.Get("finding")
	if !strings.Contains(string(data), "pause the reminders until") {
		t.Errorf("the notice does not say until when:\n%s", data)
	}

	_, out := app.invoke(t, "Ack", ackOpen(t, q))
	if status, body := reportOutput(t, out); status != 200 || !strings.Contains(body, `<form method="post">`) || !strings.Contains(body, "Pause reminders until") {
		t.Fatalf("opening the link: %d %s", status, body)
	}
	if res := out["Outputs"].(map[string]any)["res"].(map[string]any); !strings.Contains(fmt.Sprint(res["headers"]), "text/html") {
		t.Errorf("the confirmation page's headers: %v", res["headers"])
	}
	if e, _ := p.Ledger.Get(context.Background(), finding); e.Ack != nil {
		t.Fatalf("opening the link paused the reminders: %+v", e.Ack)
	}
	_, out = app.invoke(t, "Ack", ackRequestMethod(t, "PUT", q))
	if status, _ := reportOutput(t, out); status != 405 {
		t.Errorf("PUT: %d, want 405", status)
	}
	_, out = app.invoke(t, "Ack", ackRequest(t, q))
	if status, body := reportOutput(t, out); status != 200 || !strings.Contains(body, "pausedUntil") {
		t.Fatalf("ack: %d %s", status, body)
	}
	// The button of the page: a browser asks for HTML and gets a page.
	fromBrowser := strings.Replace(ackRequest(t, q), `"Accept":["application/json"]`, `"Accept":["text/html,application/xhtml+xml"]`, 1)
	_, out = app.invoke(t, "Ack", fromBrowser)
	if status, body := reportOutput(t, out); status != 200 || !strings.Contains(body, "<h1>Reminders paused</h1>") {
		t.Fatalf("ack from a browser: %d %s", status, body)
	}
	e, _ := p.Ledger.Get(context.Background(), finding)
	until, _ := strconv.ParseInt(q.Get("until"), 10, 64)
	if e.Ack == nil || e.Ack.Until.Unix() != until || e.Ack.By != "link" {
		t.Errorf("ledger ack = %+v, want until %d by link", e.Ack, until)
	}

	edit := func(k, v string) url.Values {
		c := url.Values{}
		for kk := range q {
			c.Set(kk, q.Get(kk))
		}
		c.Set(k, v)
		return c
	}
	expired, _ := acklink.Link(key, "https://x.example/api/ack", finding, time.Now().Add(time.Hour), time.Now().Add(-time.Minute))
	expiredURL, _ := url.Parse(expired)
	unknown, _ := acklink.Link(key, "https://x.example/api/ack", "F-000000000000", time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	unknownURL, _ := url.Parse(unknown)
	other := make([]byte, 32)
	forged, _ := acklink.Link(other, "https://x.example/api/ack", finding, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	forgedURL, _ := url.Parse(forged)
	for name, c := range map[string]struct {
		q    url.Values
		want int
	}{
		"another finding":    {edit("finding", "F-000000000000"), 403},
		"a longer pause":     {edit("until", strconv.FormatInt(until+86400, 10)), 403},
		"another key":        {forgedURL.Query(), 403},
		"a bad finding ID":   {edit("finding", "../../ledger/x"), 400},
		"no signature":       {edit("sig", ""), 400},
		"the old unsigned":   {url.Values{"finding": {finding}, "until": {"2026-12-31"}}, 400},
		"expired":            {expiredURL.Query(), 410},
		"an unknown finding": {unknownURL.Query(), 404},
	} {
		for _, req := range []string{ackOpen(t, c.q), ackRequest(t, c.q)} {
			_, out := app.invoke(t, "Ack", req)
			if status, body := reportOutput(t, out); status != c.want {
				t.Errorf("%s: answered %d %s, want %d", name, status, body, c.want)
			}
		}
	}
	t.Setenv(settingAckKey, "")
	_, out = app.invoke(t, "Ack", ackRequest(t, q))
	if status, _ := reportOutput(t, out); status != 503 {
		t.Errorf("without a key: %d, want 503", status)
	}
}
