// Package pricing prices LLM calls from a table of per-model prices.
//
// A Table maps a provider and a model name to prices in US dollars per
// million tokens: input, output, cache read, cache write (5-minute and
// 1-hour where a provider bills them apart) and reasoning (where a provider
// bills it apart from output), with long-context tiers (prices that apply to
// a whole call whose input exceeds a threshold) and effective-from dates (a
// price change applies to calls made on or after its date).
//
// Default returns the table embedded in this package (default.json): data,
// not code, each entry with the page its prices were read from and the date
// they were checked. Load and Merge add a user's entries on top of it.
//
// Token accounting follows the OpenTelemetry GenAI conventions: input
// tokens include cache reads and writes, output tokens include reasoning.
// The cost of a call is
//
//	(input − cache reads − cache writes) × input price
//	+ cache reads × cache-read price
//	+ 5-minute cache writes × cache-write price + 1-hour cache writes × 1-hour price
//	+ (output − reasoning) × output price + reasoning × reasoning price
//
// where the reasoning price is the output price unless the entry states one.
// A call whose model no entry matches, or whose tokens need a price the
// entry does not state (cache reads on a model without a cache-read price),
// is not priced: Price returns an error and the caller reports the call as
// unpriced. Nothing is ever priced at $0 for want of a price.
package pricing
