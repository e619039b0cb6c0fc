// Command crewtrace-kfake runs a Kafka-protocol broker on 127.0.0.1 for the
// end-to-end tests: franz-go's kfake, the fake cluster the franz-go client
// (and so the collector's kafka exporter and receiver) is tested against.
// It speaks the real wire protocol — produce, fetch, consumer groups with
// cooperative rebalancing, offset commits — and keeps its topics, records
// and committed offsets in -data, so stopping it and starting it again on
// the same directory and port is a broker restart.
//
//	crewtrace-kfake -port 19092 -data /tmp/kfake -topic otlp_spans -partitions 12
//
// It prints "kfake: listening on 127.0.0.1:PORT" once it accepts
// connections and stops on SIGINT or SIGTERM, saving its state.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free one)")
	data := flag.String("data", "", "directory for the broker's state (required: a restart reloads it)")
	topic := flag.String("topic", "otlp_spans", "topic created at first start")
	partitions := flag.Int("partitions", 12, "partitions of -topic")
	minSession := flag.Duration("min-session-timeout", time.Second, "smallest consumer group session timeout accepted")
	flag.Parse()
	if *data == "" || *partitions < 1 {
		fmt.Fprintln(os.Stderr, "kfake: -data is required and -partitions must be positive")
		os.Exit(2)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.DataDir(*data),
		kfake.SeedTopics(int32(*partitions), *topic),
		kfake.GroupMinSessionTimeout(*minSession),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("kfake: listening on %s\n", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
	fmt.Println("kfake: stopped")
}
