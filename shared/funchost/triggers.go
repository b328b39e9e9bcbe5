package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Timer trigger

// TimerInfo is Data.<name> for a timerTrigger: a JSON object (PascalCase).
//
//	{"Schedule":{"AdjustForDST":true},
//	 "ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2024-11-30T14:45:51+00:00",
//	                   "LastUpdated":"2024-11-30T14:43:50.403838+00:00"},
//	 "IsPastDue":false}
//
// Sources: azure-webjobs-sdk-extensions Timers/TimerInfo.cs ([W1])
// (observed Go custom-handler payload, dazfuller blog 2024-11-30);
// azure-webjobs-sdk-extensions PR #825 (no-zone "0001-01-01T00:00:00" defaults).
type TimerInfo struct {
	Schedule TimerSchedule `json:"Schedule"`
	// ScheduleStatus is nil when schedule monitoring is off (useMonitor false,
	// or sub-minute schedules). Last is zero on the first run ("never").
	ScheduleStatus *ScheduleStatus `json:"ScheduleStatus"`
	IsPastDue      bool            `json:"IsPastDue"`
}

// TimerSchedule is TimerInfo.Schedule.
type TimerSchedule struct {
	AdjustForDST bool `json:"AdjustForDST"`
}

// ScheduleStatus is TimerInfo.ScheduleStatus; all fields parse leniently.
type ScheduleStatus struct {
	Last        Time `json:"Last"`
	Next        Time `json:"Next"`
	LastUpdated Time `json:"LastUpdated"`
}

// Timer decodes Data[name] as a TimerInfo.
func (inv *Invocation) Timer(name string) (TimerInfo, error) {
	var ti TimerInfo
	err := inv.DecodeData(name, &ti)
	return ti, err
}

// ---------------------------------------------------------------------------
// Event Grid trigger

// EventSchema names the envelope an Event Grid event arrived in.
type EventSchema string

// The two envelopes one eventGridTrigger accepts.
const (
	SchemaEventGrid   EventSchema = "EventGrid"
	SchemaCloudEvents EventSchema = "CloudEvents"
)

// EventGridEvent is one event in either the Event Grid schema or CloudEvents
// 1.0, normalised. Data.<name> is the event object itself (the trigger binds
// a JObject), and Metadata carries {"data": <event.data>, "sys": {…}}.
//
// Sources: azure-sdk-for-net Microsoft.Azure.WebJobs.Extensions.EventGrid
// EventGridExtensionConfigProvider.cs / EventGridTriggerAttributeBindingProvider.cs
// ([K1] in doc.go: observed shapes in KarlGW/azfunc trigger/event_grid_test.go);
// MicrosoftDocs azure-docs articles/event-grid/event-schema-key-vault.md.
type EventGridEvent struct {
	Schema  EventSchema
	ID      string
	Type    string // eventType (Event Grid) or type (CloudEvents)
	Subject string
	// Source is the CloudEvents source, or the Event Grid topic; Topic mirrors
	// it so callers can use either name.
	Source          string
	Topic           string
	Time            time.Time // eventTime or time; zero when absent
	Data            json.RawMessage
	DataVersion     string // Event Grid schema only
	MetadataVersion string // Event Grid schema only
	SpecVersion     string // CloudEvents only
	DataContentType string // CloudEvents only
}

// eventWire has every key of both envelopes. encoding/json matches names
// case-insensitively, which also absorbs publishers that capitalise keys.
type eventWire struct {
	ID              string          `json:"id"`
	Subject         string          `json:"subject"`
	Data            json.RawMessage `json:"data"`
	DataBase64      string          `json:"data_base64"`
	EventType       string          `json:"eventType"`
	Topic           string          `json:"topic"`
	EventTime       Time            `json:"eventTime"`
	DataVersion     string          `json:"dataVersion"`
	MetadataVersion string          `json:"metadataVersion"`
	SpecVersion     string          `json:"specversion"`
	Type            string          `json:"type"`
	Source          string          `json:"source"`
	Time            Time            `json:"time"`
	DataContentType string          `json:"datacontenttype"`
}

// UnmarshalJSON detects the envelope (specversion ⇒ CloudEvents, eventType ⇒
// Event Grid) and fills the normalised fields.
func (e *EventGridEvent) UnmarshalJSON(b []byte) error {
	var w eventWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	switch {
	case w.SpecVersion != "":
		*e = EventGridEvent{
			Schema: SchemaCloudEvents, ID: w.ID, Type: w.Type, Subject: w.Subject,
			Source: w.Source, Topic: w.Source, Time: w.Time.Time, Data: w.Data,
			SpecVersion: w.SpecVersion, DataContentType: w.DataContentType,
		}
		if len(e.Data) == 0 && w.DataBase64 != "" {
			// Binary CloudEvents data: keep it as a JSON string of base64.
			e.Data, _ = json.Marshal(w.DataBase64)
		}
	case w.EventType != "":
		*e = EventGridEvent{
			Schema: SchemaEventGrid, ID: w.ID, Type: w.EventType, Subject: w.Subject,
			Source: w.Topic, Topic: w.Topic, Time: w.EventTime.Time, Data: w.Data,
			DataVersion: w.DataVersion, MetadataVersion: w.MetadataVersion,
		}
	default:
		return errors.New("funchost: not an Event Grid event (no eventType) nor a CloudEvent (no specversion)")
	}
	if string(e.Data) == "null" {
		e.Data = nil
	}
	return nil
}

// DecodeData decodes the event's data into v, tolerating a JSON-string
// wrapped payload (CloudEvents publishers sometimes send data as a string).
func (e EventGridEvent) DecodeData(v any) error {
	if len(e.Data) == 0 {
		return errors.New("funchost: event has no data")
	}
	return DecodeJSON(e.Data, v)
}

// EventGridEvent decodes Data[name] as one event.
func (inv *Invocation) EventGridEvent(name string) (EventGridEvent, error) {
	var e EventGridEvent
	err := inv.DecodeData(name, &e)
	return e, err
}

// EventGridEvents decodes Data[name] as a list of events, accepting a single
// object (cardinality one, the default) or an array (cardinality many).
func (inv *Invocation) EventGridEvents(name string) ([]EventGridEvent, error) {
	raw, ok := inv.RawData(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoData, name)
	}
	if len(raw) > 0 && raw[0] == '[' {
		var es []EventGridEvent
		if err := json.Unmarshal(raw, &es); err != nil {
			return nil, fmt.Errorf("funchost: decode Data[%q]: %w", name, err)
		}
		return es, nil
	}
	e, err := inv.EventGridEvent(name)
	if err != nil {
		return nil, err
	}
	return []EventGridEvent{e}, nil
}

// ---------------------------------------------------------------------------
// Service Bus trigger

// ServiceBusMessage is a Service Bus trigger invocation: the body from
// Data.<name> and the message properties from Metadata.
//
// As received ([K1]; KarlGW/azfunc trigger/service_bus_test.go;
// azure-functions-host unit test ValidateDefaultInvocationRequest):
// "DeliveryCount":"1", "SequenceNumber":"1" (numbers as strings),
// "MessageId":"\"…\"", "ContentType":"\"application/json\"" (quoted strings),
// "EnqueuedTimeUtc":"2023-10-12T20:13:49" (no zone) next to
// "EnqueuedTime":"2023-10-12T20:13:49+00:00" (preferred here),
// "ApplicationProperties":{…}; the body is a double-encoded JSON string.
type ServiceBusMessage struct {
	// Body is the message body text (JSON-string layers removed).
	Body                  []byte
	MessageID             string
	DeliveryCount         int64
	SequenceNumber        int64
	EnqueuedTime          time.Time
	ExpiresAt             time.Time
	Subject               string
	CorrelationID         string
	ContentType           string
	SessionID             string
	LockToken             string
	ApplicationProperties map[string]any
	// ShadowedKeys lists top-level body keys that collide (case-insensitively)
	// with Service Bus metadata names. The host copies a JSON body's top-level
	// properties into Metadata, overwriting same-named keys (host
	// WorkerFunctionInvoker.TransformInput / Utility.ApplyBindingData, issue
	// #7119), so the corresponding fields above may come from the body.
	ShadowedKeys []string
}

// serviceBusMetadataKeys are the binding-data names set by the Service Bus
// extension (azure-sdk-for-net ServiceBusTriggerBindingStrategy.AddBindingData).
var serviceBusMetadataKeys = []string{
	"ApplicationProperties", "ContentType", "CorrelationId", "DeadLetterSource",
	"DeliveryCount", "EnqueuedTime", "EnqueuedTimeUtc", "ExpiresAt", "ExpiresAtUtc",
	"Label", "LockToken", "MessageId", "PartitionKey", "ReplyTo", "ReplyToSessionId",
	"SequenceNumber", "SessionId", "Subject", "To", "TransactionPartitionKey",
	"UserProperties", "sys",
}

// DecodeBody decodes the body into v (tolerant, see DecodeJSON).
func (m ServiceBusMessage) DecodeBody(v any) error {
	if len(m.Body) == 0 {
		return errors.New("funchost: empty message body")
	}
	return DecodeJSON(m.Body, v)
}

// ServiceBusMessage reads a Service Bus trigger invocation; bodyName is the
// trigger binding's name in function.json.
func (inv *Invocation) ServiceBusMessage(bodyName string) (ServiceBusMessage, error) {
	raw, ok := lookup(inv.Request.Data, bodyName)
	if !ok {
		return ServiceBusMessage{}, fmt.Errorf("%w: %q (have %s)", ErrNoData, bodyName, keyList(inv.Request.Data))
	}
	var m ServiceBusMessage
	levels := unwrapLevels(raw)
	deep := levels[len(levels)-1]
	if len(deep) > 0 && deep[0] == '"' {
		// Plain-text body: deliver the text, not its JSON quoting.
		var s string
		if json.Unmarshal(deep, &s) == nil {
			m.Body = []byte(s)
		}
	}
	if m.Body == nil {
		m.Body = append([]byte(nil), deep...)
	}

	m.MessageID, _ = inv.MetadataString("MessageId")
	m.DeliveryCount, _ = inv.MetadataInt("DeliveryCount")
	m.SequenceNumber, _ = inv.MetadataInt("SequenceNumber")
	m.Subject = firstString(inv, "Subject", "Label")
	m.CorrelationID, _ = inv.MetadataString("CorrelationId")
	m.ContentType, _ = inv.MetadataString("ContentType")
	m.SessionID, _ = inv.MetadataString("SessionId")
	m.LockToken, _ = inv.MetadataString("LockToken")
	m.EnqueuedTime = firstTime(inv, "EnqueuedTime", "EnqueuedTimeUtc")
	m.ExpiresAt = firstTime(inv, "ExpiresAt", "ExpiresAtUtc")
	for _, key := range []string{"ApplicationProperties", "UserProperties"} {
		var props map[string]any
		if inv.DecodeMetadata(key, &props) == nil && props != nil {
			m.ApplicationProperties = props
			break
		}
	}

	var body map[string]json.RawMessage
	if json.Unmarshal(m.Body, &body) == nil {
		for k := range body {
			for _, known := range serviceBusMetadataKeys {
				if strings.EqualFold(k, known) {
					m.ShadowedKeys = append(m.ShadowedKeys, k)
				}
			}
		}
		sort.Strings(m.ShadowedKeys)
	}
	return m, nil
}

func firstString(inv *Invocation, keys ...string) string {
	for _, k := range keys {
		if s, ok := inv.MetadataString(k); ok {
			return s
		}
	}
	return ""
}

func firstTime(inv *Invocation, keys ...string) time.Time {
	for _, k := range keys {
		if t, ok := inv.MetadataTime(k); ok && !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// ---------------------------------------------------------------------------
// HTTP trigger (without enableForwardingHttpRequest)

// HTTPRequest is Data.<req> for an httpTrigger when forwarding/proxying is off:
//
//	{"Url":"http://localhost:7071/api/report?x=1","Method":"GET",
//	 "Query":{"x":"1"},"Headers":{"Accept":["application/json"]},
//	 "Params":{},"Identities":[…],"Body":"…"}
//
// Sources: azure-functions-host Extensions/HttpRequestExtensions.cs
// (GetRequestAsJObject); KarlGW/azfunc trigger/http_test.go.
// Decoding is lenient: Query/Params may arrive as a JSON-encoded string
// (the custom-handler docs show "Query": "{}"), header values as a string or
// an array, and Body as a string or any other JSON value (kept as its text).
type HTTPRequest struct {
	URL        string
	Method     string
	Query      map[string]string
	Headers    map[string][]string
	Params     map[string]string
	Body       string
	Identities json.RawMessage
}

type httpRequestWire struct {
	URL        string          `json:"Url"`
	Method     string          `json:"Method"`
	Query      json.RawMessage `json:"Query"`
	Headers    json.RawMessage `json:"Headers"`
	Params     json.RawMessage `json:"Params"`
	Body       json.RawMessage `json:"Body"`
	Identities json.RawMessage `json:"Identities"`
}

// UnmarshalJSON decodes the host's request object leniently.
func (r *HTTPRequest) UnmarshalJSON(b []byte) error {
	var w httpRequestWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	q, err := stringMap(w.Query)
	if err != nil {
		return fmt.Errorf("funchost: HTTP request Query: %w", err)
	}
	p, err := stringMap(w.Params)
	if err != nil {
		return fmt.Errorf("funchost: HTTP request Params: %w", err)
	}
	h, err := headerMap(w.Headers)
	if err != nil {
		return fmt.Errorf("funchost: HTTP request Headers: %w", err)
	}
	*r = HTTPRequest{
		URL: w.URL, Method: w.Method, Query: q, Params: p, Headers: h,
		Identities: w.Identities,
	}
	if len(w.Body) > 0 && string(w.Body) != "null" {
		if w.Body[0] == '"' {
			if err := json.Unmarshal(w.Body, &r.Body); err != nil {
				return fmt.Errorf("funchost: HTTP request Body: %w", err)
			}
		} else {
			r.Body = string(w.Body)
		}
	}
	return nil
}

// Header returns the first value of the named header (case-insensitive).
func (r HTTPRequest) Header(name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// HTTPRequest decodes Data[name] as an HTTP trigger request.
func (inv *Invocation) HTTPRequest(name string) (HTTPRequest, error) {
	var r HTTPRequest
	err := inv.DecodeData(name, &r)
	return r, err
}

func stringMap(raw json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := DecodeJSON(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if s, ok := scalarText(v); ok {
			out[k] = s
		}
	}
	return out, nil
}

func headerMap(raw json.RawMessage) (map[string][]string, error) {
	out := map[string][]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := DecodeJSON(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		var list []string
		if json.Unmarshal(v, &list) == nil {
			out[k] = list
			continue
		}
		if s, ok := scalarText(v); ok {
			out[k] = []string{s}
		}
	}
	return out, nil
}

// HTTPResponse is the value for an `http` output binding (Outputs.<res>).
// It is always encoded as a JSON object — a bare string output would be
// subject to the host's base64 conversion ([H5]) — with all four
// keys the host's HttpOutputBindingResponse knows. Some host versions mark all
// four as required (azure-functions-host commit 1a0aed3:
// "Output body should have 'StatusCode', 'Status', 'Body', and 'Headers'"),
// others accept any subset; emitting all four satisfies both. "status"
// repeats the numeric code so either key yields the same status.
type HTTPResponse struct {
	StatusCode int
	Headers    map[string]string
	Body       string
}

// MarshalJSON emits {"statusCode":"200","status":"200","body":"…","headers":{…}}.
func (r HTTPResponse) MarshalJSON() ([]byte, error) {
	code := r.StatusCode
	if code == 0 {
		code = http.StatusOK
	}
	headers := r.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	return json.Marshal(struct {
		StatusCode string            `json:"statusCode"`
		Status     string            `json:"status"`
		Body       string            `json:"body"`
		Headers    map[string]string `json:"headers"`
	}{strconv.Itoa(code), strconv.Itoa(code), r.Body, headers})
}

// JSONResponse builds an HTTPResponse whose body is v encoded as JSON.
func JSONResponse(status int, v any) (HTTPResponse, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return HTTPResponse{}, err
	}
	return HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body:       string(b),
	}, nil
}

// TextResponse builds a text/plain HTTPResponse.
func TextResponse(status int, body string) HTTPResponse {
	return HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		Body:       body,
	}
}
