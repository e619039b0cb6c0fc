// Package dialect reads one span in any of the instrumentation conventions
// the session exporter understands — crewtrace's own, the OTel GenAI
// semantic conventions, OpenInference, OpenLLMetry (Traceloop), Langfuse and
// the Vercel AI SDK — and says what it is in the session model: its kind,
// session ID, names, model, token usage, tool, error and end state.
//
// It is pure and table-driven: tables.go lists, per convention, which
// attribute key fills which field of the model, and which values of the
// convention's kind key make which kind. Read makes one pass over a span's
// attributes. The keys themselves live in the semconv package.
//
// # Precedence
//
// A span's kind comes from the first of these keys it carries, whatever its
// value: crewtrace.span.kind, openinference.span.kind, traceloop.span.kind,
// langfuse.observation.type, ai.operationId, gen_ai.operation.name,
// llm.request.type. That key's convention is the span's Source.
//
// Every other field is read from the first key, in table order, that the
// span carries: crewtrace's table, then GenAI (current keys before the
// deprecated ones), OpenInference, OpenLLMetry, Langfuse, Vercel AI SDK. One
// key fills a field, so a span that reports its usage under two conventions'
// keys (the AI SDK writes ai.usage.* and gen_ai.usage.*) counts it once.
//
// Token counts follow the GenAI convention: Input includes cache reads and
// writes, Output includes reasoning. Conventions that count them apart
// (Langfuse's usage details) are summed into that form.
package dialect

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/semconv"
)

// Kind is what a span is in the session model.
type Kind uint8

// Span kinds.
const (
	// KindOther is any span the session model does not count.
	KindOther Kind = iota
	// KindRoot is a span that declares a session or workflow: a crewtrace
	// session span, invoke_workflow, an OpenLLMetry workflow or session.
	KindRoot
	// KindAgent is an agent invocation.
	KindAgent
	// KindLLM is a call to a model (chat, completion, embeddings ...).
	KindLLM
	// KindTool is a tool execution.
	KindTool
)

// Source is the convention a span (or a trace) was read in.
type Source uint8

// Conventions, in the order their tables are read.
const (
	SourceNone Source = iota
	SourceCrewtrace
	SourceGenAI
	SourceOpenInference
	SourceOpenLLMetry
	SourceLangfuse
	SourceVercelAI
	numSources
)

var sourceNames = [numSources]string{"", "crewtrace", "otel_genai", "openinference", "openllmetry", "langfuse", "vercel_ai"}

// String is the source's name as records write it ("" for SourceNone).
func (s Source) String() string {
	if s >= numSources {
		return ""
	}
	return sourceNames[s]
}

// Sources is a set of conventions.
type Sources uint8

// Add adds s to the set.
func (ss *Sources) Add(s Source) {
	if s != SourceNone && s < numSources {
		*ss |= 1 << s
	}
}

// TraceSource is the convention a trace is said to be read in, from the set
// of conventions that classified its spans: crewtrace when any span was
// crewtrace's, else the first of OpenInference, OpenLLMetry, Langfuse, Vercel
// AI SDK, GenAI. GenAI comes last because the others write GenAI keys on some
// of their spans too (OpenLLMetry's LLM spans are GenAI spans).
func (ss Sources) TraceSource() Source {
	for _, s := range [...]Source{SourceCrewtrace, SourceOpenInference, SourceOpenLLMetry, SourceLangfuse, SourceVercelAI, SourceGenAI} {
		if ss&(1<<s) != 0 {
			return s
		}
	}
	return SourceNone
}

// Tokens is a span's token usage, in the GenAI convention's terms.
type Tokens struct {
	// Input counts every input token, cache reads and writes included.
	Input int64
	// Output counts every output token, reasoning included.
	Output int64
	// CacheRead counts the input tokens served from a provider cache.
	CacheRead int64
	// CacheWrite counts the input tokens written to a provider cache.
	CacheWrite int64
	// Reasoning counts the output tokens spent on reasoning.
	Reasoning int64
	// CacheWrite1h counts the cache writes with a one-hour lifetime (part of
	// CacheWrite; crewtrace's key only).
	CacheWrite1h int64
}

// Span is what Read found in one span.
type Span struct {
	// Kind is the span's kind; Source the convention whose key said so
	// (SourceNone when no convention's kind key is on the span).
	Kind   Kind
	Source Source
	// SessionID is the session ID the span carries, in any convention.
	SessionID string
	// Name is the session or workflow name the span states (crewtrace's
	// session name, gen_ai.workflow.name, an OpenLLMetry workflow's name,
	// langfuse.trace.name, the AI SDK's functionId); empty when none.
	Name string
	// AgentName and AgentID name the agent of an agent span. For agent
	// spans without a name key the span's name stands in.
	AgentName, AgentID string
	// Provider is the model provider (openai, anthropic ...).
	Provider string
	// RequestModel and ResponseModel are the model asked for and the model
	// that answered.
	RequestModel, ResponseModel string
	// Tokens is the span's token usage.
	Tokens Tokens
	// CostUSD is the call's cost in US dollars as the span reports it
	// (crewtrace.usage.cost, gen_ai.usage.cost, else Langfuse's cost
	// details: their "total", else the sum of their parts); HasCost says
	// whether it does. A negative, NaN or infinite cost is no cost.
	CostUSD float64
	HasCost bool
	// ToolName names the tool of a tool span (the span's name when no key does).
	ToolName string
	// Failed is true for status Error or Langfuse level ERROR; Message is
	// then why: the status message, else the last exception event's
	// message, else Langfuse's status message, else error.type.
	Failed  bool
	Message string
	// EndState, EndReason and Tags are crewtrace's session end state,
	// reason and tags (on a crewtrace session span).
	EndState, EndReason string
	Tags                []string
}

// Model is the model that answered, else the model asked for.
func (s *Span) Model() string {
	if s.ResponseModel != "" {
		return s.ResponseModel
	}
	return s.RequestModel
}

// Read reads one span. It never fails: a value of the wrong type reads as
// empty (or zero).
func Read(s ptrace.Span) Span {
	var f found
	for k, v := range s.Attributes().All() {
		f.put(k, v)
	}
	out := Span{Kind: KindOther}
	f.kind(&out)
	f.fill(&out, s.Name())

	st := s.Status()
	out.Failed = st.Code() == ptrace.StatusCodeError || strings.EqualFold(f.str(fLangfuseLevel), semconv.LangfuseLevelError)
	if out.Failed {
		out.Message = st.Message()
		if out.Message == "" {
			out.Message = exceptionMessage(s.Events())
		}
		if out.Message == "" {
			out.Message = f.str(fLangfuseStatusMessage)
		}
		if out.Message == "" {
			out.Message = f.str(fErrorType)
		}
	}
	return out
}

// found holds, per field, the value of the highest-ranked key seen.
type found struct {
	v    [numFields]pcommon.Value
	rank [numFields]uint16 // rank+1 of the key that filled v; 0 = empty
	// sessionProp is a session ID from an OpenLLMetry association property
	// or AI SDK metadata entry (prefixed keys, outside the index).
	sessionProp string
}

func (f *found) put(k string, v pcommon.Value) {
	sl, ok := lookup(k)
	if !ok {
		if f.sessionProp == "" && len(k) > len(semconv.VercelMetadataPrefix) && (k[0] == 'a' || k[0] == 't') && isSessionProperty(k) {
			f.sessionProp = v.AsString()
		}
		return
	}
	if r := f.rank[sl.field]; r == 0 || sl.rank+1 < r {
		f.v[sl.field], f.rank[sl.field] = v, sl.rank+1
	}
}

// isSessionProperty reports whether k is an association property or AI
// SDK metadata entry named as a session ID.
func isSessionProperty(k string) bool {
	name, ok := strings.CutPrefix(k, semconv.TraceloopAssociationPrefix)
	if !ok {
		if name, ok = strings.CutPrefix(k, semconv.VercelMetadataPrefix); !ok {
			return false
		}
	}
	for _, n := range semconv.SessionIDPropertyNames {
		if name == n {
			return true
		}
	}
	return false
}

func (f *found) has(fl field) bool { return f.rank[fl] != 0 }

// str reads a field as a string ("" when absent or not a scalar).
func (f *found) str(fl field) string {
	if f.rank[fl] == 0 {
		return ""
	}
	v := f.v[fl]
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return v.AsString()
	default:
		return ""
	}
}

// kind sets the span's kind and source from the first kind key it carries.
func (f *found) kind(out *Span) {
	for _, kk := range kindKeys {
		if !f.has(kk.field) {
			continue
		}
		out.Source = kk.source
		out.Kind = kk.values[f.str(kk.field)]
		return
	}
}

// fill reads every other field, given the span's kind.
func (f *found) fill(out *Span, spanName string) {
	out.SessionID = f.str(fSessionID)
	if out.SessionID == "" {
		out.SessionID = f.sessionProp
	}
	out.Name = f.str(fSessionName)
	if out.Name == "" && out.Source == SourceOpenLLMetry && out.Kind == KindRoot {
		// An OpenLLMetry workflow (or session) span names its workflow;
		// other spans inherit traceloop.workflow.name from whatever
		// workflow or agent encloses them, so only a root's counts.
		out.Name = f.str(fTraceloopWorkflowName)
		if out.Name == "" {
			out.Name = f.str(fTraceloopEntityName)
		}
	}
	if out.Name == "" {
		out.Name = f.str(fTraceName)
	}
	out.Provider = f.str(fProvider)
	if out.Source == SourceVercelAI {
		// The AI SDK names its provider "<provider>.<api>" (openai.chat),
		// in ai.model.provider and in the gen_ai.system it copies it to.
		out.Provider, _, _ = strings.Cut(out.Provider, ".")
	}
	out.RequestModel = f.str(fRequestModel)
	out.ResponseModel = f.str(fResponseModel)
	out.Tokens = Tokens{
		Input:      f.int(fInput),
		Output:     f.int(fOutput),
		CacheRead:  f.int(fCacheRead),
		CacheWrite: f.int(fCacheWrite),
		Reasoning:  f.int(fReasoning),
	}
	if f.has(fLangfuseUsage) && !f.has(fInput) && !f.has(fOutput) {
		out.Tokens = langfuseUsage(f.str(fLangfuseUsage))
	}
	out.Tokens.CacheWrite1h = min(f.int(fCacheWrite1h), out.Tokens.CacheWrite)
	switch {
	case f.has(fCost):
		out.CostUSD, out.HasCost = usd(f.v[fCost])
	case f.has(fLangfuseCost):
		out.CostUSD, out.HasCost = langfuseCost(f.str(fLangfuseCost))
	}
	switch out.Kind {
	case KindRoot:
		if out.Source == SourceCrewtrace {
			out.EndState = f.str(fEndState)
			out.EndReason = f.str(fEndReason)
			if f.has(fTags) {
				out.Tags = stringSlice(f.v[fTags])
			}
		}
	case KindAgent:
		out.AgentName = f.str(fAgentName)
		out.AgentID = f.str(fAgentID)
		if out.AgentName == "" && out.Source == SourceOpenLLMetry {
			out.AgentName = f.str(fTraceloopEntityName)
		}
		if out.AgentName == "" {
			out.AgentName = trimOperation(spanName, semconv.AgentSpanPrefix)
		}
	case KindTool:
		out.ToolName = f.str(fToolName)
		if out.ToolName == "" && out.Source == SourceOpenLLMetry {
			out.ToolName = f.str(fTraceloopEntityName)
		}
		if out.ToolName == "" {
			out.ToolName = trimOperation(spanName, semconv.ToolSpanPrefix)
		}
	}
}

// trimOperation strips a GenAI "<operation> " prefix from a span name.
func trimOperation(name, operation string) string {
	if rest, ok := strings.CutPrefix(name, operation+" "); ok && rest != "" {
		return rest
	}
	return name
}

// int reads a field as a token count (tokenCount).
func (f *found) int(fl field) int64 {
	if f.rank[fl] == 0 {
		return 0
	}
	return tokenCount(f.v[fl])
}

// maxUsageJSON bounds the Langfuse usage document parsed; a larger one is
// not a usage document any SDK writes and reads as no usage.
const maxUsageJSON = 4096

// langfuseUsage converts Langfuse usage details into GenAI terms. Langfuse's
// keys are free-form; its SDKs write "input" and "output" without their
// details and each detail apart ("input_cached_tokens",
// "output_reasoning_tokens", "cache_read_input_tokens" ...). Every key that
// names input (or prompt) tokens adds to Input, every key that names output
// (or completion) tokens to Output; "total" is not read.
func langfuseUsage(doc string) Tokens {
	var t Tokens
	if len(doc) > maxUsageJSON {
		return t
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(doc), &m) != nil {
		return t
	}
	for k, raw := range m {
		var n float64
		if json.Unmarshal(raw, &n) != nil {
			continue
		}
		v := clampFloat(n)
		k = strings.ToLower(k)
		switch {
		case strings.Contains(k, "input") || strings.Contains(k, "prompt"):
			t.Input = addCount(t.Input, v)
			switch {
			case strings.Contains(k, "cache") && (strings.Contains(k, "creation") || strings.Contains(k, "write")):
				t.CacheWrite = addCount(t.CacheWrite, v)
			case strings.Contains(k, "cache"):
				t.CacheRead = addCount(t.CacheRead, v)
			}
		case strings.Contains(k, "output") || strings.Contains(k, "completion"):
			t.Output = addCount(t.Output, v)
			if strings.Contains(k, "reasoning") {
				t.Reasoning = addCount(t.Reasoning, v)
			}
		}
	}
	return t
}

// usd reads a cost written as a number or a decimal string.
func usd(v pcommon.Value) (float64, bool) {
	var d float64
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		d = v.Double()
	case pcommon.ValueTypeInt:
		d = float64(v.Int())
	case pcommon.ValueTypeStr:
		var err error
		if d, err = strconv.ParseFloat(v.Str(), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if !validCost(d) {
		return 0, false
	}
	return d, true
}

// maxCostUSD bounds a reported cost: no single call costs a million dollars.
const maxCostUSD = 1e6

func validCost(d float64) bool { return d >= 0 && d <= maxCostUSD }

// langfuseCost reads Langfuse's cost details: {"total": x}, else the sum
// of its numeric entries ({"input": x, "output": y}).
func langfuseCost(doc string) (float64, bool) {
	if len(doc) > maxUsageJSON {
		return 0, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(doc), &m) != nil || len(m) == 0 {
		return 0, false
	}
	if raw, ok := m["total"]; ok {
		var d float64
		if json.Unmarshal(raw, &d) != nil || !validCost(d) {
			return 0, false
		}
		return d, true
	}
	var sum float64
	for _, raw := range m {
		var d float64
		if json.Unmarshal(raw, &d) != nil || !validCost(d) {
			return 0, false
		}
		sum += d
	}
	if !validCost(sum) {
		return 0, false
	}
	return sum, true
}

// exceptionMessage is exception.message of the last "exception" event.
func exceptionMessage(evs ptrace.SpanEventSlice) string {
	for i := evs.Len() - 1; i >= 0; i-- {
		e := evs.At(i)
		if e.Name() != semconv.ExceptionEventName {
			continue
		}
		if v, ok := e.Attributes().Get(string(semconv.ExceptionMessageKey)); ok && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

// tokenCount reads a token count written as an int, a double or a decimal
// string. Any OTLP client writes these: negative and NaN counts read as 0,
// counts beyond int64 as math.MaxInt64, so that sums of counts (which
// saturate) never go negative.
func tokenCount(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return max(v.Int(), 0)
	case pcommon.ValueTypeDouble:
		return clampFloat(v.Double())
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) && n > 0 {
				return math.MaxInt64
			}
			return 0
		}
		return max(n, 0)
	default:
		return 0
	}
}

// clampFloat converts a float count to [0, math.MaxInt64].
func clampFloat(d float64) int64 {
	switch {
	case !(d > 0): // negative, zero or NaN
		return 0
	case d >= math.MaxInt64: // 2^63 as a double: beyond every int64
		return math.MaxInt64
	}
	return int64(d)
}

// addCount sums two non-negative counts, saturating at math.MaxInt64.
func addCount(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// stringSlice reads a string-slice attribute (a single string is one element).
func stringSlice(v pcommon.Value) []string {
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		out := make([]string, 0, sl.Len())
		for i := 0; i < sl.Len(); i++ {
			out = append(out, sl.At(i).AsString())
		}
		return out
	case pcommon.ValueTypeStr:
		if v.Str() == "" {
			return nil
		}
		return []string{v.Str()}
	default:
		return nil
	}
}
