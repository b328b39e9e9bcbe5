package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testRouter struct {
	*Router
	stdout, stderr *syncBuffer
}

func newTestRouter() testRouter {
	out, errw := &syncBuffer{}, &syncBuffer{}
	return testRouter{NewRouter(NewLogger(out, errw, slog.LevelDebug)), out, errw}
}

// invoke sends body as the host does ([H2]: POST /<FunctionName>,
// invocation ID header, JSON content type).
func (tr testRouter) invoke(t *testing.T, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(HeaderInvocationID, "inv-123")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1040.0")
	rec := httptest.NewRecorder()
	tr.ServeHTTP(rec, req)
	return rec
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("response body is not JSON: %v\n%s", err, rec.Body)
	}
	return m
}

func assertJSONContentType(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	// The host rejects a 200 whose media type is not JSON ([H2]);
	// net/http would sniff text/plain if the header were left unset.
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want exactly application/json", got)
	}
}

func TestRouterHealth(t *testing.T) {
	tr := newTestRouter()
	tr.Handle("ScanTimer", func(context.Context, *Invocation) (*InvocationResponse, error) { return nil, nil })
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		rec := tr.invoke(t, m, "/", "")
		if rec.Code != http.StatusOK {
			t.Errorf("%s / = %d, want 200", m, rec.Code)
		}
		assertJSONContentType(t, rec)
	}
	if body := decodeBody(t, tr.invoke(t, http.MethodGet, "/", "")); body["status"] != "ok" {
		t.Errorf("health body = %v", body)
	}
	rec := tr.invoke(t, http.MethodPost, "/", "{}")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d (Allow %q), want 405", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestRouterTimerInvocation(t *testing.T) {
	tr := newTestRouter()
	var gotInv *Invocation
	tr.Handle("ScanTimer", func(ctx context.Context, inv *Invocation) (*InvocationResponse, error) {
		gotInv = inv
		ti, err := inv.Timer("timer")
		if err != nil {
			return nil, err
		}
		resp := &InvocationResponse{}
		resp.Logf("first run: %v", ti.ScheduleStatus.Last.IsZero())
		// An object output must stay an object (base64 trap, [H5]).
		resp.SetOutput("report", map[string]any{"findings": []any{map[string]any{"id": "f1"}}, "count": 1})
		resp.ReturnValue = map[string]any{"ok": true}
		return resp, nil
	})
	rec := tr.invoke(t, http.MethodPost, "/ScanTimer", readFixture(t, "timer_first_run.json"))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
	}
	assertJSONContentType(t, rec)
	if gotInv.FunctionName != "ScanTimer" || gotInv.InvocationID != "inv-123" {
		t.Errorf("invocation = %q/%q", gotInv.FunctionName, gotInv.InvocationID)
	}
	var resp struct {
		Outputs     map[string]json.RawMessage
		Logs        []string
		ReturnValue json.RawMessage
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if r := resp.Outputs["report"]; len(r) == 0 || r[0] != '{' {
		t.Errorf("Outputs.report = %s, want a JSON object", r)
	}
	if string(resp.ReturnValue) != `{"ok":true}` || len(resp.Logs) != 1 || resp.Logs[0] != "first run: true" {
		t.Errorf("response = %s", rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"Outputs"`) || !strings.Contains(rec.Body.String(), `"ReturnValue"`) {
		t.Errorf("keys must be PascalCase: %s", rec.Body)
	}
}

func TestRouterHTTPTriggerOutput(t *testing.T) {
	tr := newTestRouter()
	tr.Handle("Report", func(ctx context.Context, inv *Invocation) (*InvocationResponse, error) {
		req, err := inv.HTTPRequest("req")
		if err != nil {
			return nil, err
		}
		res, err := JSONResponse(http.StatusOK, map[string]string{"format": req.Query["format"]})
		if err != nil {
			return nil, err
		}
		return (&InvocationResponse{}).SetOutput("res", res), nil
	})
	rec := tr.invoke(t, http.MethodPost, "/Report", readFixture(t, "http_report.json"))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
	}
	body := decodeBody(t, rec)
	res, ok := body["Outputs"].(map[string]any)["res"].(map[string]any)
	if !ok {
		t.Fatalf("Outputs.res is not an object: %s", rec.Body)
	}
	if res["statusCode"] != "200" || res["body"] != `{"format":"json"}` {
		t.Errorf("Outputs.res = %v", res)
	}
	if strings.Contains(tr.stdout.String()+tr.stderr.String(), "base64") {
		t.Errorf("object output must not trigger the base64 warning: %s%s", tr.stdout, tr.stderr)
	}
}

func TestRouterWarnsOnStringOutput(t *testing.T) {
	tr := newTestRouter()
	tr.Handle("Q", func(context.Context, *Invocation) (*InvocationResponse, error) {
		return (&InvocationResponse{}).SetOutput("out", "Test1234"), nil
	})
	rec := tr.invoke(t, http.MethodPost, "/Q", `{"Data":{},"Metadata":{}}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if log := tr.stderr.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "base64") || !strings.Contains(log, "output=out") {
		t.Errorf("want a base64-trap warning on stderr naming the output, got %q", log)
	}
}

func TestRouterRejectedIsSuccess(t *testing.T) {
	tr := newTestRouter()
	tr.Handle("Jobs", func(ctx context.Context, inv *Invocation) (*InvocationResponse, error) {
		var job struct{ Kind string }
		if err := inv.DecodeData("msg", &job); err != nil || job.Kind == "" {
			return Rejected("message without kind"), nil
		}
		return nil, nil
	})
	rec := tr.invoke(t, http.MethodPost, "/Jobs", `{"Data":{"msg":"\"\\\"not json\\\"\""},"Metadata":{"DeliveryCount":"1"}}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("rejected input must settle with 200, got %d", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), "rejected: message without kind") {
		t.Errorf("body = %s", rec.Body)
	}
	// nil response → empty, well-formed envelope.
	rec = tr.invoke(t, http.MethodPost, "/Jobs", readFixture(t, "servicebus_json_body.json"))
	if rec.Code != http.StatusOK || rec.Body.String() != `{"Outputs":{},"Logs":[],"ReturnValue":null}` {
		t.Errorf("nil response: %d %s", rec.Code, rec.Body)
	}
}

func TestRouterHandlerErrorIs500AndLogged(t *testing.T) {
	tr := newTestRouter()
	tr.Handle("KeyVaultEvents", func(context.Context, *Invocation) (*InvocationResponse, error) {
		return &InvocationResponse{Logs: []string{"lost"}}, errors.New("vault unreachable")
	})
	rec := tr.invoke(t, http.MethodPost, "/KeyVaultEvents", readFixture(t, "eventgrid_keyvault_egschema.json"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	assertJSONContentType(t, rec)
	body := decodeBody(t, rec)
	if !strings.Contains(body["error"].(string), "vault unreachable") || body["invocationId"] != "inv-123" {
		t.Errorf("error body = %v", body)
	}
	// Logs are discarded by the host on failure, so the error goes to stderr
	// with the invocation ID.
	errLog := tr.stderr.String()
	if !strings.Contains(errLog, "vault unreachable") || !strings.Contains(errLog, "invocation_id=inv-123") ||
		!strings.Contains(errLog, "function=KeyVaultEvents") {
		t.Errorf("stderr = %q", errLog)
	}
}

func TestRouterPanicIs500AndLogged(t *testing.T) {
	tr := newTestRouter()
	tr.Handle("Jobs", func(context.Context, *Invocation) (*InvocationResponse, error) {
		var m map[string]int
		m["boom"]++ // nil map write panics
		return nil, nil
	})
	rec := tr.invoke(t, http.MethodPost, "/Jobs", `{"Data":{},"Metadata":{}}`)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	errLog := tr.stderr.String()
	if !strings.Contains(errLog, "panicked") || !strings.Contains(errLog, "invocation_id=inv-123") || !strings.Contains(errLog, "stack=") {
		t.Errorf("stderr = %q", errLog)
	}
	// The router keeps serving.
	if rec := tr.invoke(t, http.MethodGet, "/", ""); rec.Code != http.StatusOK {
		t.Errorf("health after panic = %d", rec.Code)
	}
}

func TestRouterBadRequests(t *testing.T) {
	tr := newTestRouter()
	called := false
	tr.Handle("Jobs", func(context.Context, *Invocation) (*InvocationResponse, error) {
		called = true
		return nil, nil
	})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		errPart                  string
	}{
		{"bad JSON", http.MethodPost, "/Jobs", `{"Data":`, http.StatusBadRequest, "invalid invocation body"},
		{"not an object", http.MethodPost, "/Jobs", `[1,2]`, http.StatusBadRequest, "invalid invocation body"},
		{"empty", http.MethodPost, "/Jobs", ``, http.StatusBadRequest, "invalid invocation body"},
		{"unknown function", http.MethodPost, "/Nope", `{}`, http.StatusNotFound, `no function "Nope"`},
		{"nested path", http.MethodPost, "/Jobs/x", `{}`, http.StatusNotFound, "no function"},
		{"GET on function", http.MethodGet, "/Jobs", ``, http.StatusMethodNotAllowed, "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tr.invoke(t, tc.method, tc.path, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			assertJSONContentType(t, rec)
			if msg, _ := decodeBody(t, rec)["error"].(string); !strings.Contains(msg, tc.errPart) {
				t.Errorf("error = %q, want it to mention %q", msg, tc.errPart)
			}
		})
	}
	if called {
		t.Error("handler must not run for rejected requests")
	}
	if !strings.Contains(tr.stderr.String(), "invalid invocation body") {
		t.Errorf("400s must be logged to stderr, got %q", tr.stderr.String())
	}
}

func TestRouterCaseInsensitiveName(t *testing.T) {
	tr := newTestRouter()
	var got string
	tr.Handle("ScanTimer", func(_ context.Context, inv *Invocation) (*InvocationResponse, error) {
		got = inv.FunctionName
		return nil, nil
	})
	if rec := tr.invoke(t, http.MethodPost, "/scantimer", `{"Data":{},"Metadata":{}}`); rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if got != "ScanTimer" {
		t.Errorf("FunctionName = %q, want the registered spelling", got)
	}
}

func TestRouterBodyTooLarge(t *testing.T) {
	tr := newTestRouter()
	tr.Handle("Jobs", func(context.Context, *Invocation) (*InvocationResponse, error) { return nil, nil })
	big := `{"Data":{"msg":"` + strings.Repeat("a", MaxRequestBytes) + `"}}`
	req := httptest.NewRequest(http.MethodPost, "/Jobs", io.NopCloser(strings.NewReader(big)))
	rec := httptest.NewRecorder()
	tr.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", rec.Code)
	}
	if msg, _ := decodeBody(t, rec)["error"].(string); !strings.Contains(msg, "exceeds") {
		t.Errorf("error = %q", msg)
	}
}

func TestRouterHandlePanicsOnWiringBugs(t *testing.T) {
	h := func(context.Context, *Invocation) (*InvocationResponse, error) { return nil, nil }
	for name, fn := range map[string]func(r *Router){
		"invalid name":   func(r *Router) { r.Handle("1bad", h) },
		"slash":          func(r *Router) { r.Handle("a/b", h) },
		"reserved host":  func(r *Router) { r.Handle("Host", h) },
		"nil handler":    func(r *Router) { r.Handle("ok", nil) },
		"duplicate name": func(r *Router) { r.Handle("Jobs", h); r.Handle("jobs", h) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("want panic")
				}
			}()
			fn(NewRouter(NewLogger(io.Discard, io.Discard, slog.LevelInfo)))
		})
	}
	r := NewRouter(nil)
	r.Handle("b", h)
	r.Handle("A-1_x", h)
	if got := r.Functions(); strings.Join(got, ",") != "A-1_x,b" {
		t.Errorf("Functions = %v", got)
	}
}

func TestValidFunctionName(t *testing.T) {
	for name, want := range map[string]bool{
		"ScanTimer": true, "Report": true, "a": true, "a-b_c9": true, strings.Repeat("a", 128): true,
		"": false, "9a": false, "_a": false, "a.b": false, "host": false, "HOST": false, strings.Repeat("a", 129): false,
		"hosts": true,
	} {
		if got := ValidFunctionName(name); got != want {
			t.Errorf("ValidFunctionName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestLoggerSplitsByLevel(t *testing.T) {
	out, errw := &syncBuffer{}, &syncBuffer{}
	l := NewLogger(out, errw, slog.LevelInfo).With("k", "v").WithGroup("g")
	l.Debug("hidden")
	l.Info("to stdout")
	l.Warn("warning to stderr")
	l.Error("error to stderr")
	if s := out.String(); !strings.Contains(s, "to stdout") || strings.Contains(s, "stderr") || strings.Contains(s, "hidden") {
		t.Errorf("stdout = %q", s)
	}
	errLines := strings.Split(strings.TrimSpace(errw.String()), "\n")
	if len(errLines) != 2 || strings.Contains(errw.String(), "stdout") || !strings.Contains(errw.String(), "k=v") {
		t.Fatalf("stderr = %q", errw.String())
	}
	// The host's rule (WorkerProcess.ParseErrorMessageAndLog): a stderr line
	// containing "warn" is a Warning, any other an Error.
	hostLevel := func(line string) string {
		if strings.Contains(strings.ToLower(line), "warn") {
			return "Warning"
		}
		return "Error"
	}
	if hostLevel(errLines[0]) != "Warning" || hostLevel(errLines[1]) != "Error" {
		t.Errorf("the host would log %q as %s and %q as %s", errLines[0], hostLevel(errLines[0]), errLines[1], hostLevel(errLines[1]))
	}
}
