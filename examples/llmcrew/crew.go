package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/openai/openai-go/v3"

	"github.com/crewtrace/crewtrace/otelsession"
)

// Config is what a crew run does.
type Config struct {
	Tasks       int    // number of tasks, one session each
	Concurrency int    // tasks running at once
	Model       string // the model every call asks for
	Content     int    // WithContentCapture limit; 0 = off
}

// Result is what the crew saw in one session, from the responses it got:
// what the session's spans must add up to.
type Result struct {
	SessionID    string
	Name         string
	EndState     otelsession.EndState
	EndReason    string
	LLMCalls     int
	ToolCalls    int
	InputTokens  int
	OutputTokens int
}

var topics = []string{"OpenTelemetry", "the Go scheduler", "vector clocks", "tail sampling", "SSE streaming"}

// Run runs cfg.Tasks tasks, cfg.Concurrency at a time, each in its own
// session with two agents: a researcher (one streamed call) and a writer
// (a call offering the word_count tool, the tool, and a call with its
// result). client must carry the otelopenai middleware for the calls to be
// recorded; the crew itself only opens sessions, agents and tool calls.
// line receives one summary line per session as it ends.
func Run(ctx context.Context, cfg Config, client openai.Client, opts []otelsession.Option, line func(string)) []Result {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	results := make([]Result, cfg.Tasks)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range cfg.Tasks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = runTask(ctx, cfg, client, i, opts)
			if line != nil {
				line(summary(results[i]))
			}
		})
	}
	wg.Wait()
	return results
}

func summary(r Result) string {
	s := fmt.Sprintf("session %s %-10s %-7s llm=%d tools=%d tokens=%d/%d",
		r.SessionID, r.Name, r.EndState, r.LLMCalls, r.ToolCalls, r.InputTokens, r.OutputTokens)
	if r.EndReason != "" {
		s += fmt.Sprintf(" reason=%q", r.EndReason)
	}
	return s
}

func runTask(ctx context.Context, cfg Config, client openai.Client, i int, opts []otelsession.Option) Result {
	topic := topics[i%len(topics)]
	name := fmt.Sprintf("brief-%03d", i)
	sopts := append(append([]otelsession.Option{}, opts...), otelsession.WithName(name), otelsession.WithTags("llmcrew"))
	if cfg.Content > 0 {
		sopts = append(sopts, otelsession.WithContentCapture(cfg.Content))
	}
	ctx, sess := otelsession.Start(ctx, sopts...)
	r := Result{SessionID: sess.ID(), Name: name}
	err := brief(ctx, sess, client, cfg.Model, topic, &r)
	r.EndState = otelsession.Success
	if err != nil {
		r.EndState, r.EndReason = otelsession.Fail, err.Error()
	}
	_ = sess.End(r.EndState, r.EndReason)
	return r
}

// brief is one task: research a topic, then write and check a draft.
func brief(ctx context.Context, sess *otelsession.Session, client openai.Client, model, topic string, r *Result) (err error) {
	actx, researcher, err := sess.StartAgent(ctx, "researcher")
	if err != nil {
		return err
	}
	notes, err := research(actx, client, model, topic, r)
	researcher.End(err)
	if err != nil {
		return fmt.Errorf("researcher: %w", err)
	}

	actx, writer, err := sess.StartAgent(ctx, "writer")
	if err != nil {
		return err
	}
	defer writer.EndOnExit(&err) // a panic ends the agent too
	if err := write(actx, client, model, notes, r); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	return otelsession.RecordAction(actx, "publish", map[string]any{"topic": topic})
}

// research streams one answer, asking for the usage chunk so that the
// stream's span has token counts.
func research(ctx context.Context, client openai.Client, model, topic string, r *Result) (string, error) {
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         model,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Give three short facts about " + topic + ".")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	r.LLMCalls++
	if err := stream.Err(); err != nil {
		return "", err
	}
	r.InputTokens += int(acc.Usage.PromptTokens)
	r.OutputTokens += int(acc.Usage.CompletionTokens)
	if len(acc.Choices) == 0 {
		return "", fmt.Errorf("no choices in the answer")
	}
	return acc.Choices[0].Message.Content, nil
}

var wordCountTool = openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
	Name:        "word_count",
	Description: openai.String("Counts the words of a text."),
	Parameters: openai.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"text": map[string]any{"type": "string"}},
		"required":   []string{"text"},
	},
})

// write drafts from the notes, runs the tool calls the model asks for as
// tool spans, and sends their results back for the final answer.
func write(ctx context.Context, client openai.Client, model, notes string, r *Result) error {
	params := openai.ChatCompletionNewParams{
		Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You write one-paragraph briefs. Check the length with word_count."),
			openai.UserMessage(notes),
		},
		Tools: []openai.ChatCompletionToolUnionParam{wordCountTool},
	}
	for range 3 { // at most three rounds of tool calls
		resp, err := client.Chat.Completions.New(ctx, params)
		r.LLMCalls++
		if err != nil {
			return err
		}
		r.InputTokens += int(resp.Usage.PromptTokens)
		r.OutputTokens += int(resp.Usage.CompletionTokens)
		if len(resp.Choices) == 0 {
			return fmt.Errorf("no choices in the answer")
		}
		msg := resp.Choices[0].Message
		if len(msg.ToolCalls) == 0 {
			return nil
		}
		params.Messages = append(params.Messages, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			result := runTool(ctx, tc.ID, tc.Function.Name, tc.Function.Arguments)
			r.ToolCalls++
			params.Messages = append(params.Messages, openai.ToolMessage(result, tc.ID))
		}
	}
	return nil
}

// runTool runs one tool call as a tool span.
func runTool(ctx context.Context, id, name, arguments string) string {
	_, call, err := otelsession.StartToolCall(ctx, name, otelsession.WithToolCallID(id), otelsession.WithToolArguments(arguments))
	if err != nil {
		return "error: " + err.Error()
	}
	if name != "word_count" {
		err := fmt.Errorf("unknown tool %q", name)
		call.End("", err)
		return "error: " + err.Error()
	}
	var args struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(arguments), &args); err != nil {
		call.End("", err)
		return "error: " + err.Error()
	}
	result := strconv.Itoa(len(strings.Fields(args.Text)))
	call.End(result, nil)
	return result
}
