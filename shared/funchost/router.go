package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// MaxRequestBytes caps an invocation body. Trigger payloads are small
// (Service Bus messages ≤ 256 KB standard / 100 MB premium, Event Grid events
// ≤ 1 MB); 16 MiB leaves room while bounding memory per request.
const MaxRequestBytes = 16 << 20

// Handler handles one invocation.
//
// Return (resp, nil) when the input was dealt with — including input that was
// rejected on purpose (see Rejected); the router answers 200 and the host
// settles the trigger. Return a non-nil error when the work failed and should
// be retried; the router answers 500, the host fails the invocation and the
// trigger retries (Service Bus redelivers, Event Grid retries). resp may be
// nil on success.
type Handler func(ctx context.Context, inv *Invocation) (*InvocationResponse, error)

// functionNameRE is the host's function (folder) name rule, case-insensitive,
// and "host" is reserved. Source: azure-functions-host src/WebJobs.Script/Utility.cs
// FunctionNameValidationRegex `^[a-z][a-z0-9_\-]{0,127}$(?<!^host$)`.
var functionNameRE = regexp.MustCompile(`(?i)^[a-z][a-z0-9_\-]{0,127}$`)

// ValidFunctionName reports whether name is acceptable to the host as a
// function (folder) name.
func ValidFunctionName(name string) bool {
	return functionNameRE.MatchString(name) && !strings.EqualFold(name, "host")
}

// Router dispatches host invocations (POST /<FunctionName>) to handlers and
// answers the host's readiness/health probe (GET /). It is safe for
// concurrent use; register handlers before serving.
type Router struct {
	logger *slog.Logger

	mu       sync.RWMutex
	handlers map[string]route // key: lower-case function name
}

type route struct {
	name string
	h    Handler
}

// NewRouter returns an empty router. A nil logger selects NewLogger(os.Stdout,
// os.Stderr, slog.LevelInfo).
func NewRouter(logger *slog.Logger) *Router {
	if logger == nil {
		logger = DefaultLogger()
	}
	return &Router{logger: logger, handlers: map[string]route{}}
}

// Handle registers h for functionName (the function's folder name). It panics
// on an invalid name, a nil handler or a duplicate (names are compared
// case-insensitively, as the host does), since those are wiring bugs.
func (rt *Router) Handle(functionName string, h Handler) {
	if !ValidFunctionName(functionName) {
		panic(fmt.Sprintf("funchost: invalid function name %q (host rule ^[a-z][a-z0-9_-]{0,127}$, not \"host\")", functionName))
	}
	if h == nil {
		panic("funchost: nil handler for " + functionName)
	}
	key := strings.ToLower(functionName)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if prev, dup := rt.handlers[key]; dup {
		panic(fmt.Sprintf("funchost: function %q registered twice (already as %q)", functionName, prev.name))
	}
	rt.handlers[key] = route{name: functionName, h: h}
}

// Functions lists the registered function names, sorted.
func (rt *Router) Functions() []string {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	names := make([]string, 0, len(rt.handlers))
	for _, r := range rt.handlers {
		names = append(names, r.name)
	}
	sort.Strings(names)
	return names
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		// Readiness poll (every 25 ms at start-up) and HostMonitor ping: the
		// host only needs *a* response, so keep this free of I/O.
		// Source: DefaultHttpWorkerService.IsWorkerReady / PingAsync ([H2]).
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method not allowed on /"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "functions": rt.Functions()})
		return
	}

	name := strings.TrimPrefix(r.URL.Path, "/")
	rt.mu.RLock()
	rte, ok := rt.handlers[strings.ToLower(name)]
	rt.mu.RUnlock()
	if !ok || strings.Contains(name, "/") {
		rt.logger.Warn("invocation for unknown function", "path", r.URL.Path, "method", r.Method,
			"invocation_id", r.Header.Get(HeaderInvocationID))
		writeJSON(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("no function %q", name), Function: name,
			InvocationID: r.Header.Get(HeaderInvocationID)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "invocations use POST", Function: rte.name})
		return
	}
	rt.invoke(w, r, rte)
}

type errorBody struct {
	Error        string `json:"error"`
	Function     string `json:"function,omitempty"`
	InvocationID string `json:"invocationId,omitempty"`
}

func (rt *Router) invoke(w http.ResponseWriter, r *http.Request, rte route) {
	start := time.Now()
	id := r.Header.Get(HeaderInvocationID)
	log := rt.logger.With("function", rte.name, "invocation_id", id)
	fail := func(status int, msg string, attrs ...any) {
		// The host discards Logs on non-2xx, so the reason must reach stderr.
		log.Error(msg, attrs...)
		writeJSON(w, status, errorBody{Error: msg, Function: rte.name, InvocationID: id})
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("invocation body exceeds %d bytes", tooBig.Limit))
			return
		}
		fail(http.StatusBadRequest, "reading invocation body failed", "err", err)
		return
	}
	inv, err := NewInvocation(rte.name, id, body)
	if err != nil {
		fail(http.StatusBadRequest, "invalid invocation body: "+err.Error(), "body_bytes", len(body))
		return
	}
	inv.logger = rt.logger

	resp, err := rt.call(r.Context(), rte.h, inv)
	if err != nil {
		fail(http.StatusInternalServerError, "function failed: "+err.Error(), "duration", time.Since(start))
		return
	}
	if resp == nil {
		resp = &InvocationResponse{}
	}
	warnStringOutputs(log, resp)
	out, err := json.Marshal(resp)
	if err != nil {
		fail(http.StatusInternalServerError, "encoding the function's response failed: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(out); err != nil {
		log.Error("writing invocation response failed", "err", err)
	}
	log.Debug("invocation completed", "duration", time.Since(start))
}

// call runs h, converting a panic into an error (with stack in the log) so one
// bad invocation neither kills the process (3 crashes in 30 min stop the
// host, [H2]) nor leaves the host without an answer.
func (rt *Router) call(ctx context.Context, h Handler, inv *Invocation) (resp *InvocationResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			inv.Logger().Error("function panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return h(ctx, inv)
}

// warnStringOutputs flags output values the host would try to base64-decode.
func warnStringOutputs(log *slog.Logger, resp *InvocationResponse) {
	for name, v := range resp.Outputs {
		switch x := v.(type) {
		case string, *string, []byte:
			log.Warn("output value is a string; the host turns strings that parse as base64 into bytes — emit a JSON object or array", "output", name)
		case json.RawMessage:
			if len(x) > 0 && x[0] == '"' {
				log.Warn("output value is a JSON string; the host turns strings that parse as base64 into bytes — emit a JSON object or array", "output", name)
			}
		}
	}
}

// writeJSON writes v with the exact content type the host requires
// (a 200 with another media type fails the invocation; [H2]).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"internal encoding error"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
