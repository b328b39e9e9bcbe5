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
// Secret values are never recorded: the recorder refuses Key Vault responses
// that carry a value (GET /secrets/{name}[/{version}]) and masks write-only
// Graph fields (clientSecret, password, pkcs12Value) should they ever appear.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
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

// ReadManifest reads DIR/snapshot.json and checks its format version.
func ReadManifest(dir string) (Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		return Manifest{}, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("snapshot %s: snapshot.json: %w", dir, err)
	}
	if m.FormatVersion != FormatVersion {
		return Manifest{}, fmt.Errorf("snapshot %s: snapshot.json: formatVersion %d is not supported (want %d)", dir, m.FormatVersion, FormatVersion)
	}
	if m.CapturedAt.IsZero() {
		return Manifest{}, fmt.Errorf("snapshot %s: snapshot.json: capturedAt is missing", dir)
	}
	return m, nil
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
	if req.Method == http.MethodGet && isSecretValueRequest(req.URL) {
		// Refuse before the request is sent, so the value never reaches us.
		r.mu.Lock()
		r.refused = append(r.refused, req.URL.Path)
		r.mu.Unlock()
		return nil, fmt.Errorf("snapshot: refusing to read a secret value (%s): a snapshot records properties only", req.URL.Path)
	}
	resp, err := r.Next.RoundTrip(req)
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
	ex := Exchange{Method: req.Method, URL: req.URL.String(), Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case strings.Contains(ex.ContentType, "json"):
		masked, err := maskWriteOnly(body)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %s answered with a JSON content type but a body that is not JSON: %w", req.URL.Path, err)
		}
		ex.Body = masked
	default:
		// Graph and Key Vault always answer JSON; anything else is a
		// partner's metadata document, kept as text.
		ex.BodyText = string(body)
	}
	r.mu.Lock()
	r.exchanges[key(req.Method, req.URL)] = ex
	r.mu.Unlock()
	return resp, nil
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

// Open loads a snapshot's responses for replay.
func Open(dir string) (*Replay, Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, Manifest{}, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "responses", "*.json"))
	if err != nil {
		return nil, Manifest{}, err
	}
	r := &Replay{exchanges: make(map[string]Exchange, len(files))}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, Manifest{}, err
		}
		var ex Exchange
		if err := json.Unmarshal(data, &ex); err != nil {
			return nil, Manifest{}, fmt.Errorf("snapshot %s: %s: %w", dir, filepath.Base(f), err)
		}
		u, err := url.Parse(ex.URL)
		if err != nil || ex.Method == "" || ex.Status == 0 {
			return nil, Manifest{}, fmt.Errorf("snapshot %s: %s: needs method, a valid url and a status", dir, filepath.Base(f))
		}
		r.exchanges[key(ex.Method, u)] = ex
	}
	if len(r.exchanges) == 0 {
		return nil, Manifest{}, fmt.Errorf("snapshot %s: no responses recorded", dir)
	}
	return r, m, nil
}

// ErrNotRecorded is the code a replay answers with when a request was not
// part of the snapshot.
const ErrNotRecorded = "SnapshotNotRecorded"

// RoundTrip implements http.RoundTripper.
func (r *Replay) RoundTrip(req *http.Request) (*http.Response, error) {
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
