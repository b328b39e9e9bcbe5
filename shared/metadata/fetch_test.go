package metadata

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFetchConditionalGET(t *testing.T) {
	body := idp{id: "urn:x", certs: []*testKey{key(t, "rsa-partner")}, sso: "https://x/sso"}.xml()
	var conditional atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` && r.Header.Get("If-Modified-Since") == "Mon, 23 Nov 2026 10:00:00 GMT" {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 23 Nov 2026 10:00:00 GMT")
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	f := &Fetcher{Client: srv.Client(), Now: func() time.Time { return testNow }}
	src := Source{URL: srv.URL + "/md.xml", AllowHTTP: true, Network: loopback}

	got, err := f.Fetch(context.Background(), src, Validators{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != body || got.ETag != `"v1"` || got.NotModified || !got.FetchedAt.Equal(testNow) {
		t.Fatalf("first fetch %+v", got)
	}
	again, err := f.Fetch(context.Background(), src, Validators{ETag: got.ETag, LastModified: got.LastModified})
	if err != nil {
		t.Fatal(err)
	}
	if !again.NotModified || len(again.Body) != 0 || again.ETag != `"v1"` || conditional.Load() != 1 {
		t.Fatalf("conditional fetch %+v", again)
	}
}

func TestFetchFailuresAreTyped(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusServiceUnavailable) })
	mux.HandleFunc("/declared-large", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2000")
		w.Write(make([]byte, 2000))
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length and no end: only a streaming limit stops it.
		chunk := []byte(strings.Repeat("<x/>", 256))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/redirect/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/redirect/"))
		if n == 0 {
			fmt.Fprint(w, "ok")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	// An https server that redirects to plain http.
	downgrade := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/redirect/0", http.StatusFound)
	}))
	defer downgrade.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	cases := []struct {
		name   string
		client *http.Client
		src    Source
		kind   ErrorKind
	}{
		{"http status", srv.Client(), Source{URL: srv.URL + "/status", AllowHTTP: true, Network: loopback}, KindHTTPStatus},
		{"declared too large", srv.Client(), Source{URL: srv.URL + "/declared-large", AllowHTTP: true, MaxBytes: 1000, Network: loopback}, KindTooLarge},
		{"endless body", srv.Client(), Source{URL: srv.URL + "/endless", AllowHTTP: true, MaxBytes: 100_000, Network: loopback}, KindTooLarge},
		{"timeout", srv.Client(), Source{URL: srv.URL + "/slow", AllowHTTP: true, Timeout: 100 * time.Millisecond, Network: loopback}, KindUnreachable},
		{"4 redirects", srv.Client(), Source{URL: srv.URL + "/redirect/4", AllowHTTP: true, Network: loopback}, KindRedirect},
		{"https to http redirect", downgrade.Client(), Source{URL: downgrade.URL + "/", AllowHTTP: true, Network: loopback}, KindRedirect},
		{"untrusted TLS certificate", &http.Client{}, Source{URL: tlsSrv.URL + "/redirect/0", Network: loopback}, KindTLS},
		{"connection refused", srv.Client(), Source{URL: closedURL + "/", AllowHTTP: true, Network: loopback}, KindUnreachable},
		{"http not allowed", srv.Client(), Source{URL: srv.URL + "/redirect/0", Network: loopback}, KindConfig},
		{"ftp", srv.Client(), Source{URL: "ftp://example.org/md.xml"}, KindConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Fetcher{Client: tc.client}).Fetch(context.Background(), tc.src, Validators{})
			wantKind(t, err, tc.kind)
		})
	}

	t.Run("3 redirects are fine", func(t *testing.T) {
		got, err := (&Fetcher{Client: srv.Client()}).Fetch(context.Background(), Source{URL: srv.URL + "/redirect/3", AllowHTTP: true, Network: loopback}, Validators{})
		if err != nil || string(got.Body) != "ok" || !strings.HasSuffix(got.URL, "/redirect/0") {
			t.Fatalf("%v %+v", err, got)
		}
	})
	t.Run("https with the server's CA", func(t *testing.T) {
		got, err := (&Fetcher{Client: tlsSrv.Client()}).Fetch(context.Background(), Source{URL: tlsSrv.URL + "/redirect/1", Network: loopback}, Validators{})
		if err != nil || string(got.Body) != "ok" {
			t.Fatalf("%v %+v", err, got)
		}
	})
	t.Run("body exactly at the limit", func(t *testing.T) {
		got, err := (&Fetcher{Client: srv.Client()}).Fetch(context.Background(), Source{URL: srv.URL + "/declared-large", AllowHTTP: true, MaxBytes: 2000, Network: loopback}, Validators{})
		if err != nil || len(got.Body) != 2000 {
			t.Fatalf("%v", err)
		}
	})
}

func TestMDQRequestURL(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.EscapedPath()
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	src := Source{MDQBase: srv.URL + "/mdq/", EntityID: "https://idp.example.org/idp shib?x=1", AllowHTTP: true, Network: loopback}
	if _, err := (&Fetcher{Client: srv.Client()}).Fetch(context.Background(), src, Validators{}); err != nil {
		t.Fatal(err)
	}
	if want := "/mdq/entities/https%3A%2F%2Fidp.example.org%2Fidp%20shib%3Fx%3D1"; path != want {
		t.Fatalf("path %q, want %q", path, want)
	}
	if _, err := (Source{MDQBase: "https://mdq.example/"}).RequestURL(); KindOf(err) != KindConfig {
		t.Fatalf("MDQ without entityID: %v", err)
	}
	if _, err := (Source{MDQBase: "https://mdq.example/", URL: "https://x/", EntityID: "e"}).RequestURL(); KindOf(err) != KindConfig {
		t.Fatalf("both URL and MDQ: %v", err)
	}
}

func TestCheckRedirect(t *testing.T) {
	cases := []struct {
		next  string
		hops  int
		start string
		ok    bool
	}{
		{"https://a/", 1, "https", true},
		{"https://a/", 3, "https", true},
		{"https://a/", 4, "https", false},
		{"http://a/", 1, "https", false},
		{"https://a/", 1, "http", false}, // no scheme change, even upwards
		{"http://a/", 2, "http", true},
		{"file:///etc/passwd", 1, "https", false},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.next)
		err := checkRedirect(u, c.hops, c.start)
		if (err == nil) != c.ok {
			t.Errorf("%s after %d hops from %s: %v", c.next, c.hops, c.start, err)
		}
	}
}
