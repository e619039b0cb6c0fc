package hotpath

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Spread is a figure over the rounds: its median and its range.
type Spread struct {
	Median, Min, Max float64
	N                int
}

func spreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// format renders the spread as "median (min–max)" with the given verb.
func (s Spread) format(verb string) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.Median, s.Min, s.Max)
}

// Summary is one pipeline's figures over the rounds. The ratios are taken
// within each round (the pipeline's run against the references' runs of the
// same round), then summarised.
type Summary struct {
	Pipeline Pipeline
	// SpansPerCPUSecond, PeakRSSMiB, OutMB and StorageMB over the rounds.
	SpansPerCPUSecond, PeakRSSMiB, OutMB, StorageMB Spread
	// VsNop is spans per CPU-second relative to the nop pipeline's.
	VsNop Spread
	// VsGroupByTrace* are relative to the groupbytrace pipeline's: spans per
	// CPU-second, peak RSS and bytes out.
	VsGroupByTraceSpeed, VsGroupByTraceRSS, VsGroupByTraceOut Spread
	// Short lists the runs that wrote less than the load held.
	Short []string
}

// Summarise groups results by pipeline (in the order of pipelines).
func Summarise(pipelines []Pipeline, results []Result) []Summary {
	byRound := map[int]map[string]Result{}
	for _, r := range results {
		if byRound[r.Round] == nil {
			byRound[r.Round] = map[string]Result{}
		}
		byRound[r.Round][r.Pipeline] = r
	}
	var out []Summary
	for _, p := range pipelines {
		var spc, rss, outMB, stor, vsNop, vsGSpeed, vsGRSS, vsGOut []float64
		var short []string
		for _, r := range results {
			if r.Pipeline != p.Name {
				continue
			}
			if r.Delivered < r.Expected {
				s := fmt.Sprintf("round %d: %.0f of %.0f", r.Round+1, r.Delivered, r.Expected)
				short = append(short, s)
			}
			spc = append(spc, r.SpansPerCPUSecond())
			rss = append(rss, mib(r.PeakRSS))
			outMB = append(outMB, mb(r.BytesOut))
			stor = append(stor, mb(r.StorageBytes))
			if n, ok := byRound[r.Round][Nop]; ok && n.SpansPerCPUSecond() > 0 {
				vsNop = append(vsNop, r.SpansPerCPUSecond()/n.SpansPerCPUSecond())
			}
			if g, ok := byRound[r.Round][GroupByTrace]; ok {
				if g.SpansPerCPUSecond() > 0 {
					vsGSpeed = append(vsGSpeed, r.SpansPerCPUSecond()/g.SpansPerCPUSecond())
				}
				if g.PeakRSS > 0 {
					vsGRSS = append(vsGRSS, float64(r.PeakRSS)/float64(g.PeakRSS))
				}
				if g.BytesOut > 0 {
					vsGOut = append(vsGOut, float64(r.BytesOut)/float64(g.BytesOut))
				}
			}
		}
		out = append(out, Summary{Pipeline: p,
			SpansPerCPUSecond: spreadOf(spc), PeakRSSMiB: spreadOf(rss), OutMB: spreadOf(outMB), StorageMB: spreadOf(stor),
			VsNop: spreadOf(vsNop), VsGroupByTraceSpeed: spreadOf(vsGSpeed),
			VsGroupByTraceRSS: spreadOf(vsGRSS), VsGroupByTraceOut: spreadOf(vsGOut), Short: short})
	}
	return out
}

// WriteReport writes the summaries as two Markdown tables: absolute figures,
// then ratios (each as median (min–max) over the rounds).
func WriteReport(w io.Writer, o Options, sums []Summary) {
	l := o.Load
	fmt.Fprintf(w, "load: %d sessions × %d spans = %d spans in %d OTLP/gRPC requests (~%d spans each, waves of %d sessions, roots last), %d in flight; grace %s; %d rounds, interleaved\n\n",
		l.Sessions, l.SpansPerSession, l.Spans(), l.Requests(), l.BatchSpans, l.Wave, max(1, o.Workers), o.Grace, o.Rounds)
	fmt.Fprintln(w, "| pipeline | spans per collector CPU-second | peak RSS (MiB) | output (MB) | file_storage (MB) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, s := range sums {
		stor := "–"
		if s.Pipeline.storage {
			stor = s.StorageMB.format("%.1f")
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", s.Pipeline.Name, s.SpansPerCPUSecond.format("%.0f"), s.PeakRSSMiB.format("%.0f"), s.OutMB.format("%.1f"), stor)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pipeline | vs nop: spans/CPU-s (goal ≥ 0.7) | vs groupbytrace: spans/CPU-s | peak RSS (goal ≤ 0.4) | output (goal ≤ 0.3) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, s := range sums {
		if s.Pipeline.kind == nopKind {
			continue
		}
		out := s.VsGroupByTraceOut.format("%.2f")
		if s.Pipeline.kind == sessionKind && !s.Pipeline.file {
			out += " (a database)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", s.Pipeline.Name, s.VsNop.format("%.2f"), s.VsGroupByTraceSpeed.format("%.2f"), s.VsGroupByTraceRSS.format("%.2f"), out)
	}
	for _, s := range sums {
		if len(s.Short) > 0 {
			what := "spans"
			if s.Pipeline.kind == sessionKind {
				what = "records"
			}
			fmt.Fprintf(w, "\n%s wrote fewer %s than the load holds (by its own counter): %s", s.Pipeline.Name, what, strings.Join(s.Short, "; "))
		}
	}
	fmt.Fprintln(w)
}
