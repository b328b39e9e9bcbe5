package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/idpkeeper/idpkeeper/shared/access"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// Channel delivers a composed notice. Errors never contain a URL (webhook
// URLs carry tokens) or anything from the message body.
type Channel interface {
	// Name is the channel's key in the ledger ("mail", "webhook", "outbox").
	Name() string
	// Send delivers m and returns the channel's identifier for it.
	Send(ctx context.Context, m Message) (messageID string, err error)
}

// NoticeHeader is the internet message header (and outbox header) that
// names the notice, so an operator can find a notice in Sent Items, message
// trace or a recipient's mailbox from the ledger's message ID.
const NoticeHeader = "X-IdPKeeper-Notice"

// IdempotencyHeader carries a webhook notice's idempotency key, the name the
// IETF HTTPAPI working group's draft "The Idempotency-Key HTTP Header Field"
// (draft-ietf-httpapi-idempotency-key-header) gives it.
const IdempotencyHeader = "Idempotency-Key"

// noticeID is the deterministic identifier of a notice: the same finding and
// stage always give the same ID.
func noticeID(m Message) string { return m.FindingID + "/" + m.Stage }

// IdempotencyKey is the key every send of one notice carries, the first and
// any repeat after a lapsed claim (ledger.ClaimNotice): the finding and the
// stage, so a receiver that remembers keys drops the repeat.
func IdempotencyKey(m Message) string { return "idpkeeper:" + noticeID(m) }

// internetMessageID is the stable Message-ID of a mailed notice (RFC 5322
// msg-id: "<" dot-atom "@" domain ">"), on the sending mailbox's domain. A
// repeat of the notice gets the same one. Graph's sendMail takes the
// message's Internet headers as they are in the MIME form
// (microsoft-graph-docs-contrib api-reference/v1.0/api/user-sendmail.md,
// "When using MIME format: Provide the applicable Internet message
// headers"), and internetMessageId is a property the sender may set on a
// message before it is sent (message-update.md: "Updatable only if isDraft
// = true").
func internetMessageID(m Message, from string) string {
	domain := "idpkeeper.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && msgIDDomain.MatchString(d) {
		domain = strings.ToLower(d)
	}
	left := msgIDUnsafe.ReplaceAllString(m.FindingID+"."+m.Stage, "-")
	return "<idpkeeper." + left + "@" + domain + ">"
}

var (
	msgIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]`)
	msgIDDomain = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
)

// ---- Graph sendMail

// GraphMail sends notices with POST /users/{From}/sendMail (application
// permission Mail.Send, limited to the From mailbox with Exchange RBAC for
// Applications).
//
// The JSON form of sendMail carries one body, so notices go as MIME
// (sendMail's base64 text/plain form): multipart/alternative with the plain
// text and the HTML part, the notice header, and Importance: High for the
// last day and overdue stages.
type GraphMail struct {
	Client *tenant.Graph
	// From is the sending mailbox: UPN/address or user object ID.
	From string
}

// Name implements Channel.
func (GraphMail) Name() string { return "mail" }

// Send implements Channel. The message ID returned is the value of the
// X-IdPKeeper-Notice header set on the message ("mail:<finding>/<stage>"):
// sendMail answers 202 with no body, so Graph gives no ID of its own.
func (g GraphMail) Send(ctx context.Context, m Message) (string, error) {
	if g.Client == nil || g.From == "" {
		return "", permanent(errors.New("mail: no Graph client or sending mailbox configured"), "set notifications.mail.from or IDPKEEPER_NOTICE_MAILBOX")
	}
	if len(m.To) == 0 {
		return "", permanent(errors.New("mail: no recipient"), "configure an owner for the dependency, or fallbackAdmin")
	}
	id := "mail:" + noticeID(m)
	raw, err := mimeMessage(m, id, internetMessageID(m, g.From))
	if err != nil {
		return "", fmt.Errorf("mail: %w", err)
	}
	// sendMail takes a MIME message as a base64 text/plain body; Graph then
	// saves it to Sent Items, the operator's record of what went out.
	adapter := g.Client.GetAdapter()
	target, err := url.Parse(strings.TrimRight(adapter.GetBaseUrl(), "/") + "/users/" + url.PathEscape(g.From) + "/sendMail")
	if err != nil {
		return "", fmt.Errorf("mail: %w", err)
	}
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.POST
	info.SetUri(*target)
	info.Headers.TryAdd("Content-Type", "text/plain")
	info.Content = []byte(base64.StdEncoding.EncodeToString(raw))
	if err := adapter.SendNoContent(ctx, info, abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}); err != nil {
		return "", g.sendError(err)
	}
	return id, nil
}

// sendError says whether a failed sendMail is worth a retry. Graph's
// answers (learn.microsoft.com/graph/api/user-sendmail, "Errors"; and
// learn.microsoft.com/graph/errors): 403 ErrorAccessDenied — the app has no
// Mail.Send for this mailbox (not granted, or an Exchange application access
// policy / RBAC scope excludes it); 404 ErrorInvalidUser /
// MailboxNotEnabledForRESTAPI — no such mailbox or no Exchange Online
// licence; 400 — Graph refused the message itself. None of them changes by
// retrying. 401, 429 and 5xx may.
func (g GraphMail) sendError(err error) error {
	text := fmt.Errorf("mail: sendMail as %s: %s", g.From, graphError(err))
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return text
	}
	switch oe.ResponseStatusCode {
	case http.StatusForbidden:
		return access.Classify(&graphSendError{text: text.Error(), err: err}, access.Need{
			Graph:        "Mail.Send, restricted to mailbox " + g.From + " (Exchange application access policy or RBAC for Applications; docs/deploy.md)",
			GraphFeature: access.MailNotices,
		})
	case http.StatusNotFound:
		return permanent(text, "the mailbox "+g.From+" does not exist or has no Exchange Online mailbox: set IDPKEEPER_NOTICE_MAILBOX (or notifications.mail.from) to a licensed or shared mailbox")
	case http.StatusBadRequest:
		return permanent(text, "Graph refused the message; check the recipients' addresses in the config (owners, fallbackAdmin)")
	}
	return text
}

// graphSendError keeps the readable text next to the SDK error, so that
// access.Classify can find the ODataError and the log still says what Graph
// answered.
type graphSendError struct {
	text string
	err  error
}

func (e *graphSendError) Error() string { return e.text }
func (e *graphSendError) Unwrap() error { return e.err }

// mimeMessage builds the notice as multipart/alternative: the plain text and
// the HTML part, so every mail client shows the whole ask.
func mimeMessage(m Message, id, messageID string) ([]byte, error) {
	var body bytes.Buffer
	parts := multipart.NewWriter(&body)
	for _, p := range []struct{ ct, content string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		w, err := parts.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ct}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := io.WriteString(qp, p.content); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := parts.Close(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&out, "%s: %s\r\n", k, v) }
	header("To", addressHeader(m.To))
	if len(m.Cc) > 0 {
		header("Cc", addressHeader(m.Cc))
	}
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", messageID)
	header(NoticeHeader, id)
	if strings.HasPrefix(m.Stage, overduePrefix) || m.Stage == "d1" {
		header("Importance", "High")
	}
	header("MIME-Version", "1.0")
	header("Content-Type", "multipart/alternative; boundary="+parts.Boundary())
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

func addressHeader(rs []Recipient) string {
	list := make([]string, 0, len(rs))
	for _, r := range rs {
		list = append(list, (&mail.Address{Name: r.Name, Address: r.Email}).String())
	}
	return strings.Join(list, ", ")
}

// graphError names Graph's error code and message (ODataError's own Error()
// says only "error status code received from the API").
func graphError(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		msg := fmt.Sprintf("HTTP %d", oe.ResponseStatusCode)
		if e := oe.GetErrorEscaped(); e != nil {
			if c := e.GetCode(); c != nil {
				msg += " " + *c
			}
			if t := e.GetMessage(); t != nil {
				msg += ": " + *t
			}
		}
		return msg
	}
	return scrub(err)
}

// ---- webhook

// Webhook posts notices as JSON: a Teams workflow gets an Adaptive Card
// message, anything else a generic document (GenericPayload). The URL is a
// capability (workflow URLs carry a signature), so it never appears in
// errors, logs or the ledger.
//
// The URL is configuration, and a redirect could send the notice anywhere:
// deliveries reach public addresses only (package netguard), after DNS
// resolution and on every redirect, unless Network allows more.
type Webhook struct {
	URL string
	// Client defaults to a netguard client with a 30 s timeout. A Client
	// given here is trusted to dial where it should (tests); the redirect
	// rules and the literal-address check apply to it all the same.
	Client *http.Client
	// Network is the config's notifications.webhook.allowNetworks.
	Network netguard.Policy
}

// Name implements Channel.
func (Webhook) Name() string { return "webhook" }

// GenericPayload is the JSON a generic webhook receives.
type GenericPayload struct {
	FindingID  string      `json:"findingId"`
	Kind       string      `json:"kind"`
	Stage      string      `json:"stage"`
	Severity   string      `json:"severity"`
	Dependency string      `json:"dependency"`
	Subject    string      `json:"subject"`
	Text       string      `json:"text"`
	Deadline   *time.Time  `json:"deadline"`
	To         []Recipient `json:"to"`
	AckURL     string      `json:"ackUrl,omitempty"`
	// IdempotencyKey is the same on every send of this notice (also the
	// Idempotency-Key header): a repeat after a lapsed claim carries the
	// key of the first send.
	IdempotencyKey string `json:"idempotencyKey"`
}

// IsTeamsWorkflow reports whether u is a Teams incoming-webhook or
// Workflows (Power Automate / Logic Apps) URL, which want an Adaptive Card
// message rather than arbitrary JSON.
func IsTeamsWorkflow(u *url.URL) bool {
	h := strings.ToLower(u.Hostname())
	for _, suffix := range []string{"logic.azure.com", "webhook.office.com", "environment.api.powerplatform.com"} {
		if h == suffix || strings.HasSuffix(h, "."+suffix) {
			return true
		}
	}
	return false
}

// Send implements Channel.
func (w Webhook) Send(ctx context.Context, m Message) (string, error) {
	u, err := url.Parse(w.URL)
	if err != nil || u.Host == "" {
		return "", permanent(errors.New("webhook: the configured URL does not parse"), "fix notifications.webhook.url")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return "", permanent(errors.New("webhook: the configured URL must be https"), "fix notifications.webhook.url")
	}
	if err := w.Network.CheckURL(u); err != nil {
		return "", fmt.Errorf("webhook: POST to %s not sent: %w", u.Hostname(), err)
	}
	var payload any
	if IsTeamsWorkflow(u) {
		payload = teamsMessage(m)
	} else {
		payload = GenericPayload{
			FindingID: m.FindingID, Kind: m.Kind, Stage: m.Stage, Severity: m.Severity,
			Dependency: m.Dependency, Subject: m.Subject, Text: m.Text, Deadline: m.Deadline,
			To: m.To, AckURL: m.AckURL, IdempotencyKey: IdempotencyKey(m),
		}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return "", errors.New("webhook: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(NoticeHeader, noticeID(m))
	req.Header.Set(IdempotencyHeader, IdempotencyKey(m))
	var client *http.Client
	if w.Client == nil {
		client = netguard.NewClient(netguard.Options{Policy: w.Network, Timeout: 30 * time.Second})
		defer client.CloseIdleConnections()
	} else {
		client = netguard.Guard(w.Client, w.Network, 0)
	}
	resp, err := client.Do(req)
	if be, ok := netguard.Blocked(err); ok {
		// The guard's error names an address, never the URL.
		return "", fmt.Errorf("webhook: POST to %s failed: %w", u.Hostname(), be)
	}
	if err != nil {
		return "", fmt.Errorf("webhook: POST to %s failed: %s", u.Hostname(), scrub(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The response body is not quoted: some endpoints echo the request URL.
		err := fmt.Errorf("webhook: POST to %s: HTTP %d", u.Hostname(), resp.StatusCode)
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusGone:
			// A deleted workflow or channel connector answers 404.
			return "", permanent(err, "the webhook no longer exists; update notifications.webhook.url")
		case http.StatusUnauthorized, http.StatusForbidden:
			return "", permanent(err, "the webhook refused the call (its URL's signature is wrong, expired or regenerated); update notifications.webhook.url")
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
			return "", permanent(err, "the webhook does not accept this notice; check that notifications.webhook.url is a Teams workflow or an endpoint taking IdP Keeper's JSON (docs/config.md)")
		}
		return "", err // 408, 429, 5xx: worth a retry
	}
	// A Logic Apps / Workflows run ID identifies the delivery on that side.
	if run := resp.Header.Get("x-ms-workflow-run-id"); run != "" {
		return "webhook:" + noticeID(m) + "@run:" + run, nil
	}
	return "webhook:" + noticeID(m), nil
}

// teamsMessage wraps the notice in the message envelope Teams webhooks and
// the "post to a channel when a webhook request is received" workflow take.
func teamsMessage(m Message) map[string]any {
	facts := []map[string]string{
		{"title": "Dependency", "value": m.Dependency},
		{"title": "Severity", "value": m.Severity},
		{"title": "Finding", "value": m.FindingID},
		{"title": "Notice", "value": m.Stage},
	}
	if m.Deadline != nil {
		facts = append([]map[string]string{{"title": "Deadline", "value": m.Deadline.Format("2006-01-02 15:04 UTC")}}, facts...)
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body": []any{
			map[string]any{"type": "TextBlock", "text": m.Subject, "weight": "Bolder", "size": "Medium", "wrap": true},
			map[string]any{"type": "FactSet", "facts": facts},
			map[string]any{"type": "TextBlock", "text": m.Text, "wrap": true},
		},
	}
	if m.AckURL != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Acknowledge", "url": m.AckURL}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// scrub returns an error's text without the URL that *url.Error puts in
// front of it.
func scrub(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if errors.Is(ue.Err, context.DeadlineExceeded) || ue.Timeout() {
			return "timed out"
		}
		return scrubURLs(ue.Err.Error())
	}
	return scrubURLs(err.Error())
}

var urlPattern = regexp.MustCompile(`(?i)\bhttps?://\S+`)

// scrubURLs removes any URL left in an error text (wrapped errors may quote
// one again).
func scrubURLs(s string) string { return urlPattern.ReplaceAllString(s, "<url>") }

// ---- outbox

// Outbox writes each notice as two files in Dir, "<finding>-<stage>.eml"
// (headers and the text part) and "<finding>-<stage>.html", and prints one
// line to Stdout. The names depend only on finding and stage, so a repeat
// overwrites rather than adds a file.
type Outbox struct {
	Dir    string
	Stdout io.Writer
}

// Name implements Channel.
func (Outbox) Name() string { return "outbox" }

var safeFileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Send implements Channel.
func (o Outbox) Send(_ context.Context, m Message) (string, error) {
	base := m.FindingID + "-" + m.Stage
	if !safeFileName.MatchString(base) {
		return "", permanent(fmt.Errorf("outbox: finding %q and stage %q do not make a file name", m.FindingID, m.Stage), "")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", o.folderError(err)
	}
	var eml strings.Builder
	fmt.Fprintf(&eml, "To: %s\n", addressList(m.To))
	if len(m.Cc) > 0 {
		fmt.Fprintf(&eml, "Cc: %s\n", addressList(m.Cc))
	}
	fmt.Fprintf(&eml, "Subject: %s\n%s: %s\nContent-Type: text/plain; charset=utf-8\n\n%s", oneLine(m.Subject), NoticeHeader, noticeID(m), m.Text)
	emlPath := filepath.Join(o.Dir, base+".eml")
	if err := writeFileAtomic(emlPath, []byte(eml.String())); err != nil {
		return "", o.folderError(err)
	}
	if err := writeFileAtomic(filepath.Join(o.Dir, base+".html"), []byte(m.HTML)); err != nil {
		return "", o.folderError(err)
	}
	if o.Stdout != nil {
		fmt.Fprintf(o.Stdout, "notice %s %s to %s: %s (%s)\n", m.FindingID, m.Stage, orNobody(m.Recipients()), oneLine(m.Subject), emlPath)
	}
	return "outbox:" + base + ".eml", nil
}

// folderError: a folder the process may not write to stays so. In Azure the
// app root is the deployment package, mounted read-only.
func (o Outbox) folderError(err error) error {
	if readOnly(err) {
		return permanent(fmt.Errorf("outbox: folder %s is not writable: %w", o.Dir, err),
			"remove notifications.outbox from the config (in Azure the app's folder is read-only; the Functions app keeps every notice in the state store, outbox/<date>/) or point it at a writable folder")
	}
	return err
}

func addressList(rs []Recipient) string {
	var out []string
	for _, r := range rs {
		if r.Name != "" {
			out = append(out, fmt.Sprintf("%q <%s>", r.Name, r.Email))
		} else {
			out = append(out, r.Email)
		}
	}
	return orNobody(strings.Join(out, ", "))
}

func orNobody(s string) string {
	if s == "" {
		return "(nobody: configure an owner or fallbackAdmin)"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// writeFileAtomic writes through a temporary file and a rename, so a reader
// never sees half a notice.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".notice-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("outbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// ---- from the config

// Deps are what FromConfig needs to build channels.
type Deps struct {
	// Graph is required when notifications.mail is configured.
	Graph *tenant.Graph
	// HTTP is the webhook client (nil: a netguard client with a 30 s
	// timeout and the webhook's allowNetworks; see Webhook.Client).
	HTTP *http.Client
	// Stdout receives the outbox line.
	Stdout io.Writer
	// DefaultOutboxDir is used when the config names no channel at all and
	// there is no Store: the local default is an outbox folder and a line on
	// stdout.
	DefaultOutboxDir string
	// Store, when set, keeps every notice in the state store (channel
	// "store") in front of the configured channels. The Functions app sets
	// it always: with no channel configured notices are stored and logged.
	Store *Store
}

// FromConfig builds the channels cfg.Notifications names, after d.Store when
// set; with neither, an Outbox in DefaultOutboxDir. A relative outbox dir is
// taken relative to the config file.
func FromConfig(cfg *config.Config, d Deps) ([]Channel, error) {
	var out []Channel
	n := cfg.Notifications
	if d.Store != nil {
		st := *d.Store
		st.Only = n.Mail == nil && n.Webhook == nil && n.Outbox == nil
		out = append(out, st)
	}
	if n.Mail != nil {
		if d.Graph == nil {
			return nil, errors.New("notify: notifications.mail needs a Graph client")
		}
		if n.Mail.From == "" {
			return nil, errors.New("notify: notifications.mail.from is empty")
		}
		out = append(out, GraphMail{Client: d.Graph, From: n.Mail.From})
	}
	if n.Webhook != nil {
		if n.Webhook.URL == "" {
			return nil, errors.New("notify: notifications.webhook.url is empty")
		}
		out = append(out, Webhook{URL: n.Webhook.URL, Client: d.HTTP, Network: n.Webhook.Policy()})
	}
	if n.Outbox != nil {
		dir := n.Outbox.Dir
		if dir != "" && !filepath.IsAbs(dir) && cfg.Source != "" {
			dir = filepath.Join(filepath.Dir(cfg.Source), dir)
		}
		if dir == "" {
			dir = d.DefaultOutboxDir
		}
		out = append(out, Outbox{Dir: dir, Stdout: d.Stdout})
	}
	if len(out) == 0 {
		if d.DefaultOutboxDir == "" {
			return nil, errors.New("notify: no notification channel configured")
		}
		out = append(out, Outbox{Dir: d.DefaultOutboxDir, Stdout: d.Stdout})
	}
	return out, nil
}
