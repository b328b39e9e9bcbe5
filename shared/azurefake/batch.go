package azurefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// JSON batching, transcribed from concepts/json-batching.md
// (microsoft-graph-docs-contrib, testdata/graph/json-batching.json):
//
//   - POST /v1.0/$batch with {"requests":[{id, method, url, headers, body}]};
//     url is relative to the version root ("/users" or "users?$select=…").
//   - At most 20 requests; ids are required and unique (not
//     case-sensitive), otherwise the whole batch fails with 400; a body
//     needs a Content-Type in headers.
//   - The answer is 200 with {"responses":[{id, status, headers, body}]},
//     "Individual responses might appear in a different order than the
//     requests" — the fake answers in reverse order, so a client that
//     relies on the order fails its tests.
//   - "Requests in a batch are evaluated individually against the
//     applicable throttling limits and if any request exceeds the limits, it
//     fails with a status of 429": each request takes its own cost from its
//     family's bucket, and a throttled one carries its own Retry-After in
//     its headers.
//
// dependsOn (sequencing, 424 Failed Dependency) is not served: a batch that
// uses it answers 400, so a client cannot come to rely on an untested
// path. Faults (AddFault) match the requests inside a batch like any other.

// MaxBatchRequests is Graph's documented limit of requests per batch.
const MaxBatchRequests = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, message string) {
		s.cond.countHTTP(r.Host, true, 0)
		s.mu.Lock()
		s.batches++
		s.requests = append(s.requests, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, At: time.Now(), Status: status, Batch: s.batches})
		s.mu.Unlock()
		writeODataError(w, status, code, message)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "Request_BadRequest", "A batch is sent with POST.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	raw, err := readBody(r)
	if err != nil {
		fail(http.StatusBadRequest, "BadRequest", "The batch request body cannot be read.")
		return
	}
	var envelope struct {
		Requests []batchRequest `json:"requests"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&envelope); err != nil || envelope.Requests == nil {
		fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload: a JSON object with a requests array of {id, method, url, headers, body}.")
		return
	}
	switch n := len(envelope.Requests); {
	case n == 0:
		fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload: the requests array is empty.")
		return
	case n > MaxBatchRequests:
		fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload: %d requests, a batch holds at most %d.", n, MaxBatchRequests))
		return
	}
	ids := map[string]bool{}
	for i, br := range envelope.Requests {
		switch {
		case br.ID == "" || br.Method == "" || br.URL == "":
			fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload: request %d needs id, method and url.", i+1))
			return
		case ids[strings.ToLower(br.ID)]:
			fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload: the id '"+br.ID+"' is used twice.")
			return
		case len(br.DependsOn) > 0:
			fail(http.StatusBadRequest, "BadRequest", "dependsOn is not served by the fake.")
			return
		case len(br.Body) > 0 && headerFold(br.Headers, "Content-Type") == "":
			fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload: request '"+br.ID+"' has a body but no Content-Type header.")
			return
		}
		ids[strings.ToLower(br.ID)] = true
	}
	s.cond.countHTTP(r.Host, true, len(envelope.Requests))
	s.mu.Lock()
	s.batches++
	n := s.batches
	s.requests = append(s.requests, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, At: time.Now(), Status: http.StatusOK, Batch: n})
	s.mu.Unlock()

	responses := make([]batchResponse, len(envelope.Requests))
	for i, br := range envelope.Requests {
		responses[len(responses)-1-i] = s.answerInner(r, br, n)
	}
	writeJSON(w, http.StatusOK, map[string]any{"responses": responses})
}

// answerInner answers one request of a batch through the same handler as
// a request of its own.
func (s *Server) answerInner(outer *http.Request, br batchRequest, batch int) batchResponse {
	out := batchResponse{ID: br.ID}
	rel := br.URL
	if strings.Contains(rel, "://") || strings.Contains(strings.SplitN(rel, "?", 2)[0], "$batch") {
		out.Status = http.StatusBadRequest
		out.Headers = map[string]string{"Content-Type": "application/json"}
		out.Body, _ = json.Marshal(map[string]any{"error": map[string]any{"code": "BadRequest", "message": "The url of a batch request is relative to the version root and is not a batch."}})
		return out
	}
	target := "https://" + outer.Host + graphPrefix + "/" + strings.TrimPrefix(rel, "/")
	var body *bytes.Reader
	if len(br.Body) > 0 {
		body = bytes.NewReader(br.Body)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(outer.Context(), strings.ToUpper(br.Method), target, body)
	if err != nil {
		out.Status = http.StatusBadRequest
		out.Headers = map[string]string{"Content-Type": "application/json"}
		out.Body, _ = json.Marshal(map[string]any{"error": map[string]any{"code": "BadRequest", "message": "The url of the request cannot be parsed."}})
		return out
	}
	req.Host = outer.Host
	req.Header.Set("Authorization", outer.Header.Get("Authorization"))
	for k, v := range br.Headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.handle(rec, req, batch)
	out.Status = rec.Code
	out.Headers = map[string]string{}
	for _, k := range []string{"Content-Type", "Retry-After", "Location"} {
		if v := rec.Header().Get(k); v != "" {
			out.Headers[k] = v
		}
	}
	if b := bytes.TrimSpace(rec.Body.Bytes()); len(b) > 0 {
		if json.Valid(b) {
			out.Body = append(json.RawMessage(nil), b...)
		} else {
			// A non-JSON body travels as a base64 string (json-batching.md:
			// "a JSON object or a base64 URL-encoded value").
			out.Body, _ = json.Marshal(b)
		}
	}
	return out
}

func headerFold(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
