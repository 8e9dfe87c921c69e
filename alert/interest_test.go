package alert_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/rules"
)

// The interest a source asks: what it may drop, which containers are
// watched, whether stats are sampled.
func TestInterestKeepsWatchesAndSamples(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	in := alert.NewInterest(engine, true)
	for _, tc := range []struct {
		typ, action string
		keeps       bool
	}{
		{event.ContainerType, "start", true},   // the running set
		{event.ContainerType, "destroy", true}, // incidents
		{event.SelfType, "anything", true},
		{event.ContainerType, "oom", true}, // a rule's
		{event.ContainerType, "exec_start", false},
		{"image", "pull", false},
	} {
		if got := in.Keeps(tc.typ, tc.action); got != tc.keeps {
			t.Errorf("Keeps(%s, %s) = %v", tc.typ, tc.action, got)
		}
	}
	if in.Watches(nil) || !in.Watches(map[string]string{alert.EnableLabel: "true"}) {
		t.Error("opt-in: only whalewatch.enable=true is watched")
	}
	if all := alert.NewInterest(engine, false); !all.Watches(nil) || all.Watches(map[string]string{alert.EnableLabel: "false"}) {
		t.Error("watched by default: all but whalewatch.enable=false")
	}
	deaths, err := rules.Compile([]rules.Spec{{Name: "D", Enabled: true, When: `Action == "die"`}})
	if err != nil {
		t.Fatal(err)
	}
	if !in.SamplesStats() || alert.NewInterest(deaths, false).SamplesStats() {
		t.Error("stats are sampled while some rule is about them, only then")
	}
}

// Each rule runs once per event: a death the source judged (Item.Verdict)
// costs the core no expression run, and one it did not is judged once.
func TestTheRulesJudgeAnEventOnce(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorderTo{}
	core := alert.New(alert.Config{Rules: engine}, rec, noMutes{}, quiet(), metrics.New())
	in := alert.NewInterest(engine, false)
	now := time.Unix(1_700_000_000, 0)
	judged := die("a", 1, now)
	judged.Verdict = in.Judge(judged.Event)
	once := engine.Runs() // each rule that may match a death, once
	core.Handle(judged, now)
	if again := engine.Runs() - once; again != 0 {
		t.Errorf("a judged death ran %d expressions again in the core", again)
	}
	core.Handle(die("b", 1, now), now)
	if runs := engine.Runs() - once; runs != once {
		t.Errorf("an unjudged death ran %d expressions, want %d (once each)", runs, once)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 2 || rec.out[0].N.Rule != "CRASHED" || rec.out[1].N.Rule != "CRASHED" {
		t.Fatalf("want a CRASHED alert for each: %+v", rec.out)
	}
}

// An alert records what it offers to act on, with no I/O in Handle: the
// situation and the container, with only its whalewatch.* labels (the
// others may hold secrets).
func TestAnAlertRecordsItsOffer(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorderTo{}
	core := alert.New(alert.Config{Rules: engine}, rec, noMutes{}, quiet(), metrics.New())
	now := time.Unix(1_700_000_000, 0)
	core.Handle(labelled("a", map[string]string{"whalewatch.actions": "start", "DB_PASSWORD": "hunter2"}, now), now)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 1 || rec.out[0].N.Offer == nil {
		t.Fatalf("want one alert with an offer: %+v", rec.out)
	}
	o := *rec.out[0].N.Offer
	if got := fmt.Sprintf("%s %s %s %s %v", o.Situation, o.Host, o.ContainerID, o.Name, o.Labels); got != "died h a web-a map[whalewatch.actions:start]" {
		t.Errorf("offer %s", got)
	}
}

// A stats sample the sampler judged is not judged again either, and its
// verdict fires the rule's FOR as a match would.
func TestAJudgedSampleIsNotJudgedAgain(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorderTo{}
	core := alert.New(alert.Config{Rules: engine, ResolveAfter: time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	in := alert.NewInterest(engine, false)
	t0 := time.Unix(1_700_000_000, 0)
	core.Handle(start("c1", t0), t0)
	base := engine.Runs()
	var judging int64
	for i := range 6 {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		it := sample("c1", 95, at)
		before := engine.Runs()
		it.Verdict = in.Judge(it.Event)
		judging += engine.Runs() - before
		core.Handle(it, at)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if runs := engine.Runs() - base; runs != judging || judging == 0 {
		t.Errorf("%d expression runs on the samples, %d of them the sampler's", runs, judging)
	}
	if len(rec.out) != 1 || rec.out[0].N.Rule != "MEMORY_HIGH" || rec.out[0].N.Offer.Situation != event.SituationUnhealthy {
		t.Fatalf("want MEMORY_HIGH once its FOR held, offering a restart: %+v", rec.out)
	}
}
