package lifecycle

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// Fly's per-machine network counters, in bytes, read for device eth0.
const (
	metricNetRecv = "fly_instance_net_recv_bytes"
	metricNetSent = "fly_instance_net_sent_bytes"
	netDevice     = "eth0"
)

// Metrics runs instant PromQL queries over an organization's metrics.
// *flyclient.Client satisfies it. Series that do not exist are absent from
// the answer, never zero.
type Metrics interface {
	Query(ctx context.Context, org, query string, at time.Time) (model.Value, error)
}

// seriesKey names one machine's series: its app and its instance label.
type seriesKey struct{ app, instance string }

// netUsage is the answer of the two network queries: bytes per machine over
// the window, or the error that made them unavailable.
type netUsage struct {
	recv, sent map[seriesKey]float64
	err        error
}

// netQuery returns the PromQL that sums one counter's increase over window
// for every machine of every app whose name starts with prefix.
func netQuery(metric, prefix string, window time.Duration) string {
	return fmt.Sprintf(`sum by (app, instance) (increase(%s{app=~%s,device=%q}[%s]))`,
		metric, promString(regexp.QuoteMeta(prefix)+".*"), netDevice, promDuration(window))
}

// promString quotes s as a PromQL double-quoted string literal. PromQL and
// MetricsQL take Go's escapes, so a backslash of a quoted regexp becomes two.
func promString(s string) string {
	return strconv.Quote(s)
}

// promDuration renders d as a PromQL duration in whole minutes or, when it
// is not a whole number of minutes, whole seconds (at least 1s).
func promDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	secs := max(int64((d+time.Second-1)/time.Second), 1)

	return strconv.FormatInt(secs, 10) + "s"
}

// queryNetwork runs the recv and sent queries concurrently, each bounded by
// timeout, and decodes them. Any failure makes the whole answer unavailable:
// half a measurement is not a measurement.
func (d *Detector) queryNetwork(ctx context.Context, window time.Duration, at time.Time) netUsage {
	qctx, cancel := context.WithTimeout(ctx, d.queryTimeout())
	defer cancel()

	recvQuery := netQuery(metricNetRecv, d.Prefix, window)
	sentQuery := netQuery(metricNetSent, d.Prefix, window)
	var (
		wg               sync.WaitGroup
		recv, sent       map[seriesKey]float64
		recvErr, sentErr error
	)
	wg.Go(func() { recv, recvErr = d.queryVector(qctx, recvQuery, at) })
	wg.Go(func() { sent, sentErr = d.queryVector(qctx, sentQuery, at) })
	wg.Wait()

	switch {
	case recvErr != nil:
		return netUsage{err: recvErr}
	case sentErr != nil:
		return netUsage{err: sentErr}
	}

	return netUsage{recv: recv, sent: sent}
}

// queryVector runs one query and maps its vector answer by app and instance.
// Samples without both labels, or whose value is not a finite number, are
// left out, so the machine they would describe counts as having no data.
func (d *Detector) queryVector(
	ctx context.Context,
	query string,
	at time.Time,
) (map[seriesKey]float64, error) {
	v, err := d.Metrics.Query(ctx, d.Org, query, at)
	if err != nil {
		return nil, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: answer is a %T, want a vector", query, v)
	}

	out := make(map[seriesKey]float64, len(vec))
	for _, s := range vec {
		k := seriesKey{app: string(s.Metric["app"]), instance: string(s.Metric["instance"])}
		f := float64(s.Value)
		if k.app == "" || k.instance == "" || math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		out[k] = f
	}

	return out, nil
}
