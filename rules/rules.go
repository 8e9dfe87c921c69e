// Package rules compiles the user's expr rules once at start and matches
// events against them. Matching is pure: no I/O, no clock, no globals.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/whalewatch/whalewatch/event"
)

// Spec is a rule as configured (RULE_<NAME>_WHEN, _NOTIFY, _TEMPLATE, _ENABLED).
type Spec struct {
	Name     string
	When     string
	Notify   []string // destination names; empty means every destination
	Template string   // text/template over Env; empty means the default text
	Enabled  bool
	// GroupWindow: matches on the same host and compose project within
	// this window become one message, updated while more come; 0 sends
	// each match on its own.
	GroupWindow time.Duration
	// Cooldown: after a message about a container, more matches for it
	// within this time are counted, not sent.
	Cooldown time.Duration
	// For (stats rules only): the rule fires once it has matched every
	// sample of a container for this long; 0 fires on the first.
	For time.Duration
}

// Rule is a compiled, enabled rule.
type Rule struct {
	Name        string
	When        string
	Notify      []string
	GroupWindow time.Duration
	Cooldown    time.Duration
	For         time.Duration
	program     *vm.Program
	template    *template.Template
	prefilter   prefilter
}

// Match is one rule that matched one event.
type Match struct {
	Rule  *Rule
	Event event.Event
	// Text is the rule's rendered template, or "" for the default text.
	Text string
}

// Engine holds the compiled rules in a stable order. Match reuses one
// expression VM, so it serves one goroutine; Judge and MayMatch serve any.
type Engine struct {
	rules []*Rule
	vm    vm.VM
	// byAction lists, in order, the rules that may match an action; any
	// lists those whose expression names no action.
	byAction map[string][]int
	any      []int
	runs     atomic.Int64 // expression runs (Runs)
}

// CompileError names the rule, the variable it came from and the place.
type CompileError struct {
	Rule     string
	Variable string
	Line     int // 1-based; 0 when unknown
	Column   int // 1-based; 0 when unknown
	Err      error
}

func (e *CompileError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("rule %s (%s): line %d, column %d: %v", e.Rule, e.Variable, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("rule %s (%s): %v", e.Rule, e.Variable, e.Err)
}

func (e *CompileError) Unwrap() error { return e.Err }

// EvalError is a rule that failed on one event at run time.
type EvalError struct {
	Rule string
	Err  error
}

func (e *EvalError) Error() string { return "rule " + e.Rule + ": " + e.Err.Error() }

// Compile compiles every enabled spec. The error joins one CompileError
// per broken rule, so a user sees all problems at once.
func Compile(specs []Spec) (*Engine, error) {
	eng := &Engine{}
	var errs []error
	for _, s := range specs {
		if !s.Enabled {
			continue
		}
		r, err := compileRule(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		eng.rules = append(eng.rules, r)
	}
	eng.index()
	return eng, errors.Join(errs...)
}

func compileRule(s Spec) (*Rule, error) {
	whenVar := "RULE_" + s.Name + "_WHEN"
	if s.When == "" {
		return nil, &CompileError{Rule: s.Name, Variable: whenVar, Err: errors.New("no expression; set " + whenVar)}
	}
	opts := append([]expr.Option{expr.Env(Env{}), expr.AsBool()}, helpers()...)
	program, err := expr.Compile(s.When, opts...)
	if err != nil {
		ce := &CompileError{Rule: s.Name, Variable: whenVar, Err: err}
		var fe *file.Error
		if errors.As(err, &fe) {
			ce.Line, ce.Column = fe.Line, fe.Column+1
		}
		return nil, ce
	}
	r := &Rule{Name: s.Name, When: s.When, Notify: s.Notify, GroupWindow: s.GroupWindow, Cooldown: s.Cooldown, For: s.For, program: program,
		prefilter: newPrefilter(s.When)}
	if s.For > 0 && !r.Stats() {
		return nil, &CompileError{Rule: s.Name, Variable: "RULE_" + s.Name + "_FOR",
			Err: errors.New(`only a rule of stats samples (its expression requires Type == "stats") can have a FOR`)}
	}
	if s.Template != "" {
		if r.template, err = ParseTemplate(s.Name, s.Template); err != nil {
			return nil, &CompileError{Rule: s.Name, Variable: "RULE_" + s.Name + "_TEMPLATE", Err: err}
		}
	}
	return r, nil
}

// ParseTemplate parses a text/template over the rule environment (Env).
// Fields that do not exist fail here, not at the first event.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"exitMeaning": event.ExitMeaning,
	}).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, Env{}); err != nil {
		return nil, err
	}
	return t, nil
}

// Render executes a template made by ParseTemplate for ev.
func Render(t *template.Template, ev event.Event) (string, error) {
	var b bytes.Buffer
	err := t.Execute(&b, NewEnv(ev))
	return b.String(), err
}

// MayMatch says whether some rule may match an event of this type and
// action (base word); false means none can, whatever else the event says.
// Safe for concurrent use.
func (e *Engine) MayMatch(typ, action string) bool {
	for range e.candidates(typ, action) {
		return true
	}
	return false
}

// candidates yields, in rule order, the rules whose prefilter allows an
// event of this type and action: the action's rules merged with those
// that name no action. No allocation.
func (e *Engine) candidates(typ, action string) func(yield func(int, *Rule) bool) {
	return func(yield func(int, *Rule) bool) {
		named, any := e.byAction[action], e.any
		for len(named) > 0 || len(any) > 0 {
			var i int
			if len(any) == 0 || (len(named) > 0 && named[0] < any[0]) {
				i, named = named[0], named[1:]
			} else {
				i, any = any[0], any[1:]
			}
			r := e.rules[i]
			if typ == event.StatsType && !r.Stats() {
				continue
			}
			if r.prefilter.allows(typ, action) && !yield(i, r) {
				return
			}
		}
	}
}

// index builds byAction and any from the rules' prefilters.
func (e *Engine) index() {
	e.byAction = map[string][]int{}
	for i, r := range e.rules {
		if r.prefilter.actions == nil {
			e.any = append(e.any, i)
			continue
		}
		for _, a := range slices.Compact(slices.Sorted(slices.Values(r.prefilter.actions))) {
			e.byAction[a] = append(e.byAction[a], i)
		}
	}
}

// Stats says whether the rule is about stats samples: its expression
// requires Type == "stats". Only such rules see samples (a rule that names
// no Type would otherwise match every sample of every container).
func (r *Rule) Stats() bool {
	return len(r.prefilter.types) > 0 && !slices.ContainsFunc(r.prefilter.types, func(t string) bool { return t != event.StatsType })
}

// UsesStats says whether some rule is about stats samples: only then are
// containers sampled.
func (e *Engine) UsesStats() bool {
	return slices.ContainsFunc(e.rules, (*Rule).Stats)
}

// Rules lists the compiled rules in order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Match evaluates every rule against ev: Judge and Matches in one, on the
// engine's own VM (one goroutine).
func (e *Engine) Match(ev event.Event) ([]Match, []*EvalError) {
	return e.Matches(ev, e.judge(ev, e.vm.Run))
}

// Judge runs each rule that may match ev once. Unlike Match it is safe to
// call from other goroutines (each call has its own VM) and renders
// nothing: Matches turns the verdict into matches later.
func (e *Engine) Judge(ev event.Event) event.Verdict {
	var machine vm.VM // one per call: its rules share it
	return e.judge(ev, machine.Run)
}

func (e *Engine) judge(ev event.Event, run func(*vm.Program, any) (any, error)) event.Verdict {
	v := event.Verdict{Judged: true}
	var boxed any // made once, and only when a rule may match
	for i, r := range e.candidates(ev.Type, ev.Action) {
		if boxed == nil {
			boxed = NewEnv(ev)
		}
		e.runs.Add(1)
		out, err := run(r.program, boxed)
		if err != nil {
			v.Errors = append(v.Errors, &EvalError{Rule: r.Name, Err: err})
			continue
		}
		if ok, _ := out.(bool); ok {
			v.Rules = append(v.Rules, i)
		}
	}
	return v
}

// Matches is what a verdict of ev (Judge) matched, with each rule's text
// rendered; no expression runs again. Errors (the verdict's, a template
// that fails on this event) come back beside the matches; a match whose
// template fails still counts, with the default text.
func (e *Engine) Matches(ev event.Event, v event.Verdict) ([]Match, []*EvalError) {
	var errs []*EvalError
	for _, err := range v.Errors {
		if ee, ok := err.(*EvalError); ok {
			errs = append(errs, ee)
		}
	}
	var env *Env // made once, and only when a template needs it
	var matches []Match
	for _, i := range v.Rules {
		r := e.rules[i]
		m := Match{Rule: r, Event: ev}
		if r.template != nil {
			if env == nil {
				env = new(NewEnv(ev))
			}
			text, err := r.render(*env)
			if err != nil {
				errs = append(errs, &EvalError{Rule: r.Name, Err: fmt.Errorf("template: %w", err)})
			}
			m.Text = text
		}
		matches = append(matches, m)
	}
	return matches, errs
}

// Runs counts the expression runs of the engine's life: tests check with
// it that each event is judged once.
func (e *Engine) Runs() int64 { return e.runs.Load() }

func (r *Rule) render(env Env) (string, error) {
	var b bytes.Buffer
	if err := r.template.Execute(&b, env); err != nil {
		return "", err
	}
	return b.String(), nil
}
