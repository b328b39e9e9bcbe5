package probe_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/probe"
)

const (
	canaryPassword = "CANARY-basic-pw-51d0"
	pfxPassword    = "CANARY-pfx-pass-7f3e91" // opens ../repair/testdata/connector-b-password.pfx.b64
)

// fakeAPI acts out every answer an API behind a connector can give.
func fakeAPI(t *testing.T) (*httptest.Server, *[]map[string]any) {
	t.Helper()
	var bodies []map[string]any
	mux := http.NewServeMux()
	reply := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var got map[string]any
			json.NewDecoder(r.Body).Decode(&got)
			bodies = append(bodies, got)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	mux.Handle("/continue", reply(200, `{"version":"1.0.0","action":"Continue","extension_loyaltyNumber":"0"}`))
	mux.Handle("/block", reply(200, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Sign-up is closed for your organisation."}`))
	mux.Handle("/validation", reply(400, `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Enter a valid loyalty number."}`))
	mux.Handle("/notjson", reply(200, `<html>oops</html>`))
	mux.Handle("/wrongversion", reply(200, `{"version":"2.0","action":"Continue"}`))
	mux.Handle("/error", reply(500, `{"error":"boom"}`))
	mux.HandleFunc("/basic", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "entra-signup" || p != canaryPassword {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reply(200, `{"version":"1.0.0","action":"Continue"}`)(w, r)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, &bodies
}

func TestProbeClassifiesEveryAnswer(t *testing.T) {
	srv, bodies := fakeAPI(t)
	cases := []struct {
		path    string
		auth    probe.Auth
		timeout time.Duration
		want    probe.Outcome
		message string
	}{
		{"/continue", probe.Auth{}, 0, probe.Continue, ""},
		{"/block", probe.Auth{}, 0, probe.Block, "Sign-up is closed for your organisation."},
		{"/validation", probe.Auth{}, 0, probe.ValidationError, "Enter a valid loyalty number."},
		{"/notjson", probe.Auth{}, 0, probe.Malformed, ""},
		{"/wrongversion", probe.Auth{}, 0, probe.Malformed, ""},
		{"/error", probe.Auth{}, 0, probe.Malformed, ""},
		{"/basic", probe.Auth{BasicUser: "entra-signup", BasicPassword: canaryPassword}, 0, probe.Continue, ""},
		{"/basic", probe.Auth{BasicUser: "entra-signup", BasicPassword: "wrong"}, 0, probe.AuthFailed, ""},
		{"/slow", probe.Auth{}, 200 * time.Millisecond, probe.Timeout, ""},
	}
	for _, c := range cases {
		res := probe.Probe(context.Background(), probe.Request{URL: srv.URL + c.path, Auth: c.auth, Timeout: c.timeout, Client: srv.Client()})
		if res.Outcome != c.want || res.UserMessage != c.message {
			t.Errorf("%s: %s %q (%s), want %s %q", c.path, res.Outcome, res.UserMessage, res.Detail, c.want, c.message)
		}
		if c.want != probe.Timeout && (res.TLSNotAfter == nil || res.Latency <= 0) {
			t.Errorf("%s: no TLS expiry or latency: %+v", c.path, res)
		}
		if b, _ := json.Marshal(res); bytes.Contains(b, []byte(canaryPassword)) {
			t.Errorf("%s: the result carries the password", c.path)
		}
	}
	// What the API received is synthetic: no real user data.
	for _, b := range *bodies {
		if b["email"] != "idpkeeper-probe@example.invalid" || b["ui_locales"] != "en-US" {
			t.Fatalf("request body = %v", b)
		}
		ids, _ := b["identities"].([]any)
		if len(ids) != 1 {
			t.Fatalf("identities = %v", b["identities"])
		}
	}
}

func TestProbeTransportFailures(t *testing.T) {
	srv, _ := fakeAPI(t)
	// Not trusted: the default client does not know the test CA.
	if res := probe.Probe(context.Background(), probe.Request{URL: srv.URL + "/continue"}); res.Outcome != probe.TLSError {
		t.Errorf("untrusted certificate: %s (%s)", res.Outcome, res.Detail)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if res := probe.Probe(context.Background(), probe.Request{URL: "https://" + addr + "/x"}); res.Outcome != probe.Unreachable {
		t.Errorf("closed port: %s (%s)", res.Outcome, res.Detail)
	}
	if res := probe.Probe(context.Background(), probe.Request{URL: "http://api.contoso.example/hook"}); res.Outcome != probe.Unreachable || !strings.Contains(res.Detail, "loopback") {
		t.Errorf("plain http to a remote host was not refused: %+v", res)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"version":"1.0.0","action":"Continue"}`)
	}))
	defer plain.Close()
	res := probe.Probe(context.Background(), probe.Request{URL: plain.URL})
	if res.Outcome != probe.Continue || len(res.Warnings) != 1 {
		t.Errorf("loopback http: %+v, want continue with a warning", res)
	}
	if res := probe.Probe(context.Background(), probe.Request{URL: srv.URL + "/continue?code=FUNCTION-KEY", Client: srv.Client()}); strings.Contains(res.URL, "FUNCTION-KEY") {
		t.Errorf("the result echoes the URL's key: %s", res.URL)
	}
}

func writePFX(t *testing.T) (string, *x509.Certificate) {
	t.Helper()
	b64, err := os.ReadFile(filepath.Join("..", "repair", "testdata", "connector-b-password.pfx.b64"))
	if err != nil {
		t.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "client.pfx")
	os.WriteFile(path, der, 0o600)
	cert, err := probe.LoadClientCertificate(path, pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	return path, cert.Leaf
}

func TestProbeWithClientCertificate(t *testing.T) {
	path, leaf := writePFX(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || !r.TLS.PeerCertificates[0].Equal(leaf) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		io.WriteString(w, `{"version":"1.0.0","action":"Continue"}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()

	cert, _ := probe.LoadClientCertificate(path, pfxPassword)
	if res := probe.Probe(context.Background(), probe.Request{URL: srv.URL, Auth: probe.Auth{ClientCert: cert}, Client: srv.Client()}); res.Outcome != probe.Continue {
		t.Errorf("with the certificate: %s (%s)", res.Outcome, res.Detail)
	}
	if res := probe.Probe(context.Background(), probe.Request{URL: srv.URL, Client: srv.Client()}); res.Outcome == probe.Continue {
		t.Error("accepted without the client certificate")
	}
	if _, err := probe.LoadClientCertificate(path, "wrong"); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong pfx password: %v", err)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   probe.Outcome
	}{
		{200, `{"version":"1.0.0","action":"Continue"}`, probe.Continue},
		{200, `{"version":"1.0.0","action":"continue"}`, probe.Continue},
		{200, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"no"}`, probe.Block},
		{200, `{"version":"1.0.0","action":"ShowBlockPage"}`, probe.Malformed},
		{400, `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"bad"}`, probe.ValidationError},
		{200, `{"version":"1.0.0","action":"ValidationError","userMessage":"bad"}`, probe.Malformed},
		{400, `{"version":"1.0.0","action":"ValidationError"}`, probe.Malformed},
		{401, ``, probe.AuthFailed},
		{403, `{"version":"1.0.0","action":"Continue"}`, probe.AuthFailed},
		{200, `{"action":"Continue"}`, probe.Malformed},
		{200, `{"version":"1.0.0"}`, probe.Malformed},
		{200, `[]`, probe.Malformed},
		{500, `{"version":"1.0.0","action":"Continue"}`, probe.Malformed},
		{200, `{"version":"1.0.0","action":"Launch"}`, probe.Malformed},
	}
	for _, c := range cases {
		if got, _, _ := probe.Classify(c.status, []byte(c.body)); got != c.want {
			t.Errorf("%d %s: %s, want %s", c.status, c.body, got, c.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(200, []byte(`{"version":"1.0.0","action":"Continue"}`))
	f.Add(400, []byte(`{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"x"}`))
	f.Add(200, []byte(`{"version":"1.0.0","action":"ShowBlockPage","userMessage":"x"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		out, msg, _ := probe.Classify(status, body)
		switch out {
		case probe.Continue:
			if status != 200 {
				t.Fatalf("continue on HTTP %d", status)
			}
		case probe.Block, probe.ValidationError:
			if msg == "" {
				t.Fatalf("%s without a user message", out)
			}
		case probe.Malformed, probe.AuthFailed:
		default:
			t.Fatalf("Classify returned %q", out)
		}
	})
}

func TestAPICommand(t *testing.T) {
	srv, _ := fakeAPI(t)
	env := map[string]string{"LOYALTY_PW": canaryPassword}
	getenv := func(k string) string { return env[k] }
	// The command uses the default client, which does not trust the test
	// server: a plain loopback server stands in for the API here.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, p, _ := r.BasicAuth(); p != canaryPassword {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(400)
		io.WriteString(w, `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Enter a valid loyalty number."}`)
	}))
	defer plain.Close()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := probe.APICommand(context.Background(), args, &out, &errOut, getenv)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run(plain.URL, "--basic-user", "entra-signup", "--basic-password-env", "LOYALTY_PW", "--step", "postAttributeCollection", "--format", "json")
	var res probe.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Outcome != probe.ValidationError || res.Status != 400 || res.UserMessage != "Enter a valid loyalty number." {
		t.Errorf("json: exit %d %+v %v\n%s", code, res, err, errOut)
	}
	if !strings.Contains(errOut, "warning: plain http") {
		t.Errorf("no warning for plain http: %q", errOut)
	}
	if code, out, _ := run("--basic-user", "entra-signup", "--basic-password-env", "NOPE", plain.URL); code != 2 || out != "" {
		t.Errorf("unset password variable: exit %d", code)
	}
	if code, _, _ := run(srv.URL + "/continue"); code != 1 {
		t.Errorf("untrusted TLS: exit %d, want 1", code)
	}
	if code, _, errOut := run("http://api.contoso.example/x"); code != 2 || !strings.Contains(errOut, "loopback") {
		t.Errorf("remote http: exit %d %s", code, errOut)
	}
	if code, _, _ := run(plain.URL, "--step", "preSignIn"); code != 2 {
		t.Errorf("bad step: exit %d", code)
	}
	for _, args := range [][]string{{plain.URL, "--basic-user", "entra-signup", "--basic-password-env", "LOYALTY_PW"}} {
		_, out, errOut := run(args...)
		if strings.Contains(out+errOut, canaryPassword) {
			t.Fatal("the password was printed")
		}
	}
}
