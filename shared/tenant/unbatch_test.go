package tenant_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
)

// unbatch answers a $batch envelope by sending each request in it on its
// own through rt, so that a test transport acting on one route sees that
// route's requests whether or not they travel in a batch.
type unbatch struct{ rt http.RoundTripper }

func (u unbatch) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/$batch") {
		return u.rt.RoundTrip(r)
	}
	var src io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		src = zr
	}
	raw, err := io.ReadAll(src)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	var env struct {
		Requests []struct{ ID, Method, URL string } `json:"requests"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(r.URL.String(), "/$batch")
	var out []map[string]any
	for _, br := range env.Requests {
		req, err := http.NewRequestWithContext(r.Context(), br.Method, base+br.URL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		resp, err := u.rt.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		item := map[string]any{"id": br.ID, "status": resp.StatusCode, "headers": map[string]string{"Content-Type": resp.Header.Get("Content-Type")}}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			item["headers"].(map[string]string)["Retry-After"] = ra
		}
		if len(bytes.TrimSpace(body)) > 0 {
			item["body"] = json.RawMessage(body)
		}
		out = append(out, item)
	}
	body, _ := json.Marshal(map[string]any{"responses": out})
	return azurefake.Respond(r, http.StatusOK, body), nil
}
