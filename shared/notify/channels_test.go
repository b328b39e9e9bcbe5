package notify_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// graphFake starts the HTTPS Graph fake and returns it with a real
// msgraph-sdk-go client wired to it.
func graphFake(t *testing.T) (*azurefake.Server, notify.GraphMail) {
	t.Helper()
	srv := azurefake.NewServer(&azurefake.Tenant{TenantID: "contoso"})
	t.Cleanup(srv.Close)
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	return srv, notify.GraphMail{Client: clients.Graph, From: "idpkeeper@contoso.com"}
}

func TestGraphMail(t *testing.T) {
	srv, mail := graphFake(t)
	m := notify.Compose(partnerFinding(), "d1", testConfig(), testLinks)
	id, err := mail.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if id != "mail:F-0123456789ab/d1" {
		t.Fatalf("message ID %q", id)
	}
	sent := srv.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d mails sent", len(sent))
	}
	if sent[0].User != "idpkeeper@contoso.com" {
		t.Fatalf("sent as %q", sent[0].User)
	}
	// What Graph received: a MIME message, multipart/alternative.
	if !sent[0].MIME {
		t.Fatal("not sent in sendMail's MIME form")
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(sent[0].Raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	to, _ := msg.Header.AddressList("To")
	cc, _ := msg.Header.AddressList("Cc")
	if subject != m.Subject || len(to) != 1 || to[0].Address != "it@fabrikam.com" || to[0].Name != "Fabrikam IT" ||
		len(cc) != 1 || cc[0].Address != "idp-admins@contoso.com" {
		t.Fatalf("subject %q to %v cc %v", subject, to, cc)
	}
	if msg.Header.Get(notify.NoticeHeader) != id || msg.Header.Get("Importance") != "High" {
		t.Fatalf("headers %v", msg.Header)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q %v", mt, err)
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	var got []string
	for {
		p, err := parts.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		// Mail text has CRLF line ends; the notice is composed with LF.
		got = append(got, p.Header.Get("Content-Type")+"|"+strings.ReplaceAll(string(b), "\r\n", "\n"))
	}
	if len(got) != 2 || got[0] != "text/plain; charset=utf-8|"+m.Text || got[1] != "text/html; charset=utf-8|"+m.HTML {
		t.Fatalf("%d parts; text matches %v, html matches %v", len(got), len(got) > 0 && got[0] == "text/plain; charset=utf-8|"+m.Text, len(got) > 1 && got[1] == "text/html; charset=utf-8|"+m.HTML)
	}
}

func TestGraphMailErrors(t *testing.T) {
	srv, mail := graphFake(t)
	srv.AddFault(azurefake.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/users/", Status: http.StatusForbidden,
		Code: "ErrorAccessDenied", Message: "Access is denied. Check credentials and try again.", Times: 1})
	m := notify.Compose(partnerFinding(), "d7", testConfig(), testLinks)
	_, err := mail.Send(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "HTTP 403 ErrorAccessDenied") {
		t.Fatalf("err = %v", err)
	}
	m.To = nil
	if _, err := mail.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "no recipient") {
		t.Fatalf("no recipient: %v", err)
	}
	if len(srv.SentMail()) != 0 {
		t.Fatal("a failed send was recorded as sent")
	}
}

// hook is a webhook receiver that records request bodies.
type hook struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	status  int
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status != 0 {
		w.WriteHeader(h.status)
		h.status = 0 // fail once
		return
	}
	h.bodies = append(h.bodies, b)
	h.headers = append(h.headers, r.Header.Clone())
	w.Header().Set("x-ms-workflow-run-id", "08584")
	w.WriteHeader(http.StatusAccepted)
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func TestWebhookGeneric(t *testing.T) {
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
	id, err := notify.Webhook{URL: srv.URL + "/hook?token=SEKRET", Network: loopback}.Send(context.Background(), m)
	if err != nil || !strings.HasPrefix(id, "webhook:F-0123456789ab/d14") {
		t.Fatalf("id %q err %v", id, err)
	}
	var p map[string]any
	if err := json.Unmarshal(h.bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"findingId": "F-0123456789ab", "stage": "d14", "subject": m.Subject, "text": m.Text,
		"deadline": "2026-12-24T12:00:00Z", "severity": "critical",
	} {
		if p[k] != want {
			t.Errorf("%s = %v, want %v", k, p[k], want)
		}
	}
}

func TestWebhookTeams(t *testing.T) {
	h := &hook{}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	// The workflow URL keeps its real host; the client dials the test server.
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // test server certificate
	}}
	url := "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SEKRET"
	m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
	id, err := notify.Webhook{URL: url, Client: client}.Send(context.Background(), m)
	if err != nil || id != "webhook:F-0123456789ab/d14@run:08584" {
		t.Fatalf("id %q err %v", id, err)
	}
	var env struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string           `json:"type"`
				Version string           `json:"version"`
				Body    []map[string]any `json:"body"`
				Actions []map[string]any `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(h.bodies[0], &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != "message" || len(env.Attachments) != 1 || env.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("envelope %s", h.bodies[0])
	}
	card := env.Attachments[0].Content
	if card.Type != "AdaptiveCard" || card.Body[0]["text"] != m.Subject || len(card.Actions) != 1 || card.Actions[0]["url"] != m.AckURL {
		t.Fatalf("card %s", h.bodies[0])
	}

	for _, u := range []string{"https://x.webhook.office.com/a", "https://default1.environment.api.powerplatform.com/p"} {
		if !isTeams(u) {
			t.Errorf("%s not recognised as Teams", u)
		}
	}
	for _, u := range []string{"https://hooks.example.com/logic.azure.com", "https://evillogic.azure.com.example/x"} {
		if isTeams(u) {
			t.Errorf("%s taken for Teams", u)
		}
	}
}

func isTeams(raw string) bool {
	u, err := neturl.Parse(raw)
	return err == nil && notify.IsTeamsWorkflow(u)
}

// Webhook URLs carry tokens: no error may contain them.
func TestWebhookErrorsHideURL(t *testing.T) {
	h := &hook{status: http.StatusInternalServerError}
	srv := httptest.NewServer(h)
	m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
	url := srv.URL + "/hook/SEKRETPATH?sig=SEKRETSIG"
	_, err := notify.Webhook{URL: url, Network: loopback}.Send(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("err %v", err)
	}
	assertNoToken(t, err)
	srv.Close()
	_, err = notify.Webhook{URL: url, Network: loopback}.Send(context.Background(), m)
	if err == nil {
		t.Fatal("send to a closed server succeeded")
	}
	assertNoToken(t, err)
	_, err = notify.Webhook{URL: "http://hooks.example.com/SEKRETPATH?sig=SEKRETSIG"}.Send(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("plain http accepted: %v", err)
	}
	assertNoToken(t, err)
	_, err = notify.Webhook{URL: "https://%zz/SEKRETPATH"}.Send(context.Background(), m)
	if err == nil {
		t.Fatal("bad URL accepted")
	}
	assertNoToken(t, err)
}

func assertNoToken(t *testing.T, err error) {
	t.Helper()
	if strings.Contains(err.Error(), "SEKRET") {
		t.Fatalf("error echoes the webhook URL: %v", err)
	}
}

func TestOutboxOverwrites(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	o := notify.Outbox{Dir: dir, Stdout: &out}
	m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
	for range 2 {
		id, err := o.Send(context.Background(), m)
		if err != nil || id != "outbox:F-0123456789ab-d14.eml" {
			t.Fatalf("id %q err %v", id, err)
		}
	}
	names := outboxFiles(t, dir)
	if strings.Join(names, " ") != "F-0123456789ab-d14.eml F-0123456789ab-d14.html" {
		t.Fatalf("outbox holds %v", names)
	}
	eml, _ := os.ReadFile(filepath.Join(dir, "F-0123456789ab-d14.eml"))
	if !strings.HasPrefix(string(eml), `To: "Fabrikam IT" <it@fabrikam.com>`+"\nCc: idp-admins@contoso.com\nSubject: "+m.Subject) ||
		!strings.HasSuffix(string(eml), m.Text) {
		t.Fatalf("eml:\n%s", eml)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 2 || !strings.Contains(out.String(), "notice F-0123456789ab d14 to it@fabrikam.com, idp-admins@contoso.com") {
		t.Fatalf("stdout:\n%s", out.String())
	}
	m.Stage = "../x"
	if _, err := o.Send(context.Background(), m); err == nil {
		t.Fatal("a stage that leaves the outbox was accepted")
	}
}

func outboxFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFromConfig(t *testing.T) {
	cfg := testConfig()
	cfg.Source = "/etc/idpkeeper/config.yaml"
	chs, err := notify.FromConfig(cfg, notify.Deps{DefaultOutboxDir: "/var/outbox"})
	if err != nil || len(chs) != 1 || chs[0].(notify.Outbox).Dir != "/var/outbox" {
		t.Fatalf("nothing configured: %+v %v", chs, err)
	}
	cfg.Notifications.Mail = &config.Mail{From: "idpkeeper@contoso.com"}
	if _, err := notify.FromConfig(cfg, notify.Deps{}); err == nil {
		t.Fatal("mail without a Graph client accepted")
	}
	cfg.Notifications.Mail = nil
	cfg.Notifications.Webhook = &config.Webhook{URL: "https://x.webhook.office.com/SEKRET"}
	cfg.Notifications.Outbox = &config.Outbox{Dir: "outbox"}
	chs, err = notify.FromConfig(cfg, notify.Deps{})
	if err != nil || len(chs) != 2 || chs[0].Name() != "webhook" || chs[1].(notify.Outbox).Dir != "/etc/idpkeeper/outbox" {
		t.Fatalf("webhook and outbox: %+v %v", chs, err)
	}
}
