package probe_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/probe"
)

// A password with characters that JSON and URLs escape, so the escaped
// echoes are exercised too.
const echoPassword = `CANARY<pw>&"x/+51d0`

// echoAPI answers with the request's credentials in every place a careless
// API puts them: the user message (raw header, its base64 alone, the
// decoded user:password, the password), and a non-JSON body that starts
// with a long preamble so an 80-byte excerpt would cut through the header.
func echoAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		b64 := strings.TrimPrefix(authz, "Basic ")
		user, pw, _ := r.BasicAuth()
		switch r.URL.Path {
		case "/block":
			msg := "Denied. You sent " + authz + " (" + b64 + "), i.e. " + user + ":" + pw + "; password " + pw +
				"; url-encoded " + url.QueryEscape(pw) + "; unpadded " + base64.RawStdEncoding.EncodeToString([]byte(user+":"+pw))
			json.NewEncoder(w).Encode(map[string]string{"version": "1.0.0", "action": "ShowBlockPage", "userMessage": msg})
		case "/malformed":
			io.WriteString(w, "Error 4711 in handler: "+strings.Repeat(".", 20)+" Authorization: "+authz+" password="+pw)
		case "/malformed-json":
			w.Header().Set("Content-Type", "application/json")
			body, _ := json.Marshal(map[string]any{"version": "1.0.0", "action": pw, "echo": authz})
			w.Write(body)
		case "/unauthorized":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "bad credentials "+authz)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func credentialForms(user, pw string) []string {
	up := user + ":" + pw
	forms := []string{pw, up, base64.StdEncoding.EncodeToString([]byte(up)), base64.RawStdEncoding.EncodeToString([]byte(up)),
		base64.URLEncoding.EncodeToString([]byte(up)), url.QueryEscape(pw), "CANARY"}
	// Any 12-byte piece of the base64 header value counts as a leak.
	b64 := base64.StdEncoding.EncodeToString([]byte(up))
	for i := 0; i+12 <= len(b64); i += 6 {
		forms = append(forms, b64[i:i+12])
	}
	return forms
}

func assertNoCredential(t *testing.T, where, text string) {
	t.Helper()
	for _, f := range credentialForms("entra-signup", echoPassword) {
		if strings.Contains(text, f) {
			t.Errorf("%s carries %q:\n%s", where, f, text)
		}
	}
}

func TestProbeRedactsEchoedCredentials(t *testing.T) {
	srv := echoAPI(t)
	auth := probe.Auth{BasicUser: "entra-signup", BasicPassword: echoPassword}
	for _, path := range []string{"/block", "/malformed", "/malformed-json", "/unauthorized"} {
		r := probe.Probe(context.Background(), probe.Request{URL: srv.URL + path, Auth: auth})
		all, _ := json.Marshal(r)
		assertNoCredential(t, path, string(all))
		var text bytes.Buffer
		probe.WriteText(&text, r)
		assertNoCredential(t, path+" (text)", text.String())
		if path == "/block" && (r.Outcome != probe.Block || !strings.Contains(r.UserMessage, "You sent Basic "+probe.Redacted) || !strings.Contains(r.UserMessage, "entra-signup:") && !strings.Contains(r.UserMessage, probe.Redacted+"; password")) {
			t.Errorf("block: %s %q", r.Outcome, r.UserMessage)
		}
		if path == "/malformed" && (r.Outcome != probe.Malformed || !strings.Contains(r.Detail, "Error 4711")) {
			t.Errorf("malformed: %s %q", r.Outcome, r.Detail)
		}
	}
	// Redaction is scoped to the credential: other text is left alone.
	if got := auth.Redact("Enter a valid loyalty number."); got != "Enter a valid loyalty number." {
		t.Errorf("unrelated text changed: %q", got)
	}
	if got := (probe.Auth{}).Redact("Basic abc"); got != "Basic abc" {
		t.Errorf("no credential, but %q", got)
	}
}

// Through the command: neither the JSON nor the text output prints the
// echoed header, its base64 or the password.
func TestAPICommandRedactsEcho(t *testing.T) {
	srv := echoAPI(t)
	getenv := func(k string) string { return map[string]string{"PW": echoPassword}[k] }
	for _, format := range []string{"json", "text"} {
		for _, path := range []string{"/block", "/malformed"} {
			var out, errOut bytes.Buffer
			code := probe.APICommand(context.Background(), []string{srv.URL + path, "--basic-user", "entra-signup", "--basic-password-env", "PW", "--format", format}, &out, &errOut, getenv)
			assertNoCredential(t, format+" "+path, out.String()+errOut.String())
			if !strings.Contains(out.String(), probe.Redacted) {
				t.Errorf("%s %s: exit %d, nothing redacted?\n%s", format, path, code, out.String())
			}
		}
	}
}
