package repair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ProviderTester asks a social identity provider whether it accepts a client
// secret, without signing anyone in.
type ProviderTester interface {
	// Test returns the provider's verdict; an error means no verdict
	// (network, 5xx, an answer the tester does not understand) and the job
	// should be retried, not the secret rejected. Implementations never put
	// the secret into the error.
	Test(ctx context.Context, clientID, clientSecret string) (Verdict, error)
}

// Verdict is a provider's answer. Code is the provider's error code (or
// "access_token" for Facebook's success), never anything it echoed back.
type Verdict struct {
	Accepted bool
	Code     string
}

// ErrInconclusive wraps provider answers that are neither pass nor fail.
var ErrInconclusive = errors.New("provider test inconclusive")

// GoogleTester exchanges a made-up authorization code at Google's token
// endpoint. Google checks the client before the code: invalid_grant means
// the client ID and secret authenticated and only the code was bad;
// invalid_client / unauthorized_client means they did not.
type GoogleTester struct {
	// TokenURL defaults to https://oauth2.googleapis.com/token.
	TokenURL string
	// RedirectURI is sent with the code; Entra's is used by default.
	RedirectURI string
	Client      *http.Client
}

// GoogleTokenURL is Google's OAuth token endpoint.
const GoogleTokenURL = "https://oauth2.googleapis.com/token"

// FacebookTokenURL is Facebook's app access-token endpoint.
const FacebookTokenURL = "https://graph.facebook.com/oauth/access_token"

// probeCode is the authorization code the Google test sends; it can never
// be valid, so the test cannot sign anyone in.
const probeCode = "idpkeeper-probe-invalid-code"

// Test implements ProviderTester.
func (g GoogleTester) Test(ctx context.Context, clientID, clientSecret string) (Verdict, error) {
	tokenURL := cmpOr(g.TokenURL, GoogleTokenURL)
	redirect := cmpOr(g.RedirectURI, "https://login.microsoftonline.com/te/idpkeeper.onmicrosoft.com/oauth2/authresp")
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {probeCode},
		"redirect_uri":  {redirect},
		"client_id":     {clientID},
		"client_secret": {clientSecret},
	}
	status, body, err := postForm(ctx, g.Client, tokenURL, form)
	if err != nil {
		return Verdict{}, err
	}
	var ans struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &ans)
	switch {
	case ans.Error == "invalid_grant":
		return Verdict{Accepted: true, Code: ans.Error}, nil
	case ans.Error == "invalid_client" || ans.Error == "unauthorized_client" || ans.Error == "deleted_client" || ans.Error == "disabled_client":
		return Verdict{Accepted: false, Code: ans.Error}, nil
	case status == http.StatusOK && ans.AccessToken != "":
		// Cannot happen with a made-up code; if it does, the client
		// certainly authenticated.
		return Verdict{Accepted: true, Code: "access_token"}, nil
	default:
		return Verdict{}, fmt.Errorf("%w: Google answered HTTP %d with error %q", ErrInconclusive, status, safeCode(ans.Error))
	}
}

// FacebookTester asks Facebook for an app access token with the
// client-credentials grant: a token means the app ID and secret are right.
type FacebookTester struct {
	// TokenURL defaults to https://graph.facebook.com/oauth/access_token.
	TokenURL string
	Client   *http.Client
}

// Test implements ProviderTester. It POSTs the form: a GET would put the
// secret in a URL, and URLs end up in errors and proxy logs.
func (f FacebookTester) Test(ctx context.Context, clientID, clientSecret string) (Verdict, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {clientSecret},
	}
	status, body, err := postForm(ctx, f.Client, cmpOr(f.TokenURL, FacebookTokenURL), form)
	if err != nil {
		return Verdict{}, err
	}
	var ans struct {
		AccessToken string `json:"access_token"`
		Error       *struct {
			Type string `json:"type"`
			Code int    `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &ans)
	switch {
	case status == http.StatusOK && ans.AccessToken != "":
		return Verdict{Accepted: true, Code: "access_token"}, nil
	case ans.Error != nil && facebookTransient[ans.Error.Code]:
		// Throttling and outages say nothing about the secret.
		return Verdict{}, fmt.Errorf("%w: Facebook answered %s/%d (temporary)", ErrInconclusive, safeCode(ans.Error.Type), ans.Error.Code)
	case ans.Error != nil && status >= 400 && status < 500:
		// A wrong secret is OAuthException code 1 ("Error validating
		// client secret"), a wrong app ID code 101.
		return Verdict{Accepted: false, Code: fmt.Sprintf("%s/%d", safeCode(ans.Error.Type), ans.Error.Code)}, nil
	default:
		return Verdict{}, fmt.Errorf("%w: Facebook answered HTTP %d", ErrInconclusive, status)
	}
}

// facebookTransient are Graph API error codes for outages and rate limits.
var facebookTransient = map[int]bool{2: true, 4: true, 17: true, 32: true, 341: true, 613: true}

func postForm(ctx context.Context, client *http.Client, endpoint string, form url.Values) (int, []byte, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("provider test: bad endpoint %q", endpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the URL only (the secret is in the body), but
		// keep just the cause to be sure nothing else rides along.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, fmt.Errorf("provider test: POST %s: %v", hostOnly(endpoint), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("provider test: reading %s: %v", hostOnly(endpoint), err)
	}
	return resp.StatusCode, body, nil
}

// safeCode keeps an error code to a short token: codes are identifiers,
// and anything else might be an echo of the request.
func safeCode(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, s)
}

func hostOnly(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host + u.Path
	}
	return "(endpoint)"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
