package funchost

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestListenAddress(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    string
		errPart string
	}{
		{"custom handler port", map[string]string{EnvCustomHandlerPort: "7071"}, "127.0.0.1:7071", ""},
		{"precedence", map[string]string{EnvCustomHandlerPort: "4000", EnvHTTPWorkerPort: "5000"}, "127.0.0.1:4000", ""},
		{"legacy fallback", map[string]string{EnvHTTPWorkerPort: " 5000 "}, "127.0.0.1:5000", ""},
		{"missing", nil, "", "FUNCTIONS_CUSTOMHANDLER_PORT is not set"},
		{"not a number", map[string]string{EnvCustomHandlerPort: "http"}, "", `FUNCTIONS_CUSTOMHANDLER_PORT="http" is not a TCP port`},
		{"out of range", map[string]string{EnvHTTPWorkerPort: "70000"}, "", `FUNCTIONS_HTTPWORKER_PORT="70000"`},
		{"zero", map[string]string{EnvCustomHandlerPort: "0"}, "", "is not a TCP port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listenAddress(env(tc.env))
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("err = %v, want mention of %q", err, tc.errPart)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Setenv(EnvCustomHandlerPort, "12345")
	if got, err := ListenAddress(); err != nil || got != "127.0.0.1:12345" {
		t.Errorf("ListenAddress() = %q, %v", got, err)
	}
}

func TestServeLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	started := make(chan struct{})
	release := make(chan struct{})
	r := NewRouter(NewLogger(io.Discard, io.Discard, slog.LevelInfo))
	r.Handle("Slow", func(ctx context.Context, inv *Invocation) (*InvocationResponse, error) {
		close(started)
		<-release
		// The serve context's cancellation must not reach in-flight handlers.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return (&InvocationResponse{}).Logf("drained"), nil
	})

	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", r, func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Serve returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("ready not called")
	}
	base := "http://" + addr.String()

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET / = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Start an invocation, cancel the serve context while it runs, and check
	// it still completes (graceful drain) before Serve returns nil.
	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/Slow", "application/json", strings.NewReader(`{"Data":{},"Metadata":{}}`))
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		resc <- result{body: string(b)}
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond) // let Shutdown begin
	close(release)
	res := <-resc
	if res.err != nil || !strings.Contains(res.body, "drained") {
		t.Fatalf("in-flight invocation = %q, %v", res.body, res.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after graceful shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("listener still open after shutdown")
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(context.Background(), ln.Addr().String(), http.NotFoundHandler(), func(net.Addr) { t.Error("ready called on failure") })
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("err = %v, want listen error", err)
	}
}
