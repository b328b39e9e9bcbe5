// Package snapshot records the HTTP exchanges a scan makes with Microsoft
// Graph and Key Vault, and replays them later, so an offline scan runs the
// very same SDK code path as a live one: only the transport underneath the
// SDK clients changes.
//
// A snapshot is a folder:
//
//	snapshot.json          manifest: format version, capture time, tenant, vaults
//	responses/*.json       one file per request: method, URL, status, body
//
// Partner metadata documents a scan fetches are recorded too, as text.
//
// A snapshot is read as untrusted data: every file must be a regular file
// (no symbolic links, devices or FIFOs) within a size limit, and a file that
// does not parse is named with the reason, never quoted.
//
// Secret values are never recorded: the recorder refuses Key Vault responses
// that carry a value (GET /secrets/{name}[/{version}]) and masks write-only
// Graph fields (clientSecret, password, pkcs12Value) should they ever appear.
package snapshot

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// FormatVersion is the version of the folder layout this package writes.
const FormatVersion = 1

// Manifest describes a snapshot.
type Manifest struct {
	FormatVersion int       `json:"formatVersion"`
	CapturedAt    time.Time `json:"capturedAt"`
	TenantID      string    `json:"tenantId,omitempty"`
	KeyVaults     []string  `json:"keyVaults,omitempty"`
	// SecretNames are the Key Vault secrets the configuration mapped to a
	// dependency at capture time, so a replay reads the same set.
	SecretNames []string `json:"secretNames,omitempty"`
	Responses   int      `json:"responses"`
}

// Exchange is one recorded response and the request it answered.
type Exchange struct {
	Method      string          `json:"method"`
	URL         string          `json:"url"`
	Status      int             `json:"status"`
	ContentType string          `json:"contentType,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
	// BodyText holds a body that is not JSON (partner metadata XML).
	BodyText string `json:"bodyText,omitempty"`
}

// Limits of the files a replay reads. A Graph page or a Key Vault list is a
// few hundred kilobytes; a recorded metadata aggregate can be tens of
// megabytes (and more once JSON-escaped).
const (
	MaxManifestBytes = 1 << 20
	MaxResponseBytes = 256 << 20
)

// The capture times a replay accepts: outside them date arithmetic breaks
// (years past 9999 cannot be written as JSON), and no real capture is there.
var (
	earliestCapture = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latestCapture   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ReadManifest reads DIR/snapshot.json and checks its format version.
func ReadManifest(dir string) (Manifest, error) {
	data, err := readRegular(dir, "snapshot.json", MaxManifestBytes)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("snapshot %s: snapshot.json: %s", dir, jsonProblem(err))
	}
	if m.FormatVersion != FormatVersion {
		return Manifest{}, fmt.Errorf("snapshot %s: snapshot.json: formatVersion %d is not supported (want %d)", dir, m.FormatVersion, FormatVersion)
	}
	if m.CapturedAt.IsZero() {
		return Manifest{}, fmt.Errorf("snapshot %s: snapshot.json: capturedAt is missing", dir)
	}
	if m.CapturedAt.Before(earliestCapture) || m.CapturedAt.After(latestCapture) {
		return Manifest{}, fmt.Errorf("snapshot %s: snapshot.json: capturedAt is outside %s to %s", dir, earliestCapture.Format("2006-01-02"), latestCapture.Format("2006-01-02"))
	}
	return m, nil
}

// readRegular reads dir/rel, which must be a regular file — not a symbolic
// link (a snapshot is data from elsewhere: a link could point at any file
// this process can read), not a device or FIFO (which could block or never
// end) — of at most limit bytes. The file is checked before opening
// (Lstat) and the opened file is checked to be the same one, so a link
// swapped in between is caught too. Errors name the file, never its
// content.
func readRegular(dir, rel string, limit int64) ([]byte, error) {
	path := filepath.Join(dir, rel)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("snapshot %s: %s: %s", dir, path, fmt.Sprintf(format, args...))
	}
	before, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fail("no such file")
		}
		return nil, fail("cannot be read: %v", errors.Unwrap(err))
	}
	if msg := notRegular(before.Mode()); msg != "" {
		return nil, fail("%s: a snapshot holds regular files only", msg)
	}
	if before.Size() > limit {
		return nil, fail("%d bytes is over the %d byte limit", before.Size(), limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail("cannot be opened: %v", errors.Unwrap(err))
	}
	defer f.Close()
	after, err := f.Stat()
	if err != nil || !os.SameFile(before, after) {
		return nil, fail("changed while it was opened: a snapshot holds regular files only")
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fail("cannot be read: %v", errors.Unwrap(err))
	}
	if int64(len(data)) > limit {
		return nil, fail("grew past the %d byte limit while it was read", limit)
	}
	return data, nil
}

// notRegular names what a non-regular file is, or "".
func notRegular(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m&fs.ModeSymlink != 0:
		return "is a symbolic link"
	case m.IsDir():
		return "is a directory"
	case m&fs.ModeNamedPipe != 0:
		return "is a named pipe"
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return "is a device"
	case m&fs.ModeSocket != 0:
		return "is a socket"
	default:
		return "is not a regular file"
	}
}

// jsonProblem describes a decoding error without quoting the input: the
// standard library's messages quote the offending character ("invalid
// character 'S'") or number, and a snapshot file that is not what it seems
// may hold a secret.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("field %q is not a %s (at byte %d)", typ.Field, describeType(typ.Type.Kind()), typ.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("not a JSON object (at byte %d)", typ.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(err.Error(), "unexpected end of JSON input"):
		return "not valid JSON (it ends too early)"
	default:
		// time.Time and json.RawMessage decoders; their messages may quote
		// the value too.
		return "a field has a value of the wrong form"
	}
}

func describeType(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Struct, reflect.Map:
		return "JSON object"
	case reflect.Bool:
		return "boolean"
	default:
		return k.String()
	}
}

// key identifies a request independently of query parameter order and
// percent-encoding choices, which differ between the SDKs and nextLinks.
func key(method string, u *url.URL) string {
	q := u.Query()
	canonical := url.URL{Scheme: "https", Host: strings.ToLower(u.Hostname()), Path: u.Path, RawQuery: q.Encode()}
	return method + " " + canonical.String()
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName is readable (host and path) and unique (hash of the key).
func fileName(k string) string {
	sum := sha256.Sum256([]byte(k))
	_, rest, _ := strings.Cut(k, "://")
	rest, _, _ = strings.Cut(rest, "?")
	name := strings.Trim(unsafeChars.ReplaceAllString(rest, "_"), "_")
	if len(name) > 100 {
		name = name[:100]
	}
	return name + "-" + hex.EncodeToString(sum[:])[:10] + ".json"
}

// vaultSuffixes are the Key Vault host suffixes of the public, US
// Government and China clouds: a value read is refused on all of them.
var vaultSuffixes = []string{".vault.azure.net", ".vault.usgovcloudapi.net", ".vault.azure.cn"}

func isVaultHost(host string) bool { return vaultSuffixOf(host) != "" }

func vaultSuffixOf(host string) string {
	for _, s := range vaultSuffixes {
		if strings.HasSuffix(host, s) {
			return s
		}
	}
	return ""
}

// isSecretValueRequest says whether a Key Vault request would return a
// secret's value: GET /secrets/{name} or /secrets/{name}/{version}, as
// opposed to the list endpoints /secrets and /secrets/{name}/versions.
func isSecretValueRequest(u *url.URL) bool {
	if !isVaultHost(strings.ToLower(u.Hostname())) {
		return false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "secrets" {
		return false
	}
	return !(len(parts) == 3 && parts[2] == "versions")
}

// Recorder is an http.RoundTripper that passes requests on and keeps the
// final answer to each GET.
type Recorder struct {
	Next http.RoundTripper

	mu        sync.Mutex
	exchanges map[string]Exchange
	refused   []string
}

// NewRecorder wraps next (nil: http.DefaultTransport).
func NewRecorder(next http.RoundTripper) *Recorder {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Recorder{Next: next, exchanges: map[string]Exchange{}}
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	return r.roundTrip(req, r.Next)
}

// Through returns a transport that records into r like r itself but sends
// requests on through next: metadata fetches go out through a guarded
// transport (package netguard) while Graph and Key Vault use r.Next, and
// all of them land in one snapshot.
func (r *Recorder) Through(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) { return r.roundTrip(req, next) })
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (r *Recorder) roundTrip(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	if req.Method == http.MethodGet && isSecretValueRequest(req.URL) {
		// Refuse before the request is sent, so the value never reaches us.
		r.mu.Lock()
		r.refused = append(r.refused, req.URL.Path)
		r.mu.Unlock()
		return nil, fmt.Errorf("snapshot: refusing to read a secret value (%s): a snapshot records properties only", req.URL.Path)
	}
	if isBatch(req) {
		return r.recordBatch(req, next)
	}
	resp, err := next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet {
		return resp, err
	}
	// 401 is Key Vault's authentication challenge and 429/5xx are retried by
	// the SDKs: only the answer the SDK finally uses is worth keeping.
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, r.keep(req.Method, req.URL, resp.StatusCode, resp.Header.Get("Content-Type"), body)
}

// keep records one answer to a GET.
func (r *Recorder) keep(method string, u *url.URL, status int, contentType string, body []byte) error {
	ex := Exchange{Method: method, URL: u.String(), Status: status, ContentType: contentType}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case strings.Contains(ex.ContentType, "json"):
		masked, err := maskWriteOnly(body)
		if err != nil {
			return fmt.Errorf("snapshot: %s answered with a JSON content type but a body that is not JSON: %w", u.Path, err)
		}
		ex.Body = masked
	default:
		// Graph and Key Vault always answer JSON; anything else is a
		// partner's metadata document, kept as text.
		ex.BodyText = string(body)
	}
	r.mu.Lock()
	r.exchanges[key(method, u)] = ex
	r.mu.Unlock()
	return nil
}

// A Graph $batch envelope (concepts/json-batching.md) is recorded as the
// GETs inside it, each as if it had been sent alone, and a replay answers an
// envelope from those: a snapshot holds the same files whether or not the
// scan that made it batched its reads, and a replay does not depend on how
// a later scan groups them.

type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

func isBatch(req *http.Request) bool {
	return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/$batch") && !isVaultHost(strings.ToLower(req.URL.Hostname()))
}

// batchRequests reads an envelope's requests (the SDK may have gzipped it)
// and gives back a body that sends the same bytes again.
func batchRequests(req *http.Request) ([]batchRequest, []byte, error) {
	raw, err := io.ReadAll(io.LimitReader(req.Body, MaxResponseBytes))
	req.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	plain := raw
	if strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("snapshot: the $batch request body does not decode: %w", err)
		}
		if plain, err = io.ReadAll(io.LimitReader(zr, MaxResponseBytes)); err != nil {
			return nil, nil, err
		}
	}
	var env struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(plain, &env); err != nil {
		return nil, nil, fmt.Errorf("snapshot: the $batch request body is not a batch: %w", err)
	}
	return env.Requests, raw, nil
}

// innerURL is a batched request's URL: relative to the envelope's version root.
func innerURL(envelope *url.URL, rel string) (*url.URL, error) {
	root := *envelope
	root.Path = strings.TrimSuffix(envelope.Path, "/$batch")
	root.RawPath, root.RawQuery = "", ""
	return url.Parse(root.String() + "/" + strings.TrimPrefix(rel, "/"))
}

func (r *Recorder) recordBatch(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	reqs, raw, err := batchRequests(req)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	req.ContentLength = int64(len(raw))
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var env struct {
		Responses []batchResponse `json:"responses"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		// Not an envelope: the reader says so; nothing to keep.
		return resp, nil
	}
	byID := map[string]batchRequest{}
	for _, br := range reqs {
		byID[strings.ToLower(br.ID)] = br
	}
	for _, item := range env.Responses {
		br, ok := byID[strings.ToLower(item.ID)]
		if !ok || br.Method != http.MethodGet || item.Status == http.StatusUnauthorized || item.Status == http.StatusTooManyRequests || item.Status >= 500 {
			continue // retried, or not a read
		}
		u, err := innerURL(req.URL, br.URL)
		if err != nil {
			continue
		}
		// Written as the SDK writes a request on its own ("$skiptoken",
		// not "%24skiptoken"), so a snapshot's files do not depend on
		// batching; replays match either form.
		u.RawQuery = strings.ReplaceAll(u.RawQuery, "%24", "$")
		ct := ""
		for k, v := range item.Headers {
			if strings.EqualFold(k, "Content-Type") {
				ct = v
			}
		}
		if err := r.keep(http.MethodGet, u, item.Status, ct, item.Body); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// replayBatch answers an envelope request by request from the snapshot.
func (r *Replay) replayBatch(req *http.Request) (*http.Response, error) {
	reqs, _, err := batchRequests(req)
	if err != nil {
		return nil, err
	}
	out := make([]batchResponse, 0, len(reqs))
	for _, br := range reqs {
		item := batchResponse{ID: br.ID, Headers: map[string]string{"Content-Type": "application/json"}}
		u, err := innerURL(req.URL, br.URL)
		switch {
		case err != nil:
			item.Status = http.StatusBadRequest
			item.Body, _ = json.Marshal(map[string]any{"error": map[string]any{"code": "BadRequest", "message": "the url cannot be parsed"}})
		case br.Method != http.MethodGet:
			return nil, errors.New("snapshot: a replay cannot change the tenant: " + br.Method + " " + u.Path)
		default:
			ex, ok := r.exchanges[key(http.MethodGet, u)]
			if !ok {
				item.Status = http.StatusNotFound
				item.Body, _ = json.Marshal(map[string]any{"error": map[string]any{"code": ErrNotRecorded, "message": "the snapshot has no response for GET " + u.Path}})
				break
			}
			item.Status = ex.Status
			if ex.ContentType != "" {
				item.Headers["Content-Type"] = ex.ContentType
			}
			item.Body = ex.Body
		}
		out = append(out, item)
	}
	body, _ := json.Marshal(map[string]any{"responses": out})
	return respond(req, http.StatusOK, "application/json", body, nil), nil
}

var writeOnlyFields = map[string]bool{"clientSecret": true, "password": true, "pkcs12Value": true}

// maskWriteOnly replaces write-only credential fields with "******" (what
// Graph itself returns for them) wherever they appear, and re-indents the
// body so a snapshot reads well in review.
func maskWriteOnly(body []byte) (json.RawMessage, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, child := range t {
				if writeOnlyFields[k] {
					if s, ok := child.(string); ok && s != "" {
						t[k] = "******"
					}
					continue
				}
				walk(child)
			}
		case []any:
			for _, child := range t {
				walk(child)
			}
		}
	}
	walk(v)
	return json.MarshalIndent(v, "", "  ")
}

// Save writes the manifest and every recorded exchange into dir, replacing
// an earlier snapshot there.
func (r *Recorder) Save(dir string, m Manifest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refused) > 0 {
		return fmt.Errorf("snapshot: %d secret value reads were refused during capture; nothing saved", len(r.refused))
	}
	respDir := filepath.Join(dir, "responses")
	if err := os.RemoveAll(respDir); err != nil {
		return err
	}
	if err := os.MkdirAll(respDir, 0o755); err != nil {
		return err
	}
	keys := make([]string, 0, len(r.exchanges))
	for k := range r.exchanges {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		data, err := json.MarshalIndent(r.exchanges[k], "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(respDir, fileName(k)), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	m.FormatVersion = FormatVersion
	m.Responses = len(keys)
	m.CapturedAt = m.CapturedAt.UTC()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "snapshot.json"), append(data, '\n'), 0o644)
}

// Replay is an http.RoundTripper that answers from a snapshot folder.
type Replay struct {
	exchanges map[string]Exchange
}

// Open loads a snapshot's responses for replay. Every file must be a
// regular file (no symbolic links, devices or FIFOs) within the size
// limits; an error names the file and the reason, never the file's content.
func Open(dir string) (*Replay, Manifest, error) {
	return OpenContext(context.Background(), dir)
}

// OpenContext is Open that stops between files when ctx is done.
func OpenContext(ctx context.Context, dir string) (*Replay, Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, Manifest{}, err
	}
	if st, err := os.Lstat(filepath.Join(dir, "responses")); err == nil && !st.IsDir() {
		msg := notRegular(st.Mode())
		if st.Mode()&fs.ModeSymlink == 0 {
			msg = "is not a folder"
		}
		return nil, Manifest{}, fmt.Errorf("snapshot %s: responses %s: a snapshot holds a folder of regular files", dir, msg)
	}
	files, err := filepath.Glob(filepath.Join(dir, "responses", "*.json"))
	if err != nil {
		return nil, Manifest{}, err
	}
	r := &Replay{exchanges: make(map[string]Exchange, len(files))}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, Manifest{}, fmt.Errorf("snapshot %s: not read: %w", dir, context.Cause(ctx))
		}
		rel := filepath.Join("responses", filepath.Base(f))
		data, err := readRegular(dir, rel, MaxResponseBytes)
		if err != nil {
			return nil, Manifest{}, err
		}
		ex, err := parseExchange(data)
		if err != nil {
			return nil, Manifest{}, fmt.Errorf("snapshot %s: %s: %w", dir, filepath.Join(dir, rel), err)
		}
		u, _ := url.Parse(ex.URL)
		r.exchanges[key(ex.Method, u)] = ex
	}
	if len(r.exchanges) == 0 {
		return nil, Manifest{}, fmt.Errorf("snapshot %s: no responses recorded", dir)
	}
	return r, m, nil
}

// parseExchange decodes one response file. Its errors say what is wrong and
// where, never what the file holds.
func parseExchange(data []byte) (Exchange, error) {
	var ex Exchange
	if err := json.Unmarshal(data, &ex); err != nil {
		return Exchange{}, errors.New(jsonProblem(err))
	}
	u, err := url.Parse(ex.URL)
	if err != nil || u.Host == "" || ex.Method == "" || ex.Status == 0 {
		return Exchange{}, errors.New("needs method, a valid url and a status")
	}
	if ex.Status < 100 || ex.Status > 599 {
		return Exchange{}, errors.New("status is not an HTTP status (100-599)")
	}
	return ex, nil
}

// ErrNotRecorded is the code a replay answers with when a request was not
// part of the snapshot.
const ErrNotRecorded = "SnapshotNotRecorded"

// RoundTrip implements http.RoundTripper.
func (r *Replay) RoundTrip(req *http.Request) (*http.Response, error) {
	if isBatch(req) {
		return r.replayBatch(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	if req.Method != http.MethodGet {
		return nil, errors.New("snapshot: a replay cannot change the tenant: " + req.Method + " " + req.URL.Path)
	}
	host := strings.ToLower(req.URL.Hostname())
	if isVaultHost(host) && req.Header.Get("Authorization") == "" {
		// Key Vault clients first elicit the authentication challenge,
		// whose resource must be the vault's own cloud.
		suffix := vaultSuffixOf(host)
		return respond(req, http.StatusUnauthorized, "application/json",
			[]byte(`{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}`),
			http.Header{"Www-Authenticate": {`Bearer authorization="https://login.microsoftonline.com/common", resource="https://` + strings.TrimPrefix(suffix, ".") + `"`}}), nil
	}
	ex, ok := r.exchanges[key(req.Method, req.URL)]
	if !ok {
		body, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code":    ErrNotRecorded,
			"message": "the snapshot has no response for GET " + req.URL.Path,
		}})
		return respond(req, http.StatusNotFound, "application/json", body, nil), nil
	}
	ct := ex.ContentType
	if ct == "" {
		ct = "application/json"
	}
	body := []byte(ex.Body)
	if ex.BodyText != "" {
		body = []byte(ex.BodyText)
	}
	return respond(req, ex.Status, ct, body, nil), nil
}

func respond(req *http.Request, status int, contentType string, body []byte, header http.Header) *http.Response {
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	h.Set("Content-Type", contentType)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// StateDir is the folder of a snapshot that holds state documents recorded
// with it: the endpoint watch's histories (watch/endpoints/<key>.json), so
// that an offline scan reports availability and an offline `watch --once`
// replays the results recorded at capture time.
const StateDir = "watch"

// MaxStateBytes bounds one state document a replay reads.
const MaxStateBytes = 8 << 20

// State is the read-only statestore.Store over a snapshot's recorded
// state: documents under watch/, read with the same care as responses
// (regular files only, size-limited, errors that never quote content).
// Writes are refused: a snapshot is a record, not a store.
type State struct {
	Dir string
}

// HasState says whether the snapshot in dir carries recorded state.
func HasState(dir string) bool {
	st, err := os.Lstat(filepath.Join(dir, StateDir))
	return err == nil && st.IsDir()
}

// Describe implements statestore.Store.
func (s State) Describe() string { return "snapshot:" + s.Dir }

// Get implements statestore.Store.
func (s State) Get(_ context.Context, name string) ([]byte, string, error) {
	clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
	if !strings.HasPrefix(clean, StateDir+"/") || strings.Contains(clean, "..") {
		return nil, "", fmt.Errorf("snapshot %s: %q is not recorded state", s.Dir, name)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir, filepath.FromSlash(clean))); errors.Is(err, fs.ErrNotExist) {
		return nil, "", statestore.ErrNotFound
	}
	data, err := readRegular(s.Dir, filepath.FromSlash(clean), MaxStateBytes)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return data, `"` + hex.EncodeToString(sum[:12]) + `"`, nil
}

// Put implements statestore.Store: it always fails.
func (s State) Put(context.Context, string, []byte, statestore.Condition) (string, error) {
	return "", fmt.Errorf("snapshot %s: recorded state is read only", s.Dir)
}

// SaveState writes state documents (name → content) into dir/watch/…,
// replacing the snapshot's earlier recorded state.
func SaveState(dir string, docs map[string][]byte) error {
	if err := os.RemoveAll(filepath.Join(dir, StateDir)); err != nil {
		return err
	}
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(n)))
		if !strings.HasPrefix(clean, StateDir+"/") || strings.Contains(clean, "..") {
			return fmt.Errorf("snapshot: %q is not state a snapshot records", n)
		}
		p := filepath.Join(dir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, docs[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}
