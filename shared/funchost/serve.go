package funchost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables the host sets on the handler process.
// Source: azure-functions-host Workers/Http/HttpWorkerConstants.cs ([H1]).
const (
	EnvCustomHandlerPort = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvHTTPWorkerPort    = "FUNCTIONS_HTTPWORKER_PORT" // legacy name, same value
)

// ShutdownTimeout bounds the graceful drain after the serve context is
// cancelled. The host kills the process on its own schedule anyway; this only
// lets in-flight invocations finish and their responses reach the host.
const ShutdownTimeout = 30 * time.Second

// ListenAddress returns 127.0.0.1:<port> from FUNCTIONS_CUSTOMHANDLER_PORT,
// falling back to the legacy FUNCTIONS_HTTPWORKER_PORT. The host always calls
// http://127.0.0.1:<port> (WorkerConstants.HostName), so binding loopback only
// is both sufficient and safer than all interfaces.
func ListenAddress() (string, error) {
	return listenAddress(os.Getenv)
}

func listenAddress(getenv func(string) string) (string, error) {
	name := EnvCustomHandlerPort
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		name = EnvHTTPWorkerPort
		v = strings.TrimSpace(getenv(name))
	}
	if v == "" {
		return "", fmt.Errorf("funchost: %s is not set: `serve` must be started by the Azure Functions host "+
			"(func start / the Functions runtime); to try it by hand, set %s=<port>", EnvCustomHandlerPort, EnvCustomHandlerPort)
	}
	port, err := strconv.Atoi(v)
	if err != nil || port < 1 || port > 65535 {
		return "", fmt.Errorf("funchost: %s=%q is not a TCP port (1-65535)", name, v)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// Serve listens on addr and serves h until ctx is cancelled, then shuts down
// gracefully (up to ShutdownTimeout). ready, when non-nil, is called with the
// bound address once the listener is open — before that the host's readiness
// poll gets "connection refused", which it treats as "not ready yet".
//
// Timeouts: ReadHeaderTimeout and ReadTimeout bound slow or stuck request
// reads (the body is at most MaxRequestBytes over loopback). There is
// deliberately no WriteTimeout: net/http starts that clock when the request
// headers are read, so it caps the *handler's* run time, and a tenant scan
// may legitimately run up to functionTimeout. The host enforces its own limit
// (HttpClient timeout = functionTimeout + 1 min) and cancels the request,
// which cancels the handler's context.
func Serve(ctx context.Context, addr string, h http.Handler, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("funchost: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       5 * time.Minute, // the host's HttpClient keeps connections alive
		MaxHeaderBytes:    1 << 20,
		// Handlers must not be cancelled by ctx itself: on shutdown in-flight
		// invocations drain; keep ctx's values only.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(DefaultLogger().Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("funchost: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("funchost: graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("funchost: serve: %w", err)
	}
	return nil
}
