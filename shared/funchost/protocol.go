package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HeaderInvocationID is the request header carrying the host's invocation ID.
// Source: azure-functions-host HttpWorkerConstants.cs / DefaultHttpWorkerService.AddHeaders
// ([H4] in doc.go).
const HeaderInvocationID = "X-Azure-Functions-InvocationId"

// ErrNoData reports that a binding name is absent from the request's Data.
var ErrNoData = errors.New("funchost: no such binding in Data")

// ErrNoMetadata reports that a key is absent from the request's Metadata.
var ErrNoMetadata = errors.New("funchost: no such key in Metadata")

// InvocationRequest is the body the host POSTs to /<FunctionName>:
// {"Data": {<bindingName>: value}, "Metadata": {<key>: value}}.
// Values are kept raw because their encoding depends on the trigger (objects
// for timer/Event Grid, double-encoded strings for Service Bus, quoted strings
// and numbers-as-strings in Metadata); use the Invocation accessors.
// Source: azure-functions-host Workers/Http/HttpScriptInvocationContext.cs ([H4]).
type InvocationRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// InvocationResponse is the body the handler returns with a 2xx status.
// Output values should be JSON objects or arrays: the host converts any output
// string that happens to be valid base64 into bytes ([H5]).
// Source: azure-functions-host Workers/Http/HttpScriptInvocationResult.cs.
type InvocationResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// MarshalJSON always emits an Outputs object and a Logs array (never null), so
// the host's Json.NET reader sees the documented shape even for empty results.
func (r InvocationResponse) MarshalJSON() ([]byte, error) {
	type wire InvocationResponse
	w := wire(r)
	if w.Outputs == nil {
		w.Outputs = map[string]any{}
	}
	if w.Logs == nil {
		w.Logs = []string{}
	}
	return json.Marshal(w)
}

// SetOutput sets the value for the output binding name and returns r.
func (r *InvocationResponse) SetOutput(name string, v any) *InvocationResponse {
	if r.Outputs == nil {
		r.Outputs = map[string]any{}
	}
	r.Outputs[name] = v
	return r
}

// Logf appends a log line; the host logs it at Information on the function's
// logger, but only when the invocation succeeds (2xx).
func (r *InvocationResponse) Logf(format string, args ...any) *InvocationResponse {
	r.Logs = append(r.Logs, fmt.Sprintf(format, args...))
	return r
}

// Rejected builds the response for input that was handled but refused
// (malformed message, event for an unknown object, …). Returning it with a nil
// error answers 200, so the host settles the trigger (Service Bus completes the
// message, Event Grid stops retrying) while the reason is kept in the
// invocation log. Return an error instead when the input should be retried.
func Rejected(format string, args ...any) *InvocationResponse {
	return (&InvocationResponse{}).Logf("rejected: "+format, args...)
}

// Invocation is one decoded call from the host.
type Invocation struct {
	// FunctionName is the function (folder) name taken from the request path.
	FunctionName string
	// InvocationID is the X-Azure-Functions-InvocationId header ("" when absent,
	// e.g. in tests or when called by hand).
	InvocationID string
	// Request is the decoded body.
	Request InvocationRequest

	logger *slog.Logger
}

// NewInvocation decodes a request body as the host sends it. The router uses
// it; handlers' tests can use it to build invocations from recorded payloads.
func NewInvocation(functionName, invocationID string, body []byte) (*Invocation, error) {
	var req InvocationRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("funchost: invocation body is not a JSON object with Data/Metadata: %w", err)
	}
	return &Invocation{FunctionName: functionName, InvocationID: invocationID, Request: req}, nil
}

// Logger returns a logger annotated with the function name and invocation ID.
func (inv *Invocation) Logger() *slog.Logger {
	l := inv.logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("function", inv.FunctionName, "invocation_id", inv.InvocationID)
}

// RawData returns Data[name] with any JSON-string wrapping removed (see DecodeJSON).
func (inv *Invocation) RawData(name string) (json.RawMessage, bool) {
	raw, ok := lookup(inv.Request.Data, name)
	if !ok {
		return nil, false
	}
	levels := unwrapLevels(raw)
	return json.RawMessage(levels[len(levels)-1]), true
}

// DecodeData decodes Data[name] into v, tolerating the host's double (or
// deeper) JSON-string encoding of trigger values. See DecodeJSON.
func (inv *Invocation) DecodeData(name string, v any) error {
	raw, ok := lookup(inv.Request.Data, name)
	if !ok {
		return fmt.Errorf("%w: %q (have %s)", ErrNoData, name, keyList(inv.Request.Data))
	}
	if err := DecodeJSON(raw, v); err != nil {
		return fmt.Errorf("funchost: decode Data[%q]: %w", name, err)
	}
	return nil
}

// DecodeMetadata decodes Metadata[key] into v with the same tolerance as DecodeData.
func (inv *Invocation) DecodeMetadata(key string, v any) error {
	raw, ok := lookup(inv.Request.Metadata, key)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoMetadata, key)
	}
	if err := DecodeJSON(raw, v); err != nil {
		return fmt.Errorf("funchost: decode Metadata[%q]: %w", key, err)
	}
	return nil
}

// MetadataString returns Metadata[key] as text with JSON quoting removed
// ("\"abc\"" → abc). Numbers and booleans are returned as their JSON text,
// objects and arrays as compact JSON. It reports false when the key is absent
// or null.
func (inv *Invocation) MetadataString(key string) (string, bool) {
	raw, ok := lookup(inv.Request.Metadata, key)
	if !ok {
		return "", false
	}
	return scalarText(raw)
}

// MetadataInt returns Metadata[key] as an integer, accepting a JSON number or
// a (possibly quoted) string such as "1" — the host sends numbers as strings.
// It reports false when the key is absent or not an integer.
func (inv *Invocation) MetadataInt(key string) (int64, bool) {
	raw, ok := lookup(inv.Request.Metadata, key)
	if !ok {
		return 0, false
	}
	return intValue(raw)
}

// MetadataTime returns Metadata[key] parsed leniently (see ParseTime). It
// reports false when the key is absent or unparsable; a present .NET minimum
// ("0001-01-01T00:00:00") yields the zero time and true.
func (inv *Invocation) MetadataTime(key string) (time.Time, bool) {
	raw, ok := lookup(inv.Request.Metadata, key)
	if !ok {
		return time.Time{}, false
	}
	var t Time
	if err := t.UnmarshalJSON(raw); err != nil {
		return time.Time{}, false
	}
	return t.Time, true
}

// SysMetadata is Metadata.sys, present for every trigger.
// Source: azure-webjobs-sdk Bindings/SysBindingData.cs ([H4]).
type SysMetadata struct {
	MethodName string `json:"MethodName"`
	UtcNow     Time   `json:"UtcNow"`
	RandGuid   string `json:"RandGuid"`
}

// Sys returns Metadata.sys (zero value when absent or malformed).
func (inv *Invocation) Sys() SysMetadata {
	var s SysMetadata
	_ = inv.DecodeMetadata("sys", &s)
	return s
}

// RetryContext is Metadata.RetryContext, sent when a host retry policy
// (timer, Event Hubs, …) is retrying an invocation.
// Source: azure-functions-host ScriptInvocationContextExtensions.SetRetryContext ([D2]).
// Fields are read leniently (numbers may arrive as strings).
type RetryContext struct {
	RetryCount    int64
	MaxRetryCount int64
	Exception     json.RawMessage // the previous attempt's exception, as sent
}

// RetryContext returns Metadata.RetryContext and whether it was present.
func (inv *Invocation) RetryContext() (RetryContext, bool) {
	var m map[string]json.RawMessage
	if err := inv.DecodeMetadata("RetryContext", &m); err != nil || m == nil {
		return RetryContext{}, false
	}
	var rc RetryContext
	if raw, ok := lookup(m, "RetryCount"); ok {
		rc.RetryCount, _ = intValue(raw)
	}
	if raw, ok := lookup(m, "MaxRetryCount"); ok {
		rc.MaxRetryCount, _ = intValue(raw)
	}
	if raw, ok := lookup(m, "Exception"); ok {
		rc.Exception = raw
	}
	return rc, true
}

// maxUnwrap bounds how many JSON-string layers are peeled off. The host adds
// one layer (string trigger values are re-serialized) on top of the JSON
// string itself; three is the most seen in practice, four leaves margin.
const maxUnwrap = 4

// unwrapLevels returns raw (trimmed) followed by each successive unwrapping:
// while the current level is a JSON string whose content is itself valid JSON
// (other than the literal null), the content becomes the next level.
// Levels keep the inner text verbatim apart from surrounding whitespace.
func unwrapLevels(raw []byte) [][]byte {
	cur := bytes.TrimSpace(raw)
	levels := [][]byte{cur}
	for range maxUnwrap {
		if len(cur) == 0 || cur[0] != '"' {
			break
		}
		var s string
		if json.Unmarshal(cur, &s) != nil {
			break
		}
		inner := bytes.TrimSpace([]byte(s))
		// "null" is not unwrapped: a body whose text is null should decode to
		// the string "null", not silently to a zero value.
		if len(inner) == 0 || string(inner) == "null" || !json.Valid(inner) {
			break
		}
		cur = inner
		levels = append(levels, cur)
	}
	return levels
}

// DecodeJSON decodes raw into v, tolerating JSON-string wrapping. It first
// tries the most-unwrapped form and falls back to shallower forms, so the
// target type decides: for Data "\"{\\\"a\\\":1}\"" a struct or map receives
// the object, a *string receives the text {"a":1}; for "\"123\"" an *int64
// receives 123 and a *string receives "123". When every level fails, the
// error from the most-unwrapped level is returned (it names the real shape).
//
// A failing level may leave a struct target partially filled before the next
// level is tried; callers should not use v after an error.
func DecodeJSON(raw []byte, v any) error {
	levels := unwrapLevels(raw)
	if len(levels[0]) == 0 {
		return errors.New("empty JSON value")
	}
	var firstErr error
	for i := len(levels) - 1; i >= 0; i-- {
		err := json.Unmarshal(levels[i], v)
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// scalarText renders the most-unwrapped level as plain text.
func scalarText(raw []byte) (string, bool) {
	levels := unwrapLevels(raw)
	deep := levels[len(levels)-1]
	if len(deep) == 0 || string(deep) == "null" {
		return "", false
	}
	if deep[0] == '"' {
		var s string
		if json.Unmarshal(deep, &s) == nil {
			return s, true
		}
	}
	if json.Valid(deep) {
		var buf bytes.Buffer
		if json.Compact(&buf, deep) == nil {
			return buf.String(), true
		}
	}
	return string(deep), true
}

// intValue accepts 7, "7", "\"7\"", 7.0; rejects fractions and overflow.
func intValue(raw []byte) (int64, bool) {
	s, ok := scalarText(raw)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt64 || f < math.MinInt64 || math.IsInf(f, 0) {
		return 0, false
	}
	return int64(f), true
}

// lookup finds key exactly, then case-insensitively (the host's binding-data
// dictionaries are case-insensitive, and Json.NET preserves whichever casing
// the extension used). Among several case-variants the lexically smallest wins,
// so the result is deterministic.
func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	best := ""
	found := false
	for k := range m {
		if strings.EqualFold(k, key) && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return nil, false
	}
	return m[best], true
}

func keyList(m map[string]json.RawMessage) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "[" + strings.Join(keys, ", ") + "]"
}
