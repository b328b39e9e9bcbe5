package azurefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Example is one documented Graph example of the corpus in testdata/graph:
// a response (or, Kind "request-body", a request body that documents a
// property the response example leaves out), named with the reference page,
// the commit of microsoft-graph-docs-contrib it was read at, and the example.
type Example struct {
	File    string `json:"-"`
	Page    string `json:"page"`
	Commit  string `json:"commit"`
	Example string `json:"example"`
	// Route is "METHOD /path" with {id} for keys.
	Route string `json:"route"`
	// Query is the example request's query ("" for none), unescaped.
	Query string `json:"query,omitempty"`
	// Kind is "" (a response) or "request-body".
	Kind   string          `json:"kind,omitempty"`
	Status int             `json:"status,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
	// AlsoDocuments names other routes whose answers hold the same resource
	// type, and where in their body it sits ("" the body, "value[]" each
	// item, "name" a property).
	AlsoDocuments []AlsoDocuments `json:"alsoDocuments,omitempty"`
	// Replay false keeps a second example of a route out of CorpusReplay.
	Replay *bool  `json:"replay,omitempty"`
	Note   string `json:"note,omitempty"`
}

// AlsoDocuments is one use of an example's resource in another route.
type AlsoDocuments struct {
	Route string `json:"route"`
	At    string `json:"at"`
	Why   string `json:"why"`
}

// CorpusDir is testdata/graph of this package.
func CorpusDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "graph")
}

// LoadCorpus reads every example in dir.
func LoadCorpus(dir string) ([]Example, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Example
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var ex Example
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ex); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		ex.File = filepath.Base(f)
		if ex.Page == "" || ex.Commit == "" || ex.Example == "" || !strings.Contains(ex.Route, " /") {
			return nil, fmt.Errorf("%s: page, commit, example and route are required", ex.File)
		}
		if ex.Kind == "" && ex.Status == 0 {
			return nil, fmt.Errorf("%s: a response example needs its status", ex.File)
		}
		out = append(out, ex)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// RouteOf matches a request path (relative to the version root) against the
// route patterns of the examples; "" when none matches.
func RouteOf(method, path string, examples []Example) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, ex := range examples {
		m, p, _ := strings.Cut(ex.Route, " ")
		if m != method {
			continue
		}
		rsegs := strings.Split(strings.Trim(p, "/"), "/")
		if len(rsegs) != len(segs) {
			continue
		}
		ok := true
		for i := range rsegs {
			if !strings.HasPrefix(rsegs[i], "{") && rsegs[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return ex.Route
		}
	}
	return ""
}

// CorpusReplay answers Graph requests with the documented examples: the
// request's method, path (keys match any value) and query select the
// example. A request the corpus has no example for answers 400 (as Graph
// answers a route it does not know) and is listed by Unanswered.
type CorpusReplay struct {
	Examples []Example
	// Override, when it returns a response, answers instead of the corpus
	// (a 403 on one route, for example).
	Override func(r *http.Request, route string) *http.Response

	mu         sync.Mutex
	unanswered []string
	answered   []string
}

// Unanswered lists the requests the corpus had no example for.
func (c *CorpusReplay) Unanswered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.unanswered...)
}

// Answered lists the requests answered from the corpus, as "METHOD route?query".
func (c *CorpusReplay) Answered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.answered...)
}

// RoundTrip implements http.RoundTripper. A $batch envelope is answered
// request by request, each from the corpus (or Override), as Graph answers
// a batch (concepts/json-batching.md).
func (c *CorpusReplay) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == graphPrefix+"/$batch" {
		return c.batch(r)
	}
	if r.Body != nil {
		r.Body.Close()
	}
	path := strings.TrimPrefix(r.URL.Path, graphPrefix)
	query, _ := url.QueryUnescape(r.URL.RawQuery)
	route := RouteOf(r.Method, path, c.Examples)
	if c.Override != nil {
		if resp := c.Override(r, route); resp != nil {
			return resp, nil
		}
	}
	for _, ex := range c.Examples {
		if ex.Kind != "" || ex.Route != route || ex.Query != query || (ex.Replay != nil && !*ex.Replay) {
			continue
		}
		c.mu.Lock()
		c.answered = append(c.answered, route+"?"+query)
		c.mu.Unlock()
		return Respond(r, ex.Status, ex.Body), nil
	}
	c.mu.Lock()
	c.unanswered = append(c.unanswered, r.Method+" "+path+"?"+query)
	c.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": "BadRequest", "message": "no documented example for " + r.Method + " " + path + "?" + query}})
	return Respond(r, http.StatusBadRequest, body), nil
}

// Respond builds a JSON response to r.
func Respond(r *http.Request, status int, body []byte) *http.Response {
	h := http.Header{}
	if len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r,
	}
}

func (c *CorpusReplay) batch(r *http.Request) (*http.Response, error) {
	raw, err := readBody(r)
	r.Body.Close()
	var envelope struct {
		Requests []batchRequest `json:"requests"`
	}
	if err != nil || json.Unmarshal(raw, &envelope) != nil || len(envelope.Requests) == 0 || len(envelope.Requests) > MaxBatchRequests {
		body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Invalid batch payload."}})
		return Respond(r, http.StatusBadRequest, body), nil
	}
	var out []batchResponse
	for _, br := range envelope.Requests {
		inner, err := http.NewRequestWithContext(r.Context(), br.Method, "https://"+r.URL.Host+graphPrefix+"/"+strings.TrimPrefix(br.URL, "/"), nil)
		if err != nil {
			return nil, err
		}
		inner.Header = r.Header.Clone()
		resp, err := c.RoundTrip(inner)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		item := batchResponse{ID: br.ID, Status: resp.StatusCode, Headers: map[string]string{}}
		for _, k := range []string{"Content-Type", "Retry-After"} {
			if v := resp.Header.Get(k); v != "" {
				item.Headers[k] = v
			}
		}
		if len(bytes.TrimSpace(body)) > 0 {
			item.Body = body
		}
		out = append(out, item)
	}
	body, _ := json.Marshal(map[string]any{"responses": out})
	return Respond(r, http.StatusOK, body), nil
}
