package statuspage

import (
	"maps"
	"slices"
	"time"
)

// Chart is alerts per hour over the last 24 hours, a row per host, laid
// out for an inline SVG (viewBox 0 0 ChartWidth ChartHeight per row).
type Chart struct {
	From, To time.Time // the first hour's start, the last hour's end
	Max      int       // the most alerts in one hour of any host
	Rows     []ChartRow
}

// ChartRow is one host's bars, oldest hour first.
type ChartRow struct {
	Host  string
	Total int
	Bars  []Bar
}

// Bar is one hour.
type Bar struct {
	Hour       time.Time
	Count      int
	X, Y, W, H float64
}

// The chart's SVG coordinates.
const (
	ChartWidth  = 240
	ChartHeight = 40
	barStep     = ChartWidth / 24
)

// chart counts the incidents' alerts per host and hour; every host the
// page knows has a row, with alerts or not.
func chart(incs []Incident, hosts []Host, now time.Time) Chart {
	last := now.Truncate(time.Hour)
	first := last.Add(-23 * time.Hour)
	counts := map[string]*[24]int{}
	row := func(host string) *[24]int {
		if counts[host] == nil {
			counts[host] = &[24]int{}
		}
		return counts[host]
	}
	for _, h := range hosts {
		row(h.Host)
	}
	for _, inc := range incs {
		for start, n := range inc.Hours {
			i := int(time.Unix(start, 0).Sub(first) / time.Hour)
			if i >= 0 && i < 24 {
				row(inc.Host)[i] += n
			}
		}
	}
	c := Chart{From: first, To: last.Add(time.Hour)}
	for _, n := range counts {
		c.Max = max(c.Max, slices.Max(n[:]))
	}
	for _, host := range slices.Sorted(maps.Keys(counts)) {
		r := ChartRow{Host: host}
		for i, n := range counts[host] {
			r.Total += n
			b := Bar{Hour: first.Add(time.Duration(i) * time.Hour), Count: n, X: float64(i*barStep) + 1, W: barStep - 2}
			if c.Max > 0 {
				b.H = float64(n) / float64(c.Max) * (ChartHeight - 2)
			}
			if n > 0 && b.H < 2 {
				b.H = 2 // one alert stays visible beside a busy hour
			}
			b.Y = ChartHeight - b.H
			r.Bars = append(r.Bars, b)
		}
		c.Rows = append(c.Rows, r)
	}
	return c
}
