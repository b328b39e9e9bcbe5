package repair

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProviderTestersClassifyAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		facebook bool
		accepted bool
		code     string
		inconcl  bool
	}{
		{"google authenticated", 400, `{"error":"invalid_grant"}`, false, true, "invalid_grant", false},
		{"google wrong secret", 401, `{"error":"invalid_client","error_description":"x"}`, false, false, "invalid_client", false},
		{"google unauthorized", 400, `{"error":"unauthorized_client"}`, false, false, "unauthorized_client", false},
		{"google outage", 503, `upstream`, false, false, "", true},
		{"google odd error", 400, `{"error":"invalid_request"}`, false, false, "", true},
		{"facebook token", 200, `{"access_token":"a|b"}`, true, true, "access_token", false},
		{"facebook wrong secret", 400, `{"error":{"type":"OAuthException","code":1}}`, true, false, "OAuthException/1", false},
		{"facebook throttled", 400, `{"error":{"type":"OAuthException","code":4}}`, true, false, "", true},
		{"facebook outage", 500, `{}`, true, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
					t.Errorf("%s %s", r.Method, r.Header.Get("Content-Type"))
				}
				if strings.Contains(r.URL.RawQuery, "secret") {
					t.Error("the secret travelled in the URL")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			var tester ProviderTester = GoogleTester{TokenURL: srv.URL}
			if tc.facebook {
				tester = FacebookTester{TokenURL: srv.URL}
			}
			v, err := tester.Test(context.Background(), "client", canaryGoogle)
			if tc.inconcl {
				if !errors.Is(err, ErrInconclusive) {
					t.Fatalf("want inconclusive, got %+v %v", v, err)
				}
				if strings.Contains(err.Error(), canaryGoogle) {
					t.Fatal("the error carries the secret")
				}
				return
			}
			if err != nil || v.Accepted != tc.accepted || v.Code != tc.code {
				t.Fatalf("%+v %v", v, err)
			}
		})
	}
	// An unreachable endpoint: an error without the secret.
	_, err := GoogleTester{TokenURL: "http://127.0.0.1:1/token"}.Test(context.Background(), "client", canaryGoogle)
	if err == nil || strings.Contains(err.Error(), canaryGoogle) {
		t.Fatalf("%v", err)
	}
}
